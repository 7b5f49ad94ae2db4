#!/usr/bin/env python3
"""What writing a task's last status costs SQLite alone, per task, when the tasks whose runs
end together are neighbours (made together) or scattered (cron tasks made over months), for
Orrery's wide `tasks` row and for a narrow table of the same ids (issue 16).

    python3 Benchmarks/task_writes.py --orrery .build-release/release/orrery [--tasks 100000]

The tasks are as users write them (a name, a description, a shell command, labels, a cron
schedule in a zone, a retry and a misfire block): 100,000 of them are about 60 MB, more than
the 16 MB page cache Orrery gives SQLite. Each transaction updates `last_status` and
`last_run_at` of 100 tasks with the statement Orrery's end uses, run by the `sqlite3` shell
(WAL, synchronous=NORMAL), so no Orrery process works between the statements. Bounded: a
temporary directory, 1,000 transactions per case.
"""
import argparse
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import debian_tool  # noqa: E402

FILL = """
WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {n})
INSERT INTO tasks (id, project, name, description, module, params, labels, schedule, schedule_type, enabled, queue, priority,
    retry, overlap, misfire, created_at, updated_at, version)
SELECT printf('01KJ%022d', n), 'default', printf('nightly report %d', n), 'a task as users write them, with a sentence of description',
    'shell', '{{"command":["/usr/local/bin/report","--since","1d","--format","csv"]}}', '{{"team":"ops","env":"prod"}}',
    printf('{{"type":"cron","expression":"%d %d * * *","timezone":"Europe/Paris"}}', n % 60, (n / 60) % 24), 'cron', 1, 'default', 0,
    '{{"max_attempts":3,"backoff":"exponential","initial_sec":10}}', 'skip', '{{"policy":"run_once","grace_sec":60}}', 0, 0, 1 FROM g;
CREATE TABLE task_state (id TEXT PRIMARY KEY, last_status TEXT, last_run_at INTEGER) STRICT, WITHOUT ROWID;
INSERT INTO task_state (id) SELECT id FROM tasks;
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orrery", required=True, help="the orrery binary (its `migrate` makes the schema)")
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--transactions", type=int, default=1_000)
    args = ap.parse_args()
    shell = debian_tool("sqlite3", "sqlite3")
    rng = random.Random(1)
    with tempfile.TemporaryDirectory(prefix="orrery-task-writes-") as d:
        subprocess.run([args.orrery, "migrate", "--data-dir", d], check=True, capture_output=True)
        path = os.path.join(d, "orrery.sqlite")
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode = WAL")
        db.executescript(FILL.format(n=args.tasks))
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        ids = [f"01KJ{n:022d}" for n in range(1, args.tasks + 1)]
        for order in ("neighbours", "scattered"):
            for table in ("tasks", "task_state"):
                lines = ["PRAGMA journal_mode = WAL;", "PRAGMA synchronous = NORMAL;", "PRAGMA cache_size = -16384;"]
                for t in range(args.transactions):
                    start = (t * args.batch) % args.tasks
                    chunk = rng.sample(ids, args.batch) if order == "scattered" else ids[start:start + args.batch]
                    values = ", ".join(f"('{i}', 'complete', {t})" for i in chunk)
                    lines.append(f"BEGIN IMMEDIATE; WITH u(id, status, at) AS (VALUES {values}) "
                                 f"UPDATE {table} SET last_status = u.status, last_run_at = u.at FROM u WHERE {table}.id = u.id; COMMIT;")
                script = os.path.join(d, "writes.sql")
                with open(script, "w") as f:
                    f.write("\n".join(lines))
                with open(script) as f:
                    started = time.monotonic()
                    subprocess.run([shell, "-bail", path], stdin=f, check=True, capture_output=True, timeout=600)
                    elapsed = time.monotonic() - started
                n = args.transactions * args.batch
                print(f"{order:10s} {table:10s}: {n / elapsed:9,.0f} task writes/s = {elapsed / n * 1e6:5.2f} µs per task, "
                      f"its share of the commit included", flush=True)


if __name__ == "__main__":
    main()
