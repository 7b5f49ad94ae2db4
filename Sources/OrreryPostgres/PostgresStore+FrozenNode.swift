import OrreryCore
import PostgresNIO

extension PostgresStore {
    /// A test's stand-in for a node frozen inside a transaction: opens one, locks the run's
    /// row as a record or a lease renewal does, calls `locked`, then sends nothing for
    /// `duration` (or until the calling task is cancelled). The transaction's end, or the
    /// error of a session the server ended (`transactionIdleLimit`), is not reported.
    package func holdRunLocked(_ runID: String, for duration: Duration, locked: @escaping @Sendable () -> Void) async {
        _ = try? await transaction { connection in
            try await connection.execute("SELECT 1 FROM runs WHERE id = \(runID) FOR UPDATE", logger: self.logger)
            locked()
            try? await Task.sleep(for: duration)
        }
    }
}
