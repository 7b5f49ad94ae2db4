import Foundation
import OrreryCore
import OrreryTesting
import Testing

/// One suite for every store (SPEC §5): each test runs against SQLite and, when
/// `ORRERY_TEST_POSTGRES_URL` is set (scripts/test sets it), PostgreSQL, on a fresh store.
@Suite("Store conformance", .timeLimit(.minutes(5)))
struct StoreConformanceTests {
    let t0 = Timestamp(rfc3339: "2026-03-01T12:00:00Z")!

    @Test("a created task has its first run scheduled, and next_run_at shows it", arguments: StoreKind.enabled)
    func createAndRead(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let task = Fixtures.task(schedule: Schedule(.interval(everySec: 60)), at: t0)
            try await Fixtures.create([task], in: store, now: t0)
            let read = try await store.task(id: task.id, project: nil)
            #expect(read.name == task.name && read.schedule == task.schedule && read.seq > 0)
            #expect(read.nextRunAt == t0.adding(seconds: 60))
            let runs = try await store.listRuns(RunFilter())
            #expect(runs.items.map(\.status) == [.scheduled])
            await #expect(throws: OrreryError.self) { try await store.task(id: task.id, project: "other") }
        }
    }

    @Test("a task read by id or listed again shows each change: an update (even one that keeps its version and time), a run's end, a pause, a delete", arguments: StoreKind.enabled)
    func readsShowEveryVersion(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let created = try #require(try await Fixtures.create(
                [Fixtures.task("first", params: .object(["n": .int(1)]), schedule: Schedule(.interval(everySec: 60)), at: t0)], in: store, now: t0).first)
            var list = TaskFilter()
            list.limit = 10
            // The same read twice, by id and listed.
            for _ in 0..<2 {
                let read = try await store.task(id: created.id, project: nil)
                #expect(read.name == "first" && read.params == .object(["n": .int(1)]) && read.enabled && read.nextRunAt == t0.adding(seconds: 60))
                #expect(try await store.listTasks(list).items.map(\.name) == ["first"])
            }
            // A caller that keeps the version and the time still sees what it wrote.
            var same = try await store.task(id: created.id, project: nil)
            same.name = "renamed in place"
            same.params = .object(["n": .int(2)])
            _ = try await store.updateTask(same, expectedVersion: same.version, reschedule: nil)
            let inPlace = try await store.task(id: created.id, project: nil)
            #expect(inPlace.name == "renamed in place" && inPlace.params == .object(["n": .int(2)]))
            #expect(try await store.listTasks(list).items.map(\.name) == ["renamed in place"])
            // A run's end shows at once, at the same version.
            _ = try await store.insertRun(TaskRun(
                id: "manual-1", taskID: created.id, module: "noop", trigger: .manual, scheduledAt: t0.adding(seconds: 2),
                updatedAt: t0.adding(seconds: 2)))
            let claimed = try await store.claimDue(limit: 1, now: t0.adding(seconds: 2), node: "n1", leaseUntil: t0.adding(seconds: 30))
            #expect(claimed.map(\.run.id) == ["manual-1"])
            _ = try await store.record(RecordBatch(outcomes: [
                RunOutcome(runID: "manual-1", end: .failed(RunError(code: "module_error", message: "boom")), at: t0.adding(seconds: 3)),
            ]), node: "n1", now: t0.adding(seconds: 3))
            let ended = try await store.task(id: created.id, project: nil)
            #expect(ended.lastStatus == .failed && ended.lastRunAt == t0.adding(seconds: 2) && ended.version == inPlace.version)
            #expect(try await store.listTasks(list).items.map(\.lastStatus) == [.failed])
            // A pause at a new version: the schedule's runs are dropped, next_run_at goes.
            var paused = ended
            paused.enabled = false
            paused.schedule = Schedule(.interval(everySec: 120))
            paused.version += 1
            paused.updatedAt = t0.adding(seconds: 4)
            _ = try await store.updateTask(paused, expectedVersion: ended.version, reschedule: .clear)
            let read = try await store.task(id: created.id, project: nil)
            #expect(!read.enabled && read.schedule == Schedule(.interval(everySec: 120)) && read.version == ended.version + 1)
            #expect(read.nextRunAt == nil && read.lastStatus == .failed)
            #expect(try await store.listTasks(list).items.map(\.enabled) == [false])
            // Deleted at the time of its last write: gone by id.
            try await store.deleteTask(id: created.id, project: nil, expectedVersion: read.version, now: t0.adding(seconds: 4))
            await #expect(throws: OrreryError.self) { try await store.task(id: created.id, project: nil) }
        }
    }

    @Test("claiming takes only due runs, by priority, and materializes the next slot of a recurring task", arguments: StoreKind.enabled)
    func claim(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let every = Fixtures.task("every", schedule: Schedule(.interval(everySec: 10), startAt: t0), at: t0)
            let low = Fixtures.task("low", schedule: Schedule(.once(at: t0)), at: t0)
            let high = Fixtures.task("high", schedule: Schedule(.once(at: t0.adding(seconds: 1))), at: t0, priority: 5)
            let later = Fixtures.task("later", schedule: Schedule(.once(at: t0.adding(seconds: 100))), at: t0)
            try await Fixtures.create([every, low, high, later], in: store, now: t0)
            let now = t0.adding(seconds: 2)
            // Counted over both priority levels, only up to the time given.
            #expect(try await store.dueCount(by: now) == 3)
            #expect(try await store.dueCount(by: t0.adding(seconds: 100)) == 4)
            let claimed = try await store.claimDue(limit: 10, now: now, node: "n1", leaseUntil: now.adding(seconds: 30))
            #expect(claimed.map(\.run.taskID) == [high.id, every.id, low.id], "priority first, then scheduled_at")
            #expect(claimed.allSatisfy { $0.run.status == .active && $0.run.node == "n1" && $0.run.startedAt == now })
            #expect(try await store.task(id: every.id, project: nil).nextRunAt == t0.adding(seconds: 10))
            #expect(try await store.nextDueTime() == t0.adding(seconds: 10))
            #expect(try await store.dueCount(by: now) == 0)
            #expect(try await store.dueCount(by: t0.adding(seconds: 10)) == 1)
            #expect(try await store.claimDue(limit: 10, now: now, node: "n1", leaseUntil: now).isEmpty)
        }
    }

    @Test("a slot fires at most once: inserting the same task slot twice keeps one run", arguments: StoreKind.enabled)
    func uniqueSlot(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let task = Fixtures.task(schedule: Schedule(.interval(everySec: 10), startAt: t0), at: t0)
            try await Fixtures.create([task], in: store, now: t0)
            let again = try #require(task.firstRun(now: t0, id: "dup"))
            await #expect(throws: OrreryError.self) { try await store.insertRun(again) }
            #expect(try await store.listRuns(RunFilter()).totalCount == 1)
        }
    }

    @Test("ending runs: complete sets last_status; a failure with attempts left schedules a retry and keeps last_status", arguments: StoreKind.enabled)
    func endAndRetry(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let ok = Fixtures.task("ok", schedule: Schedule(.once(at: t0)), at: t0)
            let flaky = Fixtures.task("flaky", schedule: Schedule(.once(at: t0)), at: t0, retry: RetryPolicy(maxAttempts: 2, backoffBaseSec: 5))
            try await Fixtures.create([ok, flaky], in: store, now: t0)
            let claimed = try await store.claimDue(limit: 10, now: t0, node: "n1", leaseUntil: t0.adding(seconds: 30))
            let byTask = Dictionary(uniqueKeysWithValues: claimed.map { ($0.run.taskID, $0.run.id) })
            let boom = RunError(code: "module_error", message: "boom")
            let summary = try await store.record(RecordBatch(outcomes: [
                RunOutcome(runID: byTask[ok.id]!, end: .complete(result: .object(["n": .int(1)])), at: t0.adding(seconds: 1)),
                RunOutcome(runID: byTask[flaky.id]!, end: .failed(boom), at: t0.adding(seconds: 1)),
            ]), node: "n1", now: t0.adding(seconds: 1))
            #expect(summary == RecordSummary(ended: 2, retriesScheduled: 1))
            #expect(try await store.task(id: ok.id, project: nil).lastStatus == .complete)
            #expect(try await store.task(id: flaky.id, project: nil).lastStatus == nil, "only the last failure sets failed")
            var filter = RunFilter()
            filter.taskID = flaky.id
            let retry = try #require(try await store.listRuns(filter).items.first)
            #expect(retry.attempt == 2 && retry.trigger == .retry && retry.status == .scheduled)
            #expect(retry.scheduledAt >= t0.adding(seconds: 6) && retry.scheduledAt <= t0.adding(microseconds: 6_500_000))
            let again = try await store.claimDue(limit: 10, now: retry.scheduledAt, node: "n1", leaseUntil: retry.scheduledAt.adding(seconds: 30))
            _ = try await store.record(RecordBatch(outcomes: [RunOutcome(runID: again[0].run.id, end: .failed(boom), at: retry.scheduledAt)]), node: "n1", now: retry.scheduledAt)
            #expect(try await store.task(id: flaky.id, project: nil).lastStatus == .failed)
            #expect(try await store.listRuns(filter).totalCount == 2, "no third attempt")
        }
    }

    @Test("one group commit ending runs of one task: the newest-started run sets last_status, each failure is retried once", arguments: StoreKind.enabled)
    func groupCommitOfOneTask(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            var task = Fixtures.task(schedule: Schedule(.interval(everySec: 10), startAt: t0), at: t0, retry: RetryPolicy(maxAttempts: 2, backoffBaseSec: 5))
            task.overlap = .allow
            try await Fixtures.create([task], in: store, now: t0)
            let older = try #require(try await store.claimDue(limit: 10, now: t0, node: "n1", leaseUntil: t0.adding(seconds: 60)).first)
            let newer = try #require(try await store.claimDue(limit: 10, now: t0.adding(seconds: 10), node: "n1", leaseUntil: t0.adding(seconds: 60)).first)
            #expect(older.run.taskID == task.id && newer.run.taskID == task.id && older.run.id != newer.run.id)
            let at = t0.adding(seconds: 12)
            // The newer run is listed first: order in the batch must not decide.
            let summary = try await store.record(RecordBatch(outcomes: [
                RunOutcome(runID: newer.run.id, end: .complete(result: nil), at: at),
                RunOutcome(runID: older.run.id, end: .canceled, at: at),
            ]), node: "n1", now: at)
            #expect(summary == RecordSummary(ended: 2, retriesScheduled: 0))
            #expect(try await store.task(id: task.id, project: nil).lastStatus == .complete)
            #expect(try await store.run(id: older.run.id, project: nil).canceledAt == at)

            let third = try #require(try await store.claimDue(limit: 10, now: t0.adding(seconds: 20), node: "n1", leaseUntil: t0.adding(seconds: 90)).first)
            let fourth = try #require(try await store.claimDue(limit: 10, now: t0.adding(seconds: 30), node: "n1", leaseUntil: t0.adding(seconds: 90)).first)
            let boom = RunError(code: "module_error", message: "boom")
            let failed = try await store.record(RecordBatch(outcomes: [
                RunOutcome(runID: third.run.id, end: .failed(boom), at: t0.adding(seconds: 31)),
                RunOutcome(runID: fourth.run.id, end: .failed(boom), at: t0.adding(seconds: 31)),
            ]), node: "n1", now: t0.adding(seconds: 31))
            #expect(failed == RecordSummary(ended: 2, retriesScheduled: 2))
            var retries = RunFilter()
            retries.taskID = task.id
            retries.triggers = [.retry]
            #expect(try await store.listRuns(retries).items.map(\.attempt) == [2, 2])
            #expect(try await store.task(id: task.id, project: nil).lastStatus == .complete, "failures with attempts left keep last_status")
        }
    }

    @Test("last_status is the newest-started run's, whichever run was made first; task filters see it; pruning the runs keeps it", arguments: StoreKind.enabled)
    func lastStatusByStart(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let task = Fixtures.task(schedule: Schedule(.interval(everySec: 60), startAt: t0.adding(seconds: 60)), at: t0)
            try await Fixtures.create([task], in: store, now: t0)
            func lastOf() async throws -> (RunStatus?, Timestamp?) {
                let read = try await store.task(id: task.id, project: nil)
                return (read.lastStatus, read.lastRunAt)
            }
            func listed(_ status: RunStatus) async throws -> [String] {
                var filter = TaskFilter()
                filter.lastStatus = [status]
                return try await store.listTasks(filter).items.map(\.id)
            }
            // A manual run, made after the slot's run that waits for t0+60, ends first.
            let manual = try await store.insertRun(task.manualRun(id: IDGenerator().make(at: t0), now: t0.adding(seconds: 10), performedBy: nil))
            let first = try await store.claimDue(limit: 10, now: t0.adding(seconds: 10), node: "n", leaseUntil: t0.adding(seconds: 40))
            #expect(first.map(\.run.id) == [manual.id])
            _ = try await store.record(RecordBatch(outcomes: [RunOutcome(runID: manual.id, end: .complete(result: nil), at: t0.adding(seconds: 11))]), node: "n", now: t0.adding(seconds: 11))
            #expect(try await lastOf() == (.complete, t0.adding(seconds: 10)))
            // The slot's run was made earlier but starts later: its failure is the last status.
            let slot = try await store.claimDue(limit: 10, now: t0.adding(seconds: 60), node: "n", leaseUntil: t0.adding(seconds: 90))
            #expect(slot.map(\.run.trigger) == [.schedule])
            _ = try await store.record(RecordBatch(outcomes: [RunOutcome(runID: slot[0].run.id, end: .failed(RunError(code: "module_error", message: "boom")), at: t0.adding(seconds: 61))]), node: "n", now: t0.adding(seconds: 61))
            #expect(try await lastOf() == (.failed, t0.adding(seconds: 60)))
            #expect(try await listed(.failed) == [task.id])
            #expect(try await listed(.complete).isEmpty)
            // Both runs pruned: the task still shows what its last run did.
            #expect(try await store.pruneFinished(before: t0.adding(seconds: 100), limit: 100) == 2)
            #expect(try await lastOf() == (.failed, t0.adding(seconds: 60)))
            #expect(try await listed(.failed) == [task.id])
            // A run canceled while it waits ends at its cancel.
            let next = try #require(try await store.task(id: task.id, project: nil).nextRunAt)
            var scheduled = RunFilter()
            scheduled.statuses = [.scheduled]
            let waiting = try #require(try await store.listRuns(scheduled).items.first)
            #expect(waiting.scheduledAt == next)
            _ = try await store.cancel(runID: waiting.id, project: nil, now: t0.adding(seconds: 70))
            #expect(try await lastOf() == (.canceled, t0.adding(seconds: 70)))
            // What pruning kept (failed) is older: the filter must not list the task under it.
            #expect(try await listed(.canceled) == [task.id])
            #expect(try await listed(.failed).isEmpty)
        }
    }

    @Test("a recurring task after many runs: next_run_at, last_status and deleting the task still find the right runs", arguments: StoreKind.enabled)
    func manyRunsOfATask(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let task = Fixtures.task(schedule: Schedule(.interval(everySec: 10), startAt: t0), at: t0)
            let other = Fixtures.task("other", schedule: Schedule(.interval(everySec: 10), startAt: t0), at: t0)
            try await Fixtures.create([task, other], in: store, now: t0)
            // SQLite moves a task's open-run bound up at a claim once 4 runs sit at or above it.
            for slot in 0..<20 {
                let at = t0.adding(seconds: Int64(slot) * 10)
                let claimed = try await store.claimDue(limit: 10, now: at, node: "n", leaseUntil: at.adding(seconds: 5))
                #expect(Set(claimed.map(\.run.taskID)) == [task.id, other.id])
                // While a slot runs, the last run is the one before it.
                let running = try await store.task(id: task.id, project: nil)
                #expect(running.lastRunAt == (slot == 0 ? nil : at.adding(seconds: -10)), "slot \(slot)")
                let outcomes = claimed.map { claim in
                    RunOutcome(runID: claim.run.id, end: slot == 19 && claim.run.taskID == task.id ? .failed(RunError(code: "x", message: "x")) : .complete(result: nil), at: at.adding(seconds: 1))
                }
                _ = try await store.record(RecordBatch(outcomes: outcomes), node: "n", now: at.adding(seconds: 1))
                let read = try await store.task(id: task.id, project: nil)
                #expect(read.nextRunAt == at.adding(seconds: 10), "slot \(slot)")
                #expect(read.lastRunAt == at && read.lastStatus == (slot == 19 ? .failed : .complete), "slot \(slot)")
            }
            // A manual run made now is the next run, and goes with the task.
            _ = try await store.insertRun(task.manualRun(id: IDGenerator().make(at: t0), now: t0.adding(seconds: 195), performedBy: nil))
            #expect(try await store.task(id: task.id, project: nil).nextRunAt == t0.adding(seconds: 195))
            try await store.deleteTask(id: task.id, project: nil, expectedVersion: nil, now: t0.adding(seconds: 196))
            var scheduled = RunFilter()
            scheduled.statuses = [.scheduled]
            #expect(try await store.listRuns(scheduled).items.map(\.taskID) == [other.id])
        }
    }

    @Test("a node that lost a run cannot end it (fencing)", arguments: StoreKind.enabled)
    func fencing(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let task = Fixtures.task(schedule: Schedule(.once(at: t0)), at: t0)
            try await Fixtures.create([task], in: store, now: t0)
            let run = try await store.claimDue(limit: 1, now: t0, node: "n1", leaseUntil: t0.adding(seconds: 30))[0].run
            let summary = try await store.record(
                RecordBatch(logs: [LogEntry(runID: run.id, idx: 0, level: .info, message: "x", timestamp: t0)],
                            outcomes: [RunOutcome(runID: run.id, end: .complete(result: nil), at: t0)]),
                node: "n2", now: t0)
            #expect(summary.ended == 0)
            #expect(try await store.run(id: run.id, project: nil).status == .active)
            #expect(try await store.logs(runID: run.id, offset: 0, limit: 10).isEmpty)
        }
    }

    @Test("runs whose lease lapsed are failed with lease_expired, retried per policy, or canceled if asked", arguments: StoreKind.enabled)
    func rescue(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let plain = Fixtures.task("plain", schedule: Schedule(.once(at: t0)), at: t0)
            let retried = Fixtures.task("retried", schedule: Schedule(.once(at: t0)), at: t0, retry: RetryPolicy(maxAttempts: 3))
            let cancel = Fixtures.task("cancel", schedule: Schedule(.once(at: t0)), at: t0)
            try await Fixtures.create([plain, retried, cancel], in: store, now: t0)
            let claimed = try await store.claimDue(limit: 10, now: t0, node: "dead", leaseUntil: t0.adding(seconds: 30))
            let runID = Dictionary(uniqueKeysWithValues: claimed.map { ($0.run.taskID, $0.run.id) })
            _ = try await store.cancel(runID: runID[cancel.id]!, project: nil, now: t0.adding(seconds: 1))
            let early = try await store.rescueExpired(expiredBefore: t0.adding(seconds: 29), exceptNode: nil, now: t0.adding(seconds: 29))
            #expect(early.ended == 0, "leases still valid")
            let later = t0.adding(seconds: 31)
            let summary = try await store.rescueExpired(expiredBefore: later, exceptNode: nil, now: later)
            #expect(summary == RecordSummary(ended: 3, retriesScheduled: 1))
            let plainRun = try await store.run(id: runID[plain.id]!, project: nil)
            #expect(plainRun.status == .failed && plainRun.error?.code == "lease_expired")
            #expect(try await store.run(id: runID[cancel.id]!, project: nil).status == .canceled)
            #expect(try await store.task(id: plain.id, project: nil).lastStatus == .failed)
            var filter = RunFilter()
            filter.taskID = retried.id
            filter.statuses = [.scheduled]
            #expect(try await store.listRuns(filter).items.first?.attempt == 2)
        }
    }

    @Test("cancel: a scheduled run at once, an active one on request, a finished one never", arguments: StoreKind.enabled)
    func cancel(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let a = Fixtures.task("a", schedule: Schedule(.once(at: t0)), at: t0)
            let b = Fixtures.task("b", schedule: Schedule(.once(at: t0.adding(seconds: 60))), at: t0)
            try await Fixtures.create([a, b], in: store, now: t0)
            let active = try await store.claimDue(limit: 1, now: t0, node: "n1", leaseUntil: t0.adding(seconds: 30))[0].run
            var filter = RunFilter()
            filter.taskID = b.id
            let scheduled = try await store.listRuns(filter).items[0]
            let canceled = try await store.cancel(runID: scheduled.id, project: nil, now: t0)
            #expect(canceled.status == .canceled && canceled.canceledAt == t0)
            #expect(try await store.cancel(runID: active.id, project: nil, now: t0).status == .active)
            do {
                _ = try await store.cancel(runID: scheduled.id, project: nil, now: t0)
                Issue.record("cancelling a finished run must fail")
            } catch let error as OrreryError {
                #expect(error.code == .illegalTransition && error.message == "the run already ended canceled")
            }
        }
    }

    @Test("listing pages with a cursor miss nothing and repeat nothing, and filters combine", arguments: StoreKind.enabled)
    func paging(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let tasks = (0..<25).map { i in
                Fixtures.task("t\(i)", module: i % 2 == 0 ? "noop" : "sleep", schedule: Schedule(.once(at: t0.adding(seconds: Int64(i)))), at: t0)
            }
            try await Fixtures.create(tasks, in: store, now: t0)
            var filter = RunFilter()
            filter.limit = 7
            var seen: [String] = []
            repeat {
                let page = try await store.listRuns(filter)
                #expect(page.totalCount == 25)
                seen += page.items.map(\.id)
                filter.cursor = page.nextCursor
            } while filter.cursor != nil
            #expect(seen.count == 25 && Set(seen).count == 25)
            var narrow = RunFilter()
            narrow.module = "sleep"
            narrow.scheduledAfter = t0.adding(seconds: 10)
            #expect(try await store.listRuns(narrow).totalCount == 7)
            var taskFilter = TaskFilter()
            taskFilter.module = "noop"
            taskFilter.limit = 5
            let page = try await store.listTasks(taskFilter)
            #expect(page.totalCount == 13 && page.items.count == 5 && page.nextCursor != nil)
            narrow.cursor = "garbage"
            await #expect(throws: OrreryError.self) { try await store.listRuns(narrow) }
        }
    }

    @Test("every task and run filter selects the same rows in each store", arguments: StoreKind.enabled)
    func everyFilter(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            var backup = Fixtures.task("Nightly Backup", schedule: Schedule(.once(at: t0)), at: t0)
            backup.labels = ["team": "ops", "env": "prod"]
            backup.resourceID = "db-1"
            backup.owner = "alice"
            var report = Fixtures.task("hourly report", module: "sleep", schedule: Schedule(.interval(everySec: 3_600), startAt: t0.adding(seconds: 3_600)), at: t0)
            report.labels = ["team": "data"]
            var hook = Fixtures.task("backup-check", schedule: Schedule(.trigger(TriggerSpec(event: "deploy"))), at: t0)
            hook.project = "p2"
            hook.labels = ["team": "ops"]
            hook.enabled = false
            try await Fixtures.create([backup, report, hook], in: store, now: t0)

            func tasks(_ change: (inout TaskFilter) -> Void) async throws -> Set<String> {
                var filter = TaskFilter()
                change(&filter)
                return Set(try await store.listTasks(filter).items.map(\.name))
            }
            #expect(try await tasks { $0.nameContains = "BACKUP" } == ["Nightly Backup", "backup-check"])
            #expect(try await tasks { $0.name = "hourly report" } == ["hourly report"])
            #expect(try await tasks { $0.labels = ["team": "ops"] } == ["Nightly Backup", "backup-check"])
            #expect(try await tasks { $0.labels = ["team": "ops", "env": "prod"] } == ["Nightly Backup"])
            #expect(try await tasks { $0.project = "p2" } == ["backup-check"])
            #expect(try await tasks { $0.enabled = false } == ["backup-check"])
            #expect(try await tasks { $0.module = "sleep" } == ["hourly report"])
            #expect(try await tasks { $0.resourceID = "db-1" } == ["Nightly Backup"])
            #expect(try await tasks { $0.owner = "alice" } == ["Nightly Backup"])
            #expect(try await tasks { $0.triggerEvent = "deploy" } == ["backup-check"])
            #expect(try await tasks { $0.scheduleTypes = ["once", "interval"] } == ["Nightly Backup", "hourly report"])
            #expect(try await tasks { $0.nameContains = "backup"; $0.project = "default" } == ["Nightly Backup"])

            // The backup ran and completed; the report's first slot is still scheduled.
            let claimed = try await store.claimDue(limit: 1, now: t0, node: "n1", leaseUntil: t0.adding(seconds: 30))
            #expect(claimed.map(\.run.taskID) == [backup.id])
            _ = try await store.record(RecordBatch(outcomes: [RunOutcome(runID: claimed[0].run.id, end: .complete(result: nil), at: t0.adding(seconds: 2))]),
                                       node: "n1", now: t0.adding(seconds: 2))
            #expect(try await tasks { $0.lastStatus = [.complete] } == ["Nightly Backup"])

            func runs(_ change: (inout RunFilter) -> Void) async throws -> Set<String> {
                var filter = RunFilter()
                change(&filter)
                return Set(try await store.listRuns(filter).items.map(\.taskID))
            }
            #expect(try await runs { $0.labels = ["env": "prod"] } == [backup.id])
            #expect(try await runs { $0.statuses = [.scheduled] } == [report.id])
            #expect(try await runs { $0.triggers = [.schedule] } == [backup.id, report.id])
            #expect(try await runs { $0.taskID = report.id } == [report.id])
            #expect(try await runs { $0.startedAfter = t0 } == [backup.id])
            #expect(try await runs { $0.startedBefore = t0 }.isEmpty, "before is exclusive")
            #expect(try await runs { $0.finishedBefore = t0.adding(seconds: 3) } == [backup.id])
            #expect(try await runs { $0.scheduledAfter = t0.adding(seconds: 1) } == [report.id])
            // The time of a scheduled run is when it is due (t0 + 1 h); of a finished one, its last change.
            #expect(try await runs { $0.timestampBefore = t0.adding(seconds: 60) } == [backup.id])
            _ = try await store.dismiss(runID: claimed[0].run.id, project: nil, by: "alice", now: t0.adding(seconds: 5))
            #expect(try await runs { _ in } == [report.id], "dismissed runs are hidden by default")
            #expect(try await runs { $0.dismissed = true } == [backup.id])
            #expect(try await runs { $0.includeDismissed = true } == [backup.id, report.id])
        }
    }

    @Test("next_run_at and deleting a task find every open run of it: after runs end, after history is pruned, and when the store hands out a run number again", arguments: StoreKind.enabled)
    func openRunsOfATask(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            // A task whose one run ends: nothing is next.
            let a = Fixtures.task("a", schedule: Schedule(.once(at: t0)), at: t0)
            try await Fixtures.create([a], in: store, now: t0)
            let claimed = try await store.claimDue(limit: 10, now: t0, node: "n", leaseUntil: t0.adding(seconds: 30))
            #expect(claimed.map(\.run.taskID) == [a.id])
            _ = try await store.record(RecordBatch(outcomes: [RunOutcome(runID: claimed[0].run.id, end: .complete(result: nil), at: t0)]), node: "n", now: t0)
            #expect(try await store.task(id: a.id, project: nil).nextRunAt == nil)
            // The newest run number belongs to another task, which is deleted with its run, and
            // the history is pruned: the store is empty of runs. SQLite then numbers the next
            // run as if none had ever been made, below any mark a task was given.
            let b = Fixtures.task("b", schedule: Schedule(.interval(everySec: 60), startAt: t0.adding(seconds: 60)), at: t0)
            try await Fixtures.create([b], in: store, now: t0)
            try await store.deleteTask(id: b.id, project: nil, expectedVersion: nil, now: t0)
            #expect(try await store.pruneFinished(before: t0.adding(seconds: 1), limit: 100) == 1)
            #expect(try await store.listRuns(RunFilter()).items.isEmpty)
            // A run of the first task made now is its next run, and goes with the task.
            let manual = a.manualRun(id: "manual", now: t0.adding(seconds: 50), performedBy: nil)
            _ = try await store.insertRun(manual)
            #expect(try await store.task(id: a.id, project: nil).nextRunAt == t0.adding(seconds: 50))
            try await store.deleteTask(id: a.id, project: nil, expectedVersion: nil, now: t0.adding(seconds: 51))
            var scheduled = RunFilter()
            scheduled.statuses = [.scheduled]
            #expect(try await store.listRuns(scheduled).items.isEmpty, "the deleted task's scheduled run is gone")
        }
    }

    @Test("one batch of run ends across projects fires only the trigger tasks waiting for them and notifies only for the tasks that notify", arguments: StoreKind.enabled)
    func runEndFollowUpsOfABatch(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            var loud = Fixtures.task("loud", schedule: Schedule(.once(at: t0)), at: t0)
            loud.notify = NotifyPolicy(webhooks: [.init(url: "http://127.0.0.1:9/hook", secret: "a-secret-of-32-bytes-for-signing")]).json
            var quiet = Fixtures.task("quiet", schedule: Schedule(.once(at: t0)), at: t0)
            quiet.project = "other"
            var failing = Fixtures.task("failing", schedule: Schedule(.once(at: t0)), at: t0)
            failing.project = "other"
            // Waits for run.complete in "other": quiet's end fires it; loud's (another
            // project) and failing's (another status) do not.
            var follower = Fixtures.task("follower", schedule: Schedule(.trigger(TriggerSpec(event: "run.complete"))), at: t0)
            follower.project = "other"
            try await Fixtures.create([loud, quiet, failing, follower], in: store, now: t0)
            let claimed = try await store.claimDue(limit: 10, now: t0, node: "n", leaseUntil: t0.adding(seconds: 30))
            #expect(Set(claimed.map(\.run.taskID)) == [loud.id, quiet.id, failing.id])
            _ = try await store.record(RecordBatch(outcomes: claimed.map { c in
                RunOutcome(runID: c.run.id, end: c.run.taskID == failing.id ? .failed(RunError(code: "x", message: "y")) : .complete(result: nil), at: t0)
            }), node: "n", now: t0)
            var fired = RunFilter()
            fired.taskID = follower.id
            #expect(try await store.listRuns(fired).items.map(\.status) == [.scheduled], "the follower fired once")
            let quietRun = try #require(claimed.first { $0.run.taskID == quiet.id }).run.id
            var events = EventFilter()
            events.type = "run.complete"
            #expect(try await store.listEvents(events).items.map(\.causedByRun) == [quietRun], "only quiet's end fired anything")
            let loudRun = try #require(claimed.first { $0.run.taskID == loud.id }).run.id
            let notifications = try #require(store as? any NotificationStore)
            #expect(try await notifications.listNotifications(NotificationFilter()).map(\.runID) == [loudRun])
        }
    }

    @Test("a due run whose task row is gone is skipped, not left due for ever", arguments: StoreKind.enabled)
    func orphanRun(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let orphan = TaskRun(id: "orphan", taskID: "no-such-task", module: "noop", trigger: .manual, scheduledAt: t0, updatedAt: t0)
            _ = try await store.insertRun(orphan)
            #expect(try await store.claimDue(limit: 10, now: t0, node: "n", leaseUntil: t0.adding(seconds: 30)).isEmpty)
            let run = try await store.run(id: "orphan", project: nil)
            #expect(run.status == .skipped && run.result == .object(["skipped": .string("task_missing")]))
            #expect(try await store.nextDueTime() == nil)
        }
    }
}
