import GRDB

/// The schema, as versioned migrations. Once shipped a migration never changes:
/// append a new one instead. Migrations use plain SQL, never application types.
enum Migrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-tasks-runs-logs-tokens") { db in
            try db.execute(sql: """
                CREATE TABLE tasks (
                    seq INTEGER PRIMARY KEY,
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
                    enabled INTEGER NOT NULL,
                    queue TEXT NOT NULL,
                    priority INTEGER NOT NULL,
                    timeout_sec INTEGER,
                    retry TEXT NOT NULL,
                    overlap TEXT NOT NULL,
                    misfire TEXT NOT NULL,
                    notify TEXT,
                    owner TEXT,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    version INTEGER NOT NULL,
                    last_run_at INTEGER,
                    last_status TEXT,
                    deleted_at INTEGER
                ) STRICT;
                CREATE INDEX tasks_project ON tasks(project, seq) WHERE deleted_at IS NULL;
                CREATE INDEX tasks_module ON tasks(module, seq) WHERE deleted_at IS NULL;
                CREATE INDEX tasks_resource ON tasks(resource_id, seq) WHERE deleted_at IS NULL;

                CREATE TABLE runs (
                    seq INTEGER PRIMARY KEY,
                    id TEXT NOT NULL UNIQUE,
                    task_id TEXT NOT NULL,
                    project TEXT NOT NULL,
                    module TEXT NOT NULL,
                    resource_id TEXT,
                    attempt INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    trigger TEXT NOT NULL,
                    performed_by TEXT,
                    slot INTEGER,
                    scheduled_at INTEGER NOT NULL,
                    started_at INTEGER,
                    finished_at INTEGER,
                    canceled_at INTEGER,
                    updated_at INTEGER NOT NULL,
                    priority INTEGER NOT NULL,
                    progress_percent REAL,
                    progress_message TEXT,
                    result TEXT,
                    error_code TEXT,
                    error_message TEXT,
                    node TEXT,
                    lease_expires_at INTEGER,
                    cancel_requested_at INTEGER,
                    dismissed_by TEXT,
                    dismissed_at INTEGER
                ) STRICT;
                -- A schedule slot fires at most once per task.
                CREATE UNIQUE INDEX runs_task_slot ON runs(task_id, slot) WHERE slot IS NOT NULL;
                -- Claiming (due runs by priority then time) and the dispatcher's sleep (the
                -- earliest due time, one seek per priority level). Partial indexes stay as
                -- small as the backlog, whatever the history.
                CREATE INDEX runs_claim ON runs(priority DESC, scheduled_at) WHERE status = 'scheduled';
                CREATE INDEX runs_lease ON runs(lease_expires_at) WHERE status = 'active';
                -- A task's next run, and its history.
                CREATE INDEX runs_task_next ON runs(task_id, scheduled_at) WHERE status = 'scheduled';
                CREATE INDEX runs_task ON runs(task_id, seq);
                -- Listing by status, module, resource.
                CREATE INDEX runs_status ON runs(status, seq);
                CREATE INDEX runs_module ON runs(module, seq);
                CREATE INDEX runs_resource ON runs(resource_id, seq);

                CREATE TABLE run_logs (
                    run_id TEXT NOT NULL,
                    idx INTEGER NOT NULL,
                    level TEXT NOT NULL,
                    msg TEXT NOT NULL,
                    progress_percent REAL,
                    timestamp INTEGER NOT NULL,
                    PRIMARY KEY (run_id, idx)
                ) STRICT, WITHOUT ROWID;

                CREATE TABLE tokens (
                    id TEXT PRIMARY KEY,
                    hash TEXT NOT NULL UNIQUE,
                    name TEXT NOT NULL,
                    role TEXT NOT NULL,
                    project TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER,
                    revoked_at INTEGER
                ) STRICT;
                """)
        }
        migrator.registerMigration("v2-held-runs") { db in
            // `overlap: queue` holds a run until its task's active run ends; held runs are
            // not due. Misfire and overlap decisions need a task's active and held runs.
            try db.execute(sql: """
                ALTER TABLE runs ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
                DROP INDEX runs_claim;
                CREATE INDEX runs_claim ON runs(priority DESC, scheduled_at) WHERE status = 'scheduled' AND held = 0;
                CREATE INDEX runs_task_active ON runs(task_id) WHERE status = 'active';
                CREATE INDEX runs_held ON runs(task_id) WHERE held = 1;
                """)
        }
        migrator.registerMigration("v3-retention") { db in
            try db.execute(sql: """
                CREATE INDEX runs_finished ON runs(finished_at) WHERE finished_at IS NOT NULL;
                """)
        }
        migrator.registerMigration("v4-run-queues") { db in
            try db.execute(sql: "ALTER TABLE runs ADD COLUMN queue TEXT NOT NULL DEFAULT 'default'")
        }
        migrator.registerMigration("v5-users-idempotency") { db in
            try db.execute(sql: """
                CREATE TABLE users (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    role TEXT NOT NULL,
                    project TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    disabled_at INTEGER
                ) STRICT;
                ALTER TABLE tokens ADD COLUMN user_id TEXT;
                ALTER TABLE tokens ADD COLUMN rights TEXT NOT NULL DEFAULT '[]';
                CREATE INDEX tokens_user ON tokens(user_id) WHERE user_id IS NOT NULL;
                CREATE TABLE idempotency_keys (
                    project TEXT NOT NULL,
                    key TEXT NOT NULL,
                    request_hash TEXT NOT NULL,
                    task_id TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    PRIMARY KEY (project, key)
                ) STRICT, WITHOUT ROWID;
                -- Listing tasks and runs by project (every non-admin listing).
                CREATE INDEX runs_project ON runs(project, seq);
                """)
        }
        migrator.registerMigration("v6-run-changes") { db in
            // The live event stream reads the runs changed since its last look.
            try db.execute(sql: "CREATE INDEX runs_changed ON runs(updated_at, seq)")
        }
        migrator.registerMigration("v7-audit-token-prefix") { db in
            try db.execute(sql: """
                ALTER TABLE tokens ADD COLUMN prefix TEXT;
                CREATE TABLE audit_log (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    at INTEGER NOT NULL,
                    actor TEXT NOT NULL,
                    action TEXT NOT NULL,
                    target TEXT NOT NULL,
                    project TEXT
                ) STRICT;
                """)
        }
        migrator.registerMigration("v8-events") { db in
            // Events (issue 12): each accepted event, the runs it fired, and the chain it is
            // part of. `dedupe_key` is the event id while it may still be replayed (24 h).
            try db.execute(sql: """
                CREATE TABLE events (
                    seq INTEGER PRIMARY KEY,
                    id TEXT NOT NULL,
                    project TEXT NOT NULL,
                    type TEXT NOT NULL,
                    resource_id TEXT,
                    payload TEXT,
                    received_at INTEGER NOT NULL,
                    caused_by_run TEXT,
                    depth INTEGER NOT NULL DEFAULT 0,
                    fired TEXT NOT NULL DEFAULT '[]',
                    dedupe_key TEXT
                ) STRICT;
                CREATE UNIQUE INDEX events_dedupe ON events(project, dedupe_key) WHERE dedupe_key IS NOT NULL;
                CREATE INDEX events_project ON events(project, seq);
                CREATE INDEX events_type ON events(type, seq);
                CREATE INDEX events_received ON events(received_at);
                ALTER TABLE runs ADD COLUMN event_id TEXT;
                ALTER TABLE runs ADD COLUMN event_seq INTEGER;
                -- The trigger tasks an event fires: one seek by project and event type.
                CREATE INDEX tasks_trigger_event ON tasks(project, json_extract(schedule, '$.event'))
                    WHERE schedule_type = 'trigger' AND deleted_at IS NULL;
                """)
        }
        migrator.registerMigration("v9-external-modules") { db in
            // External modules (issue 13): done by worker programs over HTTP, never in-process.
            try db.execute(sql: """
                CREATE TABLE external_modules (
                    name TEXT PRIMARY KEY,
                    descriptor TEXT NOT NULL,
                    created_at INTEGER NOT NULL
                ) STRICT;
                """)
        }
        migrator.registerMigration("v10-notifications") { db in
            // The notification outbox (issue 12): one row per recipient or webhook of a run
            // end, written with the end, sent by the Notifier under a lease, every attempt kept.
            try db.execute(sql: """
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
                    attempts TEXT NOT NULL DEFAULT '[]',
                    next_attempt_at INTEGER,
                    node TEXT,
                    lease_expires_at INTEGER,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                ) STRICT;
                CREATE INDEX notification_deliveries_due ON notification_deliveries(next_attempt_at) WHERE status = 'pending';
                CREATE INDEX notification_deliveries_run ON notification_deliveries(run_id);
                CREATE INDEX notification_deliveries_task ON notification_deliveries(task_id, created_at);
                CREATE INDEX notification_deliveries_created ON notification_deliveries(created_at);
                """)
        }
        migrator.registerMigration("v11-finished-run-listing") { db in
            // Listing finished runs by module or project, newest first (issue 16): every
            // recurring task's next run is scheduled and newer than all the history, so
            // `runs_module` and `runs_project` start with the whole backlog. These hold
            // finished runs only: one entry each written when a run ends.
            try db.execute(sql: """
                CREATE INDEX runs_module_finished ON runs(module, seq) WHERE finished_at IS NOT NULL;
                CREATE INDEX runs_project_finished ON runs(project, seq) WHERE finished_at IS NOT NULL;
                """)
        }
        migrator.registerMigration("v12-task-open-seq") { db in
            // A task's open runs without `runs_task_next` (issue 16). That index held every
            // scheduled run by task, so each claim deleted an entry on a random leaf of it: with
            // runs falling due in an order unrelated to their tasks' ids (cron tasks made over
            // time), that one write was about 40% of a claim. A task's open (scheduled or
            // active) runs are now found in `runs_task` from `tasks.open_seq` on: the seq of its
            // oldest open run, or the largest integer when it has none. The trigger
            // `runs_open_seq` lowers it when a run is made open below it (a task's first run;
            // SQLite may hand out the rowid of a deleted largest row again), and a task's run
            // ends move it up (with its last status, in the same write of the task row).
            try db.execute(sql: """
                ALTER TABLE tasks ADD COLUMN open_seq INTEGER NOT NULL DEFAULT 9223372036854775807;
                UPDATE tasks SET open_seq = min(
                    coalesce((SELECT min(seq) FROM runs INDEXED BY runs_task_next WHERE task_id = tasks.id AND status = 'scheduled'), 9223372036854775807),
                    coalesce((SELECT min(seq) FROM runs INDEXED BY runs_task_active WHERE task_id = tasks.id AND status = 'active'), 9223372036854775807));
                DROP INDEX runs_task_next;
                CREATE TRIGGER runs_open_seq AFTER INSERT ON runs WHEN NEW.status IN ('scheduled', 'active')
                BEGIN
                    UPDATE tasks SET open_seq = NEW.seq WHERE id = NEW.task_id AND open_seq > NEW.seq;
                END;
                """)
        }
        migrator.registerMigration("v13-tasks-notify") { db in
            // The tasks that notify anyone (issue 16): a run end looks its tasks up here, a
            // seek in a small index, before it reads any run for its notifications.
            try db.execute(sql: "CREATE INDEX tasks_notify ON tasks(id) WHERE notify IS NOT NULL")
        }
        migrator.registerMigration("v14-retried-runs") { db in
            // A failed run that was retried (issue 16): a task's last run is read from its runs
            // (`Records.lastRunOfRunsSQL`), and a retried failure leaves it to its next attempt.
            // Set by the end that schedules the retry. Marked here for the failures whose retry
            // has not ended; once it has, the retry is the newer run anyway.
            try db.execute(sql: """
                ALTER TABLE runs ADD COLUMN retried INTEGER NOT NULL DEFAULT 0;
                UPDATE runs SET retried = 1 WHERE seq IN (
                    SELECT f.seq FROM runs x JOIN runs f INDEXED BY runs_task
                        ON f.task_id = x.task_id AND f.seq < x.seq AND f.attempt = x.attempt - 1 AND f.status = 'failed'
                    WHERE x.status IN ('scheduled', 'active') AND x.trigger = 'retry');
                """)
        }
        return migrator
    }
}
