import Foundation
import Logging
import OrreryCore
import PostgresNIO

/// The schema, as versioned migrations in plain SQL, recorded in `schema_migrations`.
/// Once shipped a migration never changes: append a new one instead. Nodes that start
/// together serialize on an advisory lock, so each migration runs exactly once.
enum PostgresMigrations {
    struct Migration: Sendable {
        var name: String
        var statements: [PostgresQuery]
    }

    /// A fixed key for `pg_advisory_xact_lock` while migrating.
    static let lockKey: Int64 = 0x6F72_7265_7279_6D67

    static let all: [Migration] = [
        Migration(name: "v1-tasks-runs-logs-tokens-leader", statements: [
            """
            CREATE TABLE tasks (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                project TEXT NOT NULL,
                name TEXT NOT NULL,
                description TEXT,
                module TEXT NOT NULL,
                params TEXT NOT NULL,
                resource_id TEXT,
                labels TEXT NOT NULL,
                schedule TEXT NOT NULL,
                schedule_type TEXT NOT NULL,
                enabled BOOLEAN NOT NULL,
                queue TEXT NOT NULL,
                priority BIGINT NOT NULL,
                timeout_sec BIGINT,
                retry TEXT NOT NULL,
                overlap TEXT NOT NULL,
                misfire TEXT NOT NULL,
                notify TEXT,
                owner TEXT,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL,
                version BIGINT NOT NULL,
                last_run_at BIGINT,
                last_status TEXT,
                deleted_at BIGINT
            )
            """,
            "CREATE INDEX tasks_project ON tasks(project, seq) WHERE deleted_at IS NULL",
            "CREATE INDEX tasks_module ON tasks(module, seq) WHERE deleted_at IS NULL",
            "CREATE INDEX tasks_resource ON tasks(resource_id, seq) WHERE deleted_at IS NULL",
            """
            CREATE TABLE runs (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                task_id TEXT NOT NULL,
                project TEXT NOT NULL,
                module TEXT NOT NULL,
                resource_id TEXT,
                attempt BIGINT NOT NULL,
                status TEXT NOT NULL,
                trigger TEXT NOT NULL,
                performed_by TEXT,
                slot BIGINT,
                scheduled_at BIGINT NOT NULL,
                started_at BIGINT,
                finished_at BIGINT,
                canceled_at BIGINT,
                updated_at BIGINT NOT NULL,
                priority BIGINT NOT NULL,
                progress_percent DOUBLE PRECISION,
                progress_message TEXT,
                result TEXT,
                error_code TEXT,
                error_message TEXT,
                node TEXT,
                lease_expires_at BIGINT,
                cancel_requested_at BIGINT,
                dismissed_by TEXT,
                dismissed_at BIGINT,
                held BOOLEAN NOT NULL DEFAULT false,
                queue TEXT NOT NULL DEFAULT 'default'
            )
            """,
            // A schedule slot fires at most once per task.
            "CREATE UNIQUE INDEX runs_task_slot ON runs(task_id, slot) WHERE slot IS NOT NULL",
            // Claiming and the dispatcher's sleep: partial indexes as small as the backlog,
            // whatever the history.
            "CREATE INDEX runs_claim ON runs(priority DESC, scheduled_at) WHERE status = 'scheduled' AND NOT held",
            "CREATE INDEX runs_lease ON runs(lease_expires_at) WHERE status = 'active'",
            "CREATE INDEX runs_node_active ON runs(node) WHERE status = 'active'",
            "CREATE INDEX runs_task_next ON runs(task_id, scheduled_at) WHERE status = 'scheduled'",
            "CREATE INDEX runs_task_active ON runs(task_id) WHERE status = 'active'",
            "CREATE INDEX runs_held ON runs(task_id) WHERE held",
            "CREATE INDEX runs_task ON runs(task_id, seq)",
            "CREATE INDEX runs_status ON runs(status, seq)",
            "CREATE INDEX runs_module ON runs(module, seq)",
            "CREATE INDEX runs_resource ON runs(resource_id, seq)",
            "CREATE INDEX runs_finished ON runs(finished_at) WHERE finished_at IS NOT NULL",
            """
            CREATE TABLE run_logs (
                run_id TEXT NOT NULL,
                idx BIGINT NOT NULL,
                level TEXT NOT NULL,
                msg TEXT NOT NULL,
                progress_percent DOUBLE PRECISION,
                timestamp BIGINT NOT NULL,
                PRIMARY KEY (run_id, idx)
            )
            """,
            """
            CREATE TABLE tokens (
                id TEXT PRIMARY KEY,
                hash TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL,
                role TEXT NOT NULL,
                project TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                expires_at BIGINT,
                revoked_at BIGINT
            )
            """,
            // One row per leadership (housekeeping): who holds it and until when.
            """
            CREATE TABLE leaders (
                name TEXT PRIMARY KEY,
                node TEXT NOT NULL,
                elected_at BIGINT NOT NULL,
                expires_at BIGINT NOT NULL
            )
            """,
        ]),
        Migration(name: "v2-users-idempotency", statements: [
            """
            CREATE TABLE users (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                role TEXT NOT NULL,
                project TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                disabled_at BIGINT
            )
            """,
            "ALTER TABLE tokens ADD COLUMN user_id TEXT",
            "CREATE INDEX tokens_user ON tokens(user_id) WHERE user_id IS NOT NULL",
            """
            CREATE TABLE idempotency_keys (
                project TEXT NOT NULL,
                key TEXT NOT NULL,
                request_hash TEXT NOT NULL,
                task_id TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                PRIMARY KEY (project, key)
            )
            """,
            // Listing runs by project (every non-admin listing).
            "CREATE INDEX runs_project ON runs(project, seq)",
        ]),
        Migration(name: "v3-token-rights", statements: [
            // Rights beyond the role (`shell`), a JSON array of names as in SQLite.
            "ALTER TABLE tokens ADD COLUMN rights TEXT NOT NULL DEFAULT '[]'",
        ]),
        Migration(name: "v4-run-changes", statements: [
            // The live event stream reads the runs changed since its last look.
            "CREATE INDEX runs_changed ON runs(updated_at, seq)",
        ]),
        Migration(name: "v5-audit-token-prefix", statements: [
            "ALTER TABLE tokens ADD COLUMN prefix TEXT",
            """
            CREATE TABLE audit_log (
                seq BIGSERIAL PRIMARY KEY,
                at BIGINT NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                target TEXT NOT NULL,
                project TEXT
            )
            """,
        ]),
        Migration(name: "v6-events", statements: [
            // Events (issue 12): each accepted event, the runs it fired, and the chain it is
            // part of. `dedupe_key` is the event id while it may still be replayed (24 h).
            """
            CREATE TABLE events (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                id TEXT NOT NULL,
                project TEXT NOT NULL,
                type TEXT NOT NULL,
                resource_id TEXT,
                payload TEXT,
                received_at BIGINT NOT NULL,
                caused_by_run TEXT,
                depth BIGINT NOT NULL DEFAULT 0,
                fired TEXT NOT NULL DEFAULT '[]',
                dedupe_key TEXT
            )
            """,
            "CREATE UNIQUE INDEX events_dedupe ON events(project, dedupe_key) WHERE dedupe_key IS NOT NULL",
            "CREATE INDEX events_project ON events(project, seq)",
            "CREATE INDEX events_type ON events(type, seq)",
            "CREATE INDEX events_received ON events(received_at)",
            "ALTER TABLE runs ADD COLUMN event_id TEXT",
            "ALTER TABLE runs ADD COLUMN event_seq BIGINT",
            // The trigger tasks an event fires: one seek by project and event type.
            """
            CREATE INDEX tasks_trigger_event ON tasks(project, ((schedule::jsonb) ->> 'event'))
                WHERE schedule_type = 'trigger' AND deleted_at IS NULL
            """,
        ]),
        // External modules (issue 13): done by worker programs over HTTP, never in-process.
        Migration(name: "v7-external-modules", statements: [
            "CREATE TABLE external_modules (name TEXT PRIMARY KEY, descriptor TEXT NOT NULL, created_at BIGINT NOT NULL)",
        ]),
        // The notification outbox (issue 12): one row per recipient or webhook of a run end,
        // written with the end, claimed FOR UPDATE SKIP LOCKED so one node sends each.
        Migration(name: "v8-notifications", statements: [
            """
            CREATE TABLE notification_deliveries (
                id TEXT PRIMARY KEY,
                run_id TEXT NOT NULL,
                task_id TEXT NOT NULL,
                task_name TEXT NOT NULL,
                project TEXT NOT NULL,
                channel TEXT NOT NULL,
                target TEXT NOT NULL,
                secret TEXT,
                event TEXT NOT NULL,
                status TEXT NOT NULL,
                attempts JSONB NOT NULL DEFAULT '[]',
                next_attempt_at BIGINT,
                node TEXT,
                lease_expires_at BIGINT,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
            )
            """,
            "CREATE INDEX notification_deliveries_due ON notification_deliveries(next_attempt_at) WHERE status = 'pending'",
            "CREATE INDEX notification_deliveries_run ON notification_deliveries(run_id)",
            "CREATE INDEX notification_deliveries_task ON notification_deliveries(task_id, created_at)",
            "CREATE INDEX notification_deliveries_created ON notification_deliveries(created_at)",
        ]),
        // Listing finished runs newest first (issue 16): every recurring task's next run is
        // scheduled and newer than all the history, so walking `runs_pkey` (the plan chosen for
        // a common module or project, whose rows lie in seq order) starts with the whole backlog.
        // This holds finished runs only, in seq order: one entry written when a run ends. A rare
        // module or project is still reached by `runs_module` / `runs_project`.
        Migration(name: "v9-finished-run-listing", statements: [
            "CREATE INDEX runs_finished_seq ON runs(seq) WHERE finished_at IS NOT NULL",
        ]),
        // Cheaper writes on the firing path (issue 20). Every run end updates its task's
        // `last_status` and `last_run_at`, which no index holds: with room left on each page
        // the new row version stays on its page (a HOT update) and no index is written.
        // Most runs have no resource id, and none is ever looked up by a missing one (a
        // filter is `resource_id = $1`): they leave that index, one fewer entry to write per
        // insert and per status change.
        Migration(name: "v10-firing-writes", statements: [
            "ALTER TABLE tasks SET (fillfactor = 80)",
            "CREATE INDEX runs_resource_set ON runs(resource_id, seq) WHERE resource_id IS NOT NULL",
            "DROP INDEX runs_resource",
        ]),
        // The tasks that notify anyone (issue 16): a run end looks its tasks up here, a seek
        // in a small index, before it reads any run for its notifications. It holds neither
        // `last_status` nor `last_run_at`, so a task's last-status update stays HOT.
        Migration(name: "v11-tasks-notify", statements: [
            "CREATE INDEX tasks_notify ON tasks(id) WHERE notify IS NOT NULL",
        ]),
        // No task write per run end (issue 16): a task's last run is read from its runs
        // (`PostgresRecords.lastRunSQL`), newest-started first in `runs_task_last`, one entry
        // written when a run ends, instead of a new version of the task row at every end
        // (`Benchmarks/postgres.md`: 5-15% more runs/s). A failed run
        // that was retried leaves the last status to its next attempt: `retried`, set by the
        // end that schedules the retry, marked here for the failures whose retry has not ended
        // (once it has, the retry is the newer run anyway). `tasks.last_status` and
        // `last_run_at` now keep only what pruning deleted (`keepLastRuns`).
        Migration(name: "v12-last-run-from-runs", statements: [
            "ALTER TABLE runs ADD COLUMN retried BOOLEAN NOT NULL DEFAULT false",
            """
            UPDATE runs f SET retried = true FROM runs x
            WHERE x.task_id = f.task_id AND f.seq < x.seq AND f.attempt = x.attempt - 1 AND f.status = 'failed'
                AND x.status IN ('scheduled', 'active') AND x.trigger = 'retry'
            """,
            """
            CREATE INDEX runs_task_last ON runs(task_id, (coalesce(started_at, finished_at)) DESC, finished_at DESC, seq DESC)
            WHERE finished_at IS NOT NULL AND NOT retried
            """,
        ]),
    ]
}

