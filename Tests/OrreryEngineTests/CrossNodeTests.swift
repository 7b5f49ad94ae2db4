import Foundation
import Logging
import OrreryCore
import OrreryEngine
import OrreryModules
import OrreryTesting
import Testing

/// Two engines on one PostgreSQL database, as two nodes: one executes, the other (with
/// `concurrency` 0) only serves the API. What one asks must reach the other.
@Suite("Across nodes", .timeLimit(.minutes(5)))
struct CrossNodeTests {
    /// A module that runs until canceled, counting the starts.
    static func endless(_ started: Gate) -> ClosureModule {
        ClosureModule(ModuleDescriptor(name: "endless", description: ["en-US": "runs until canceled"])) { _ in
            await started.open()
            try await Task.sleep(for: .seconds(3600))
            return nil
        }
    }

    /// Runs `body` with an executing node and an API-only node on one fresh database.
    func withTwoNodes(modules: [any TaskModule], _ body: (_ worker: EngineHarness, _ api: EngineHarness) async throws -> Void) async throws {
        try await StoreKind.postgres.withLocation { location in
            try await EngineHarness.with(location: location, modules: modules) { worker in
                try await EngineHarness.with(location: location, modules: modules, configure: { $0.concurrency = 0 }) { api in
                    try await body(worker, api)
                }
            }
        }
    }

    @Test("a cancel through another node stops the run's work within a second", arguments: StoreKind.shared)
    func cancelAcrossNodes(_ kind: StoreKind) async throws {
        let started = Gate()
        try await withTwoNodes(modules: [Self.endless(started)]) { worker, api in
            let task = try await api.create(#"{"name":"c","module":"endless","schedule":{"type":"once"}}"#)
            await started.wait()
            let run = try #require(try await api.runs(of: task).first)
            #expect(run.status == .active && run.node == worker.engine.configuration.node)
            let asked = ContinuousClock.now
            _ = try await api.service.cancelRun(run.id, by: api.admin)
            // Usually the answer is already `canceled` (it waits up to 2 s); a loaded machine may be slower.
            try await eventually(timeout: .seconds(15), "canceled on the other node") {
                try await api.store.run(id: run.id, project: nil).status == .canceled
            }
            print("cross-node cancel: the run ended \(ContinuousClock.now - asked) after the request")
            #expect(try await worker.store.task(id: task.id, project: nil).lastStatus == .canceled)
        }
    }

    @Test("overlap replace claimed on one node cancels the run active on another", arguments: StoreKind.shared)
    func replaceAcrossNodes(_ kind: StoreKind) async throws {
        let started = Gate()
        try await StoreKind.postgres.withLocation { location in
            let clock = ManualClock()
            // Long leases: the clock jumps by minutes here, and no lease may lapse meanwhile.
            try await EngineHarness.with(location: location, modules: [Self.endless(started)], clock: clock,
                                         configure: { $0.concurrency = 1; $0.leaseDuration = .seconds(3600) }) { first in
                let task = try await first.create(#"{"name":"r","module":"endless","overlap":"replace","schedule":{"type":"interval","every_sec":60}}"#)
                try await first.settle()
                clock.advance(by: .seconds(60))
                await started.wait()
                let old = try #require(try await first.runs(of: task, [.active]).first)
                // The next slot is claimed by a second node: the first is at its concurrency limit.
                try await EngineHarness.with(location: location, modules: [Self.endless(Gate())], clock: clock,
                                             configure: { $0.leaseDuration = .seconds(3600) }) { second in
                    try await first.settle(sleepers: 5)  // each node's lease and rescue loops, the second's dispatcher
                    clock.advance(by: .seconds(60))
                    try await eventually("the old run canceled on the first node") {
                        try await second.store.run(id: old.id, project: nil).status == .canceled
                    }
                    let active = try await second.runs(of: task, [.active])
                    #expect(active.count == 1 && active[0].id != old.id)
                }
            }
        }
    }
}
