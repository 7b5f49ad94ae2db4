import Foundation
import OrreryCore
import OrreryEngine
import OrreryModules
import OrreryTesting
import Synchronization
import Testing

/// Events fire trigger tasks; run ends are events that chains follow (issue 12).
@Suite("Events and trigger tasks", .timeLimit(.minutes(5)))
struct EventTests {
    /// A module that remembers the events its runs saw, by task id.
    final class Seen: Sendable {
        let events = Mutex<[String: [RunEvent?]]>([:])
        func record(_ context: RunContext) { events.withLock { $0[context.run.taskID, default: []].append(context.event) } }
        func of(_ taskID: String) -> [RunEvent?] { events.withLock { $0[taskID] ?? [] } }
    }

    static func modules(_ seen: Seen) -> [any TaskModule] {
        [
            ClosureModule(ModuleDescriptor(name: "see", description: ["en-US": "records its event"])) { context in
                seen.record(context)
                return nil
            },
            ClosureModule(ModuleDescriptor(name: "boom", description: ["en-US": "fails"])) { context in
                seen.record(context)
                throw RunError(code: "boom", message: "it broke")
            },
        ]
    }

    func post(_ h: EngineHarness, _ json: String, key: String? = nil) async throws -> [EventAnswer] {
        try await h.service.postEvents(try JSONValue.parse(Array(json.utf8)), project: nil, idempotencyKey: key, by: h.admin).answers
    }

