import OrreryCore
import Testing

@Suite("Misfire and overlap policies (pure)", .timeLimit(.minutes(5)))
struct MisfireTests {
    let t0 = Timestamp(rfc3339: "2026-03-01T12:00:00Z")!

    func task(_ policy: MisfirePolicy.Policy, grace: Int64 = 30, every: Int64 = 60, overlap: OverlapPolicy = .skip) -> ScheduledTask {
        ScheduledTask(
            id: "T1", name: "t", module: "noop", schedule: Schedule(.interval(everySec: every), startAt: t0),
            overlap: overlap, misfire: MisfirePolicy(policy: policy, graceSec: grace), createdAt: t0)
    }

    func successors(_ task: ScheduledTask, slot: Timestamp, now: Timestamp) -> (next: TaskRun?, missed: [TaskRun]) {
        var n = 0
        return task.successors(ofSlot: slot, now: now) { n += 1; return "R\(n)" }
    }

    @Test("on time: the next slot follows, nothing is missed")
    func onTime() {
        let (next, missed) = successors(task(.runOnce), slot: t0, now: t0.adding(seconds: 1))
        #expect(next?.slot == t0.adding(seconds: 60) && missed.isEmpty)
    }

    @Test("a slot within grace_sec is late, not missed")
    func withinGrace() {
        let (next, _) = successors(task(.skip, grace: 30), slot: t0, now: t0.adding(seconds: 80))
        #expect(next?.slot == t0.adding(seconds: 60), "60 s is only 20 s late, inside the 30 s grace")
    }

    @Test("run_once: after an outage the claimed run was the one catch-up; the next run is back on schedule")
    func runOnce() {
        let now = t0.adding(seconds: 10 * 3600 + 10)  // down ten hours
        let (next, missed) = successors(task(.runOnce), slot: t0, now: now)
        #expect(next?.slot == t0.adding(seconds: 10 * 3600 + 60), "the first slot from now on: the catch-up stood for the late ones")
        #expect(missed.isEmpty)
    }

    @Test("skip: missed slots are recorded as skipped runs, at most maxCatchUpSlots of them")
    func skip() {
        let short = successors(task(.skip), slot: t0, now: t0.adding(seconds: 5 * 60 + 20))  // 5:00 is 20 s late: within grace
        #expect(short.missed.map(\.slot) == (1...4).map { t0.adding(seconds: Int64($0) * 60) })
        #expect(short.missed.allSatisfy { $0.status == .skipped && $0.result == .object(["skipped": .string("misfire")]) })
        #expect(short.next?.slot == t0.adding(seconds: 5 * 60))
        let long = successors(task(.skip, every: 1), slot: t0, now: t0.adding(seconds: 36_000))  // `* * * * * *` down 10 h
        #expect(long.missed.count == ScheduledTask.maxCatchUpSlots)
        #expect(long.next?.slot == t0.adding(seconds: 36_000 - 31), "grace 30 s plus the one-second on-time tolerance")
    }

    @Test("run_all: every missed slot runs in order, but only the most recent maxCatchUpSlots")
    func runAll() {
        let few = successors(task(.runAll), slot: t0, now: t0.adding(seconds: 5 * 60 + 40))
        #expect(few.next?.slot == t0.adding(seconds: 60) && few.missed.isEmpty)
        let many = successors(task(.runAll, every: 1), slot: t0, now: t0.adding(seconds: 36_000))
        let resume = try! #require(many.next?.slot)
        #expect(resume > t0.adding(seconds: 36_000 - 30 - 101) && resume <= t0.adding(seconds: 36_000 - 30 - 99))
    }

    @Test("claim decisions: misfire first, then overlap; manual runs are never held back")
    func decisions() {
        let run = TaskRun(id: "R", taskID: "T1", module: "noop", trigger: .schedule, slot: t0, scheduledAt: t0, updatedAt: t0)
        let late = t0.adding(seconds: 300)
        let skipPolicy = task(.skip).claimPolicy
        #expect(skipPolicy.decide(for: run, now: late, taskHasActiveRun: false, taskHasHeldRun: false) == .skip(reason: "misfire"))
        let spread = task(.runOnce).claimPolicy.decide(for: run, now: late, taskHasActiveRun: false, taskHasHeldRun: false)
        guard case .spread(let to) = spread else { Issue.record("expected spread, got \(spread)"); return }
        #expect(to > late && to < late.adding(seconds: 10), "catch-ups spread over 10 s by a stable per-task offset")
        let now = t0.adding(seconds: 1)
        for (overlap, expected) in [(OverlapPolicy.skip, ClaimDecision.skip(reason: "overlap")), (.allow, .run), (.queue, .hold), (.replace, .runReplacing)] {
            let policy = task(.runOnce, overlap: overlap).claimPolicy
            #expect(policy.decide(for: run, now: now, taskHasActiveRun: true, taskHasHeldRun: false) == expected, "\(overlap)")
            #expect(policy.decide(for: run, now: now, taskHasActiveRun: false, taskHasHeldRun: false) == .run)
        }
        #expect(task(.runOnce, overlap: .queue).claimPolicy.decide(for: run, now: now, taskHasActiveRun: true, taskHasHeldRun: true) == .skip(reason: "overlap"))
        var manual = run
        manual.trigger = .manual
        #expect(skipPolicy.decide(for: manual, now: late, taskHasActiveRun: true, taskHasHeldRun: false) == .run)
    }

