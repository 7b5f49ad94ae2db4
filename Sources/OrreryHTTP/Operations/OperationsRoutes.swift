import Hummingbird
import NIOCore
import OrreryCore
import OrreryEngine

/// The endpoints operators and orchestrators call, outside `/v1` and without a token:
/// `/healthz` (the process answers), `/readyz` (it can do its work: the store answers, its
/// schema is current, the engine runs; 503 otherwise, so a load balancer stops sending
/// traffic to a node that is draining or cut off), `/metrics` (Prometheus text format).
enum OperationsRoutes {
    static func add(to router: Router<OrreryRequestContext>, service: TaskService, metrics: ServerMetrics) {
        router.get("healthz") { _, _ in json(.object(["status": .string("ok")])) }
        router.get("readyz") { _, _ in
            let problems = await readinessProblems(service)
            guard problems.isEmpty else {
                throw ProblemError(status: .serviceUnavailable, code: "not_ready", title: "Not ready", detail: problems.joined(separator: "; "), field: nil)
            }
            return json(.object([
                "status": .string("ready"),
                "checks": .object(["store": .string("ok"), "migrations": .string("current"), "engine": .string("running")]),
            ]))
        }
        router.get("metrics") { _, _ in
            let text = await metrics.scrape(service: service)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: text)))
        }
    }

    /// Why this node is not ready, for people (empty: ready).
    static func readinessProblems(_ service: TaskService) async -> [String] {
        var problems: [String] = []
        if let store = service.store as? any InspectableStore {
            do {
                let pending = try await store.pendingMigrations()
                if !pending.isEmpty { problems.append("migrations not applied: \(pending.joined(separator: ", "))") }
            } catch {
                problems.append("the store is unreachable")
            }
        } else if (try? await service.store.tokenCount()) == nil {
            problems.append("the store is unreachable")
        }
        if !service.engine.isRunning { problems.append("the engine is not running") }
        return problems
    }
}
