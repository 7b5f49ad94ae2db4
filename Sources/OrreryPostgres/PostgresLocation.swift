import Foundation
import OrreryCore
import PostgresNIO

/// Where a PostgreSQL database is, read from a `postgres://` URL.
struct PostgresLocation: Sendable {
    var host: String
    var port: Int
    var socketDirectory: String?
    var username: String
    var password: String?
    var database: String
    var tls: TLSMode

    enum TLSMode: String, Sendable { case disable, prefer, require }

    init(url: String) throws {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? "") else {
            throw OrreryError(.invalidField, "must look like postgres://user@host:port/database", field: "database")
        }
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        host = components.host.flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1"
        port = components.port ?? 5432
        socketDirectory = query["host"].flatMap { $0.hasPrefix("/") ? $0 : nil }
        username = components.user?.removingPercentEncoding ?? "postgres"
        password = components.password?.removingPercentEncoding
        let path = String(components.path.drop { $0 == "/" })
        database = path.isEmpty ? username : (path.removingPercentEncoding ?? path)
        guard let mode = TLSMode(rawValue: query["sslmode"] ?? "prefer") else {
            throw OrreryError(.invalidField, "sslmode must be disable, prefer or require", field: "database")
        }
        tls = mode
    }

    /// The same server, another database (tests make a fresh one per test).
    func with(database: String) -> PostgresLocation {
        var copy = self
        copy.database = database
        return copy
    }

    var clientConfiguration: PostgresClient.Configuration {
        if let socketDirectory {
            return PostgresClient.Configuration(
                unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: username, password: password, database: database)
        }
        let tls: PostgresClient.Configuration.TLS = switch self.tls {
        case .disable: .disable
        case .prefer: .prefer(.makeClientConfiguration())
        case .require: .require(.makeClientConfiguration())
        }
        return PostgresClient.Configuration(host: host, port: port, username: username, password: password, database: database, tls: tls)
    }

    var displayURL: String {
        socketDirectory.map { "postgres://\(username)@/\(database)?host=\($0)" } ?? "postgres://\(username)@\(host):\(port)/\(database)"
    }
}
