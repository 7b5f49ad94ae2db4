import Foundation
import OrreryCore
import OrreryEngine
import OrreryTesting
import Testing

/// The wall clock steps forward and back under a running engine (through the injected clock):
/// no slot fires twice, and none is lost beyond what the misfire policy says.
@Suite("Fault: wall clock steps", .timeLimit(.minutes(5)))
struct ClockStepTests {
    @Test("forward 10 minutes then back 15: one catch-up, no slot twice, back on schedule when time catches up", arguments: StoreKind.enabled)
    func stepForwardAndBack(_ kind: StoreKind) async throws {
        try await EngineHarness.with(store: kind) { h in
            let t0 = h.clock.now()
            let every = try await h.create(#"{"name":"m","module":"noop","schedule":{"type":"interval","every_sec":60},"misfire":{"policy":"run_once","grace_sec":5}}"#)
            let skipper = try await h.create(#"{"name":"s","module":"noop","schedule":{"type":"interval","every_sec":60},"misfire":{"policy":"skip","grace_sec":5}}"#)
            for minute in 1...2 {  // on time
                try await h.settle()
                h.clock.advance(by: .seconds(60))
                try await eventually("minute \(minute)") { try await h.runs(of: every, [.complete]).count == minute }
            }
            try await h.settle()
            h.clock.step(to: t0.adding(seconds: 120 + 600 + 30))  // forward: 10 minutes missed
            try await eventually("run_once: one catch-up after the spread") { try await h.runs(of: every, [.scheduled]).first.map { $0.scheduledAt > h.clock.now() } == true }
            try await h.settle()
            h.clock.advance(by: .seconds(10))
            try await eventually("the catch-up ran") { try await h.runs(of: every, [.complete]).count == 3 }
            try await eventually("skip: missed slots recorded skipped") { try await h.runs(of: skipper, [.skipped]).count >= 9 }
            let ranBeforeBack = try await h.runs(of: every).filter { $0.status != .scheduled }.compactMap(\.slot)
            // Back 15 minutes: slots that fired must not fire again when time passes them a second time.
            try await h.settle()
            h.clock.step(to: h.clock.now().adding(seconds: -900))
            for _ in 0..<20 {
                try await h.settle()
                h.clock.advance(by: .seconds(60))
            }
            try await eventually("back on schedule") { try await h.runs(of: every, [.complete]).count >= 4 }
            for task in [every, skipper] {
                let slots = try await h.runs(of: task).compactMap(\.slot)
                #expect(Set(slots).count == slots.count, "no slot twice for \(task.name)")
            }
            let after = try await h.runs(of: every, [.complete]).compactMap(\.slot)
            #expect(Set(ranBeforeBack).isSubset(of: Set(after)) && after.count == Set(after).count)
            try await h.settle()
            h.clock.advance(by: .seconds(11))  // a slot the clock ran past is a catch-up, spread by up to 10 s
            try await eventually("firing again at the clock's time") {
                (try await h.runs(of: every, [.complete]).compactMap(\.slot).max() ?? t0) > h.clock.now().adding(seconds: -180)
            }
        }
    }
}
