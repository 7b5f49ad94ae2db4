import Foundation
public import Logging
import OrreryCore
import PostgresNIO

/// Creates and drops whole databases on a server (tests and benchmarks use a fresh one
/// each). Database names are identifiers, which cannot be bound parameters: they are
/// checked to be plain lower-case words before they are quoted into the statement.
public enum PostgresAdmin {
    /// Creates database `name` on the server `serverURL` points at; returns its URL.
    public static func createDatabase(_ name: String, serverURL: String, logger: Logger = Logger(label: "orrery.postgres.admin")) async throws -> String {
        let identifier = try quoted(name)
        let location = try PostgresLocation(url: serverURL)
        try await withServer(location, logger: logger) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(identifier)"), logger: logger)
        }
        return replacingDatabase(in: serverURL, with: name)
    }

    /// Drops database `name`, disconnecting whoever is still connected to it.
    public static func dropDatabase(_ name: String, serverURL: String, logger: Logger = Logger(label: "orrery.postgres.admin")) async throws {
        let identifier = try quoted(name)
        let location = try PostgresLocation(url: serverURL)
        try await withServer(location, logger: logger) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(identifier) WITH (FORCE)"), logger: logger)
        }
    }

    private static func quoted(_ name: String) throws -> String {
        guard !name.isEmpty, name.count < 60, name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }) else {
            throw OrreryError(.invalidField, "a database name here is lower-case letters, digits and _", field: "database")
        }
        return "\"\(name)\""
    }

    private static func withServer(_ location: PostgresLocation, logger: Logger, _ body: @escaping @Sendable (PostgresConnection) async throws -> Void) async throws {
        let client = PostgresClient(configuration: location.clientConfiguration, backgroundLogger: logger)
        let runner = client.startRunning()
        defer { runner.cancel() }
        try await client.withConnection { connection in try await body(connection) }
    }

    /// `serverURL` with its path (the database) replaced.
    static func replacingDatabase(in serverURL: String, with name: String) -> String {
        guard var components = URLComponents(string: serverURL) else { return serverURL }
        components.path = "/" + name
        return components.string ?? serverURL
    }
}
