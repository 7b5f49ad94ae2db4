import Foundation
import OrreryCore
import OrreryTesting
import Testing

/// Listings of finished runs by module or project (issue 16): such a listing reads the
/// finished runs' own indexes, past the scheduled runs that are newest of all. Whatever
/// index it reads, it must answer exactly what the filters say, newest first, page by page.
/// So must a list of statuses that mixes open ones (scheduled, active) with finished ones,
/// which no one partial index serves.
@Suite("Finished run listing", .timeLimit(.minutes(5)))
struct FinishedRunListingTests {
    let t0 = Timestamp(rfc3339: "2026-03-01T12:00:00Z")!

    @Test("finished statuses with module or project filters list the right runs, newest first, across cursor pages, when scheduled runs are newest", arguments: StoreKind.enabled)
    func finishedStatusesPastScheduledRuns(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            try await makeHistory(in: store)
            let all = try await store.listRuns(Self.filter(limit: 1000)).items
            #expect(Set(all.prefix(4).map(\.status)) == [.scheduled], "the scheduled runs are the newest")
            #expect(Set(all.map(\.status)).isSuperset(of: [.complete, .failed, .canceled, .skipped]))
            #expect(all.filter(\.status.isFinished).allSatisfy { $0.finishedAt != nil })

            let shapes: [Shape] = [
                ([.complete, .failed], "noop", nil),
                ([.canceled, .skipped], nil, "default"),
                ([.complete, .failed, .canceled, .skipped], "noop", "other"),
                ([.failed], "sleep", nil),
                ([.complete, .failed, .canceled, .skipped], nil, "other"),
            ]
            for shape in shapes { try await Self.expectListing(shape, of: all, in: store) }
        }
    }

    @Test("status lists with open statuses, alone or mixed with finished ones, list the right runs, newest first, across cursor and offset pages, with exact totals", arguments: StoreKind.enabled)
    func openAndMixedStatuses(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            try await makeHistory(in: store)
            let all = try await store.listRuns(Self.filter(limit: 1000)).items
            #expect(all.filter { $0.status == .active }.count == 3)
            let shapes: [Shape] = [
                ([.active], nil, nil),
                ([.active], "noop", "other"),
                ([.scheduled], nil, "default"),
                ([.scheduled], "sleep", nil),
                ([.active, .failed], nil, nil),
                ([.scheduled, .complete], "noop", nil),
                ([.active, .complete, .failed, .canceled, .skipped], nil, "default"),
                ([.scheduled, .active], nil, nil),
                ([.skipped, .active, .scheduled, .canceled], "noop", nil),
            ]
            for shape in shapes { try await Self.expectListing(shape, of: all, in: store) }
        }
    }

    typealias Shape = (statuses: [RunStatus], module: String?, project: String?)

    /// A listing of `shape` answers exactly the runs of `all` it matches, newest first: page by
    /// page (2 a page, by cursor), on one page with the exact total, and from an offset of 1.
    private static func expectListing(_ shape: Shape, of all: [TaskRun], in store: any ConformingStore) async throws {
        let expected = all.filter { run in
            shape.statuses.contains(run.status) && (shape.module ?? run.module) == run.module
                && (shape.project ?? run.project) == run.project
        }.map(\.id)
        #expect(!expected.isEmpty, "the history has runs for \(shape)")
        var filter = Self.filter(limit: 2)
        filter.statuses = shape.statuses
        filter.module = shape.module
        filter.project = shape.project
        #expect(try await Self.everyPage(of: filter, in: store) == expected, "\(shape)")
        filter.limit = 100
        let one = try await store.listRuns(filter)
        #expect(one.items.map(\.id) == expected && one.totalCount == expected.count && one.nextCursor == nil, "\(shape)")
        filter.limit = 2
        filter.offset = 1
        let skipped = try await store.listRuns(filter)
        #expect(skipped.items.map(\.id) == Array(expected.dropFirst(1).prefix(2)), "offset 1, \(shape)")
        #expect(skipped.totalCount == expected.count, "\(shape)")
    }

    private static func filter(limit: Int) -> RunFilter {
        var filter = RunFilter()
        filter.limit = limit
        return filter
    }

    /// The ids of every page of `filter`, following its cursors.
    private static func everyPage(of filter: RunFilter, in store: any ConformingStore) async throws -> [String] {
        var filter = filter
        var ids: [String] = []
        for _ in 0..<100 {
            let page = try await store.listRuns(filter)
            ids += page.items.map(\.id)
            guard let next = page.nextCursor else { return ids }
            filter.cursor = next
        }
        Issue.record("more than 100 pages")
        return ids
    }

    /// Finished runs of every status, in two modules and two projects, ended by every path
    /// that ends a run (recorded outcomes, a cancel while scheduled, a skip at claim, misfire
    /// skips); then recurring tasks whose scheduled runs are the newest rows.
    private func makeHistory(in store: any ConformingStore) async throws {
        let tomorrow = Schedule(.once(at: t0.adding(seconds: 86_400)))
        let noop = Fixtures.task("noop", module: "noop", schedule: tomorrow, at: t0)
        let sleep = Fixtures.task("sleep", module: "sleep", schedule: tomorrow, at: t0)
        var elsewhere = Fixtures.task("elsewhere", module: "noop", schedule: tomorrow, at: t0)
        elsewhere.project = "other"
        try await Fixtures.create([noop, sleep, elsewhere], in: store, now: t0)

        var at = t0
        let ends: [RunOutcome.End] = [.complete(result: nil), .failed(RunError(code: "boom", message: "no")), .canceled]
        for round in 0..<3 {
            for task in [noop, sleep, elsewhere] {
                for end in ends {
                    at = at.adding(seconds: 1)
                    try await finish(task, end, at: at, in: store)
                }
                at = at.adding(seconds: 1)
                let waiting = try await store.insertRun(task.manualRun(id: IDGenerator().make(at: at), now: at.adding(seconds: 3_600), performedBy: nil))
                _ = try await store.cancel(runID: waiting.id, project: nil, now: at)
            }
            // A run whose task is gone is skipped at claim.
            at = at.adding(seconds: 1)
            let orphan = TaskRun(
                id: "orphan-\(round)", taskID: "gone", project: round == 1 ? "other" : "default", module: "noop",
                trigger: .manual, scheduledAt: at, updatedAt: at)
            _ = try await store.insertRun(orphan)
            #expect(try await store.claimDue(limit: 10, now: at, node: "n", leaseUntil: at.adding(seconds: 30)).isEmpty)
        }
        // Misfire skips: claimed well past its grace, the slots it missed are skipped runs.
        at = at.adding(seconds: 10)
        var late = Fixtures.task("late", module: "noop", schedule: Schedule(.interval(everySec: 10), startAt: at), at: at)
        late.misfire = MisfirePolicy(policy: .skip, graceSec: 1)
        try await Fixtures.create([late], in: store, now: at)
        at = at.adding(seconds: 45)
        for claimed in try await store.claimDue(limit: 10, now: at, node: "n", leaseUntil: at.adding(seconds: 30)) {
            _ = try await store.record(RecordBatch(outcomes: [RunOutcome(runID: claimed.run.id, end: .complete(result: nil), at: at)]), node: "n", now: at)
        }
        // Running runs, older than the recurring tasks' next runs.
        at = at.adding(seconds: 1)
        for task in [noop, sleep, elsewhere] {
            _ = try await store.insertRun(task.manualRun(id: IDGenerator().make(at: at), now: at, performedBy: nil))
        }
        #expect(try await store.claimDue(limit: 10, now: at, node: "n", leaseUntil: at.adding(seconds: 3_600)).count == 3)
        // The newest rows: recurring tasks' next runs, in both modules and projects.
        var recurring: [ScheduledTask] = []
        for i in 0..<6 {
            var task = Fixtures.task("cron-\(i)", module: i % 3 == 2 ? "sleep" : "noop", schedule: Schedule(.interval(everySec: 3_600)), at: at)
            task.project = i % 2 == 0 ? "default" : "other"
            recurring.append(task)
        }
        try await Fixtures.create(recurring, in: store, now: at)
    }

    /// A manual run of `task`, claimed and ended with `end` at `at`.
    private func finish(_ task: ScheduledTask, _ end: RunOutcome.End, at: Timestamp, in store: any ConformingStore) async throws {
        let run = try await store.insertRun(task.manualRun(id: IDGenerator().make(at: at), now: at, performedBy: nil))
        let claimed = try await store.claimDue(limit: 1, now: at, node: "n", leaseUntil: at.adding(seconds: 30))
        #expect(claimed.map(\.run.id) == [run.id])
        _ = try await store.record(RecordBatch(outcomes: [RunOutcome(runID: run.id, end: end, at: at)]), node: "n", now: at)
    }
}