    @Test("grace_sec 0: a claim a few milliseconds after the slot is on time, not a misfire")
    func zeroGraceOnTime() {
        let policy = task(.runOnce, grace: 0).claimPolicy
        let run = TaskRun(id: "R", taskID: "T1", module: "noop", trigger: .schedule, slot: t0, scheduledAt: t0, updatedAt: t0)
        #expect(policy.decide(for: run, now: t0.adding(microseconds: 5_000), taskHasActiveRun: false, taskHasHeldRun: false) == .run)
        #expect(policy.decide(for: run, now: t0.adding(microseconds: 999_000), taskHasActiveRun: false, taskHasHeldRun: false) == .run)
        let skipping = task(.skip, grace: 0).claimPolicy
        #expect(skipping.decide(for: run, now: t0.adding(microseconds: 5_000), taskHasActiveRun: false, taskHasHeldRun: false) == .run)
        #expect(skipping.decide(for: run, now: t0.adding(seconds: 2), taskHasActiveRun: false, taskHasHeldRun: false) == .skip(reason: "misfire"))
    }

    @Test("a catch-up moved once runs when claimed, however late the claim is (no endless re-spreading)")
    func catchUpRunsWhateverTheGrace() {
        let policy = task(.runOnce, grace: 0).claimPolicy
        var run = TaskRun(id: "R", taskID: "T1", module: "noop", trigger: .schedule, slot: t0, scheduledAt: t0, updatedAt: t0)
        let late = t0.adding(seconds: 3)
        guard case .spread(let to) = policy.decide(for: run, now: late, taskHasActiveRun: false, taskHasHeldRun: false) else {
            Issue.record("a slot 3 s late with no grace is a misfire: spread once")
            return
        }
        run.scheduledAt = to
        #expect(policy.isCatchUp(run))
        #expect(policy.decide(for: run, now: to.adding(seconds: 2), taskHasActiveRun: false, taskHasHeldRun: false) == .run)
    }

    @Test("lateness is judged from the slot plus the task's jitter, so jitter alone is never a misfire")
    func jitterIsNotLateness() {
        var t = task(.skip, grace: 0)
        t.schedule.jitterSec = 600
        let policy = t.claimPolicy
        let run = t.scheduledRun(slot: t0, id: "R", now: t0)
        #expect(!policy.isCatchUp(run))
        #expect(policy.decide(for: run, now: run.scheduledAt.adding(microseconds: 10_000), taskHasActiveRun: false, taskHasHeldRun: false) == .run)
    }

    @Test("run_all: a missed slot's successor is due now, and waits (held) behind the active run instead of being skipped")
    func runAllCatchUpWaits() {
        let t = task(.runAll, grace: 0)
        let now = t0.adding(seconds: 600)
        let (next, _) = successors(t, slot: t0, now: now)
        let successor = try! #require(next)
        #expect(successor.slot == t0.adding(seconds: 60) && successor.scheduledAt == now, "due at once, not one spread delay later")
        #expect(t.claimPolicy.isCatchUp(successor))
        #expect(t.claimPolicy.decide(for: successor, now: now, taskHasActiveRun: true, taskHasHeldRun: false) == .wait)
        #expect(t.claimPolicy.decide(for: successor, now: now.adding(seconds: 30), taskHasActiveRun: false, taskHasHeldRun: false) == .run)
        let plan = ClaimPlan(due: [successor], policies: ["T1": t.claimPolicy], busy: ["T1"], holding: [], now: now)
        #expect(plan.held.map(\.id) == [successor.id] && plan.slotsUsed.isEmpty, "held, and its successor is made only when it runs")
    }

    @Test("a claim's follow-up: a used slot of a live task gets its successor, one of a deleted task gets none")
    func followUpSkipsDeletedTasks() {
        let now = t0.adding(seconds: 1)
        let live = task(.runOnce)
        var deleted = task(.runOnce)
        deleted.id = "T2"
        deleted.deletedAt = t0
        let runs = [live, deleted].map { t in
            TaskRun(id: "due-" + t.id, taskID: t.id, module: "noop", slot: t0, scheduledAt: t0, updatedAt: t0)
        }
        let plan = ClaimPlan(due: runs, policies: ["T1": live.claimPolicy, "T2": deleted.claimPolicy], busy: [], holding: [], now: now)
        #expect(plan.slotsUsed.count == 2, "both runs start")
        var n = 0
        let followUp = ClaimFollowUp(plan: plan, tasks: ["T1": live, "T2": deleted], now: now) { n += 1; return "S\(n)" }
        #expect(followUp.successors.map(\.taskID) == ["T1"])
        #expect(followUp.successors.first?.slot == t0.adding(seconds: 60))
    }
}
