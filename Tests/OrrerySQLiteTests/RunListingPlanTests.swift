import OrreryCore
import OrrerySQLite
import OrreryTesting
import Testing

/// Which index a run listing walks (issue 16). With 100,000 recurring tasks the newest
/// 100,000 runs are scheduled; a listing of finished runs by module or project that walks
/// `runs_module` or `runs_project` steps over all of them first. The plan shows that at
/// any size, so these hold on an empty store.
@Suite("SQLite run listing plans", .timeLimit(.minutes(2)))
struct RunListingPlanTests {
    @Test("finished statuses by module or project walk the finished runs' indexes, cursor pages too")
    func finishedStatusesUseFinishedIndexes() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = try Fixtures.store(in: dir)

        var byModule = RunFilter()
        byModule.statuses = [.complete, .failed]
        byModule.module = "noop"
        #expect(try await store.explainListRuns(byModule).contains("runs_module_finished"))
        byModule.cursor = PageCursor.encode(5_000_000)
        #expect(try await store.explainListRuns(byModule).contains("runs_module_finished"))

        var byProject = RunFilter()
        byProject.project = "default"
        byProject.statuses = [.canceled, .skipped]
        #expect(try await store.explainListRuns(byProject).contains("runs_project_finished"))
    }

    @Test("a status list with an unfinished status keeps the indexes of every run")
    func unfinishedStatusesKeepTheWholeIndexes() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = try Fixtures.store(in: dir)

        var filter = RunFilter()
        filter.statuses = [.scheduled, .complete]
        filter.module = "noop"
        let plan = try await store.explainListRuns(filter)
        #expect(!plan.contains("_finished"), "\(plan)")
    }
}