    @Test("an event fires the project's matching trigger tasks: type and resource, with the trigger's delay and priority and the event's id", arguments: StoreKind.enabled)
    func matching(store: StoreKind) async throws {
        let seen = Seen()
        try await EngineHarness.with(store: store, modules: Self.modules(seen)) { h in
            let any = try await h.create(#"{"name":"any","module":"see","schedule":{"type":"trigger","event":"vm.start","priority":7}}"#)
            let vm1 = try await h.create(#"{"name":"vm1","module":"see","schedule":{"type":"trigger","event":"vm.start","resource_id":"vm-1"}}"#)
            let late = try await h.create(#"{"name":"late","module":"see","schedule":{"type":"trigger","event":"vm.start","delay_sec":30}}"#)
            let other = try await h.create(#"{"name":"other","module":"see","schedule":{"type":"trigger","event":"vm.stop"}}"#)
            let paused = try await h.create(#"{"name":"paused","module":"see","enabled":false,"schedule":{"type":"trigger","event":"vm.start"}}"#)
            let now = h.clock.now()
            let answers = try await post(h, #"{"type":"vm.start","resource_id":"vm-2","payload":{"cpu":4},"id":"ev-1"}"#)
            #expect(answers.count == 1 && answers[0].id == "ev-1" && !answers[0].replayed)
            #expect(answers[0].fired.count == 2, "any and late; vm1 waits for vm-1, other for vm.stop, paused is paused")
            try await eventually("the undelayed run ran") { seen.of(any.id).count == 1 }
            let anyRun = try #require(try await h.runs(of: any).first)
            #expect(anyRun.trigger == .event && anyRun.eventID == "ev-1" && anyRun.priority == 7 && anyRun.resourceID == "vm-2")
            #expect(seen.of(any.id) == [RunEvent(id: "ev-1", type: "vm.start", resourceID: "vm-2", payload: .object(["cpu": .int(4)]))])
            let lateRun = try #require(try await h.runs(of: late).first)
            #expect(lateRun.status == .scheduled && lateRun.scheduledAt == now.adding(seconds: 30) && lateRun.eventID == "ev-1")
            for quiet in [vm1, other, paused] { #expect(try await h.runs(of: quiet).isEmpty, "\(quiet.name) fired") }
            try await h.settle()
            h.clock.advance(by: .seconds(30))
            try await eventually("the delayed run ran") { seen.of(late.id).count == 1 }
            #expect(seen.of(late.id).first??.payload == .object(["cpu": .int(4)]))

            let second = try await post(h, #"[{"type":"vm.start","resource_id":"vm-1"},{"type":"vm.stop"}]"#)
            #expect(second.map(\.fired.count) == [3, 1], "any, vm1 and late; then other")
            #expect(try await h.runs(of: vm1).first?.resourceID == "vm-1")
        }
    }

    @Test("the same event id (or Idempotency-Key) within 24 hours returns the first answer and fires nothing; after, it is new", arguments: StoreKind.enabled)
    func idempotent(store: StoreKind) async throws {
        let seen = Seen()
        try await EngineHarness.with(store: store, modules: Self.modules(seen)) { h in
            let task = try await h.create(#"{"name":"t","module":"see","schedule":{"type":"trigger","event":"x"}}"#)
            let first = try await post(h, #"{"type":"x","id":"once"}"#)
            let again = try await post(h, #"{"type":"x","id":"once","payload":"different"}"#)
            #expect(again[0] == EventAnswer(id: "once", fired: first[0].fired, replayed: true))
            let keyed = try await post(h, #"{"type":"x"}"#, key: "K1")
            let keyedAgain = try await post(h, #"{"type":"x"}"#, key: "K1")
            #expect(keyed[0].id == "K1" && keyedAgain[0] == EventAnswer(id: "K1", fired: keyed[0].fired, replayed: true))
            let inOne = try await post(h, #"[{"type":"x","id":"dup"},{"type":"x","id":"dup"}]"#)
            #expect(inOne[1].replayed && inOne[1].fired == inOne[0].fired)
            #expect(try await h.runs(of: task).count == 3)
            h.clock.advance(by: .seconds(24 * 3600 + 1))
            let later = try await post(h, #"{"type":"x","id":"once"}"#)
            #expect(!later[0].replayed && later[0].fired.count == 1 && later[0].fired != first[0].fired)
            var filter = EventFilter()
            filter.type = "x"
            #expect(try await h.store.listEvents(filter).items.count == 4)
        }
    }

    @Test("a run's end is an event: run.failed of A fires B, whose module sees who failed; a trigger may name the task it follows", arguments: StoreKind.enabled)
    func chain(store: StoreKind) async throws {
        let seen = Seen()
        try await EngineHarness.with(store: store, modules: Self.modules(seen)) { h in
            let backup = try await h.create(#"{"name":"backup","module":"boom","schedule":{"type":"trigger","event":"go"}}"#)
            let fine = try await h.create(#"{"name":"fine","module":"see","schedule":{"type":"trigger","event":"go"}}"#)
            let cleanup = try await h.create(#"""
                {"name":"cleanup","module":"see","schedule":{"type":"trigger","event":"run.failed","task_id":"\#(backup.id)","priority":3}}
                """#)
            let anyFailure = try await h.create(#"{"name":"any-failure","module":"see","schedule":{"type":"trigger","event":"run.failed"}}"#)
            let onComplete = try await h.create(#"{"name":"on-complete","module":"see","schedule":{"type":"trigger","event":"run.complete","task_id":"\#(fine.id)"}}"#)
            _ = try await post(h, #"{"type":"go"}"#)
            try await eventually("cleanup ran") { seen.of(cleanup.id).count == 1 && seen.of(onComplete.id).count == 1 }
            let failed = try #require(try await h.runs(of: backup).first)
            let event = try #require(seen.of(cleanup.id).first ?? nil)
            #expect(event.type == "run.failed")
            #expect(event.payload == .object([
                "task_id": .string(backup.id), "task_name": .string("backup"), "run_id": .string(failed.id),
                "status": .string("failed"), "error": .object(["code": .string("boom"), "message": .string("it broke")]),
            ]))
            #expect(try await h.runs(of: cleanup).first?.priority == 3)
            try await eventually("any-failure ran") { seen.of(anyFailure.id).count == 1 }
            #expect(seen.of(anyFailure.id).first??.payload?["task_id"] == .string(backup.id))
            #expect(seen.of(onComplete.id).first??.payload?["task_id"] == .string(fine.id))
            try await eventually("every chain ended") { try await h.store.listRuns(RunFilter()).items.allSatisfy(\.status.isFinished) }
            // Run ends that fire nothing are not stored: the posted event and three run ends.
            var filter = EventFilter()
            let events = try await h.store.listEvents(filter).items
            #expect(Set(events.map(\.type)) == ["go", "run.failed", "run.complete"])
            filter.type = "run.failed"
            let failure = try #require(try await h.store.listEvents(filter).items.first)
            #expect(failure.causedByRun == failed.id && failure.depth == 1 && failure.fired.count == 2)
        }
    }

    @Test("cancelling a scheduled run is its end too: run.canceled fires the task that follows it", arguments: StoreKind.enabled)
    func canceledScheduledRun(store: StoreKind) async throws {
        let seen = Seen()
        try await EngineHarness.with(store: store, modules: Self.modules(seen)) { h in
            let later = try await h.create(#"{"name":"later","module":"see","schedule":{"type":"trigger","event":"x","delay_sec":3600}}"#)
            let follower = try await h.create(#"{"name":"f","module":"see","schedule":{"type":"trigger","event":"run.canceled","task_id":"\#(later.id)"}}"#)
            let runID = try #require(try await post(h, #"{"type":"x"}"#).first?.fired.first)
            _ = try await h.service.cancelRun(runID, by: h.admin)
            try await eventually("the follower ran") { seen.of(follower.id).count == 1 }
            #expect(seen.of(follower.id).first??.payload?["run_id"] == .string(runID))
            #expect(seen.of(later.id).isEmpty)
        }
    }

    @Test("a trigger cannot follow its own task, an unknown task, or a task on an event that is not a run end", arguments: StoreKind.enabled)
    func selfFollowRefused(store: StoreKind) async throws {
        try await EngineHarness.with(store: store) { h in
            let task = try await h.create(#"{"name":"t","module":"noop","schedule":{"type":"trigger","event":"run.failed"}}"#)
            let selfFollow = try JSONValue.parse(Array(#"{"schedule":{"type":"trigger","event":"run.failed","task_id":"\#(task.id)"}}"#.utf8))
            await #expect(throws: OrreryError(.invalidSchedule, "a trigger cannot follow its own task", field: "schedule.task_id")) {
                _ = try await h.service.updateTask(task.id, with: selfFollow, ifMatch: nil, by: h.admin)
            }
            do {
                _ = try await h.create(#"{"name":"u","module":"noop","schedule":{"type":"trigger","event":"run.failed","task_id":"nope"}}"#)
                Issue.record("an unknown task was accepted")
            } catch let error as OrreryError {
                #expect(error.code == .invalidSchedule && error.field == "schedule.task_id")
            }
            do {
                _ = try await h.create(#"{"name":"v","module":"noop","schedule":{"type":"trigger","event":"vm.start","task_id":"\#(task.id)"}}"#)
                Issue.record("task_id on a non run-end event was accepted")
            } catch let error as OrreryError {
                #expect(error.code == .invalidSchedule && error.field == "schedule.task_id")
            }
            #expect(try await h.store.task(id: task.id, project: nil).version == task.version, "nothing stored")
            #expect(try await h.service.listTasks(TaskFilter(), by: h.admin).items.count == 1)
        }
    }

    @Test("two tasks following each other stop at depth 10: the cut event is stored with nothing fired", arguments: StoreKind.enabled)
    func depthBound(store: StoreKind) async throws {
        let seen = Seen()
        try await EngineHarness.with(store: store, modules: Self.modules(seen)) { h in
            let ping = try await h.create(#"{"name":"ping","module":"see","schedule":{"type":"trigger","event":"start"}}"#)
            let pong = try await h.create(#"{"name":"pong","module":"see","schedule":{"type":"trigger","event":"run.complete","task_id":"\#(ping.id)"}}"#)
            let patch = try JSONValue.parse(Array(#"{"schedule":{"type":"trigger","event":"run.complete","task_id":"\#(pong.id)"}}"#.utf8))
            _ = try await h.service.updateTask(ping.id, with: patch, ifMatch: nil, by: h.admin)
            // Start the loop by hand: a manual run of ping (depth of its end: 1).
            _ = try await h.service.runNow(ping.id, by: h.admin)
            var filter = EventFilter()
            filter.type = "run.complete"
            try await eventually("the chain was cut") {
                try await h.store.listEvents(filter).items.contains { $0.depth > EventChain.maxDepth }
            }
            try await eventually("every run ended") { try await h.store.listRuns(RunFilter()).items.allSatisfy(\.status.isFinished) }
            let events = try await h.store.listEvents(filter).items
            #expect(events.map(\.depth) == Array((1...(EventChain.maxDepth + 1)).reversed()))
            #expect(events.first?.fired == [] && events.dropFirst().allSatisfy { $0.fired.count == 1 })
            #expect(seen.of(ping.id).count + seen.of(pong.id).count == Int(EventChain.maxDepth) + 1)
        }
    }

    @Test("a retried run keeps its event: the module sees it again", arguments: StoreKind.enabled)
    func retryKeepsEvent(store: StoreKind) async throws {
        let seen = Seen()
        try await EngineHarness.with(store: store, modules: Self.modules(seen)) { h in
            let task = try await h.create(#"{"name":"r","module":"boom","retry":{"max_attempts":2,"backoff_base_sec":1,"backoff_max_sec":1},"schedule":{"type":"trigger","event":"x"}}"#)
            _ = try await post(h, #"{"type":"x","id":"ev-r","payload":[1]}"#)
            try await eventually("first attempt") { seen.of(task.id).count == 1 }
            try await h.settle()
            h.clock.advance(by: .seconds(120))
            try await eventually("second attempt") { seen.of(task.id).count == 2 }
            #expect(seen.of(task.id).allSatisfy { $0?.id == "ev-r" && $0?.payload == .array([.int(1)]) })
            let runs = try await h.runs(of: task)
            #expect(runs.count == 2 && runs.allSatisfy { $0.eventID == "ev-r" })
        }
    }

    @Test("events are pruned with runs: the pruner's retention deletes older events", arguments: StoreKind.enabled)
    func pruned(store: StoreKind) async throws {
        try await EngineHarness.with(store: store) { h in
            _ = try await post(h, #"{"type":"old"}"#)
            h.clock.advance(by: .seconds(3 * 86400))
            _ = try await post(h, #"{"type":"new"}"#)
            var configuration = Pruner.Configuration()
            configuration.retention = .seconds(86400)
            let pruner = Pruner(configuration: configuration, store: h.store, clock: h.clock)
            _ = try await pruner.prune()
            #expect(try await h.store.listEvents(EventFilter()).items.map(\.type) == ["new"])
        }
    }
}
