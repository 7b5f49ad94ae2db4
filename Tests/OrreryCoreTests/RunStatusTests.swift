import OrreryCore
import Testing

@Suite("Run status machine", .timeLimit(.minutes(5)))
struct RunStatusTests {
    static let legal: Set<String> = [
        "scheduled>active", "scheduled>canceled", "scheduled>skipped",
        "active>complete", "active>failed", "active>canceled", "active>scheduled",
    ]

    @Test("every edge of SPEC §2 is allowed and every other is refused", arguments: RunStatus.allCases)
    func edges(from: RunStatus) {
        for to in RunStatus.allCases {
            let key = "\(from.rawValue)>\(to.rawValue)"
            if Self.legal.contains(key) {
                #expect((try? from.transition(to: to)) == to, "\(key) should be allowed")
            } else {
                #expect(throws: OrreryError.self, "\(key) should be refused") { try from.transition(to: to) }
            }
        }
    }

    @Test("a finished run refuses any change and says it already ended")
    func finishedSaysSo() {
        do {
            _ = try RunStatus.complete.transition(to: .canceled)
            Issue.record("expected an error")
        } catch let error as OrreryError {
            #expect(error.code == .illegalTransition)
            #expect(error.message == "the run already ended complete")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func finishedStatuses() {
        #expect(RunStatus.allCases.filter(\.isFinished) == [.complete, .failed, .canceled, .skipped])
        #expect(RunStatus.sources(of: .canceled) == [.scheduled, .active])
    }
}