extension PostgresStore {
    /// Applies pending migrations (in one transaction, under an advisory lock); returns every
    /// applied migration's name, oldest first.
    @discardableResult
    public func migrate() async throws -> [String] {
        try await transaction { connection in
            try await connection.execute("SELECT pg_advisory_xact_lock(\(PostgresMigrations.lockKey))", logger: self.logger)
            try await connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                logger: self.logger)
            let done = Set(try await connection.rows("SELECT name FROM schema_migrations", logger: self.logger).map { try $0[0].decode(String.self) })
            for migration in PostgresMigrations.all where !done.contains(migration.name) {
                for statement in migration.statements { try await connection.execute(statement, logger: self.logger) }
                try await connection.execute("INSERT INTO schema_migrations (name) VALUES (\(migration.name))", logger: self.logger)
                self.logger.info("applied migration", metadata: ["name": "\(migration.name)"])
            }
            // In the order they were applied; those applied together (one transaction, one
            // `applied_at`) in the list's order ("v10" sorts before "v2" as text).
            let order = Dictionary(uniqueKeysWithValues: PostgresMigrations.all.enumerated().map { ($1.name, $0) })
            return try await connection.rows("SELECT name, applied_at FROM schema_migrations", logger: self.logger)
                .map { (name: try $0[0].decode(String.self), at: try $0[1].decode(Date.self)) }
                .sorted { ($0.at, order[$0.name] ?? .max) < ($1.at, order[$1.name] ?? .max) }
                .map(\.name)
        }
    }
}
