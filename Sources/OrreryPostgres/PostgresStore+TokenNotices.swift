public import OrreryCore
import PostgresNIO

extension PostgresStore: TokenNotifyingStore {
    /// The channel of token changes; a notice means "forget cached token grants".
    static let tokenChannel = "orrery_tokens"

    /// Tells every listening node, when this transaction commits, that tokens changed.
    func notifyTokensChanged(_ connection: PostgresConnection) async throws {
        try await connection.execute("SELECT pg_notify(\(Self.tokenChannel), '')", logger: logger)
    }

    public func listenForTokenChanges(_ changed: @escaping @Sendable () -> Void) async {
        // A notice missed while reconnecting: forget everything on every (re)connection.
        await listen(on: Self.tokenChannel, what: "token changes", connected: changed) { _ in changed() }
    }
}
