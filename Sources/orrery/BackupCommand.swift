import ArgumentParser
import Foundation
import OrreryCore
import OrrerySQLite

/// `orrery backup FILE`: a consistent copy of the embedded SQLite store, taken while the
/// server runs (SQLite's online backup; the server goes on writing). PostgreSQL has its own
/// tools for this, which the README names; this command refuses and says so.
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy the SQLite store to a new file while the server runs (restore: README).")

    @OptionGroup var store: StoreOptions

    @Argument(help: "The new file to write (never overwritten).")
    var file: String

    func run() async throws {
        let settings = try store.settings()
        if let url = try settings.string(store.database, "database"), !url.isEmpty {
            throw ValidationError("orrery backup copies the embedded SQLite store; for PostgreSQL use pg_dump -Fc (and pg_restore to restore), as the README describes")
        }
        let source = (try store.resolvedDataDir(settings) as NSString).appendingPathComponent("orrery.sqlite")
        guard FileManager.default.fileExists(atPath: source) else {
            throw ValidationError("no Orrery database at \(source) (--data-dir or ORRERY_DATA_DIR says where it is)")
        }
        guard !FileManager.default.fileExists(atPath: file) else {
            throw ValidationError("\(file) already exists; a backup is written to a new file")
        }
        let opened = try await store.open(exclusive: false, settings: settings)
        defer { opened.close() }
        guard case .sqlite(let sqlite) = opened else { throw ValidationError("orrery backup copies the embedded SQLite store only") }
        do {
            let summary = try sqlite.backup(to: file)
            say("backed up \(source) to \(summary.path): \(summary.tasks) tasks, \(summary.runs) runs, \(summary.bytes) bytes, integrity ok")
        } catch let error as OrreryError {
            throw ValidationError(error.description)
        }
    }
}
