#!/usr/bin/env python3
"""The store's own ceiling: how many runs per second the database alone can claim and end on
this machine, with no Orrery process doing any work (issue 16).

    Benchmarks/ceiling.py --orrery .build-release/release/orrery            # SQLite and a throwaway PostgreSQL
    Benchmarks/ceiling.py --orrery BIN --postgres URL --only postgres       # a server you started
    Benchmarks/ceiling.py --orrery BIN --smoke                               # small sizes (CI)

Each run's durable life in a queue is at least: claimed (a row update), ended (a row
update). This script does only that, in the most favourable form there is: one transaction
claims a batch of B due runs and ends the same runs, with no task read, no retry policy, no
event, no notification, no last status, and no client work at all: pgbench (PostgreSQL)
or the sqlite3 shell (SQLite) sends the statements, the database does the rest. It measures two tables:

- `orrery`: the `runs` table exactly as Orrery's migrations create it (`orrery migrate`), with
  its listing indexes, filled with scheduled runs;
- `bare`: the least a durable queue needs (id, status, node; a partial index of ready rows and
  one of active rows), what a queue with no run history or listing would pay;
- `split`: the bare queue as a hot table beside Orrery's `runs` table as the history: a run's
  end deletes it from the queue and inserts it finished into `runs` (with its listing
  indexes), in the same transaction: what a queue split from the run history would pay.

So the figures are upper bounds of what any Orrery node could reach on this machine: the
node's own CPU (HTTP, decisions, the modules) comes out of the same two cores. Everything is
on loopback or in a temporary directory, bounded in rows and seconds.
"""
import argparse
import glob
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import Postgres, database_url, debian_tool, psql, run, say  # noqa: E402

# rows: scheduled runs in each table; seconds: pgbench's time; sqlite_runs: runs the sqlite3
# shell claims and ends (it runs a script, not for a time).
SIZES = {"full": dict(rows=1_500_000, seconds=8, sqlite_runs=400_000, batches=[100, 1000], clients=[2]),
         "smoke": dict(rows=300_000, seconds=1, sqlite_runs=20_000, batches=[100], clients=[2])}


# ---------------------------------------------------------------- PostgreSQL

# The split's history: a run's end inserts it, finished, into Orrery's runs table (with its
# indexes) and deletes it from the queue. `node` is the claiming node's SQL expression.
def history_end(node):
    return f"""INSERT INTO runs (id, task_id, project, module, attempt, status, trigger, scheduled_at, started_at, finished_at, updated_at, priority)
  SELECT 'run' || id, 'task' || (id % 1000), 'default', 'noop', 1, 'succeeded', 'manual', id, 1, 3, 3, 0
  FROM bare WHERE status = 'active' AND node = {node};
DELETE FROM bare WHERE status = 'active' AND node = {node};
"""


PG_FILL = {
    "orrery": """
        INSERT INTO runs (id, task_id, project, module, attempt, status, trigger, scheduled_at, updated_at, priority)
        SELECT 'run' || g, 'task' || (g % 1000), 'default', 'noop', 1, 'scheduled', 'manual', g, 0, 0
        FROM generate_series(1, {rows}) g""",
    "bare": """
        CREATE TABLE bare (id BIGINT PRIMARY KEY, status TEXT NOT NULL, node TEXT);
        CREATE INDEX bare_ready ON bare (id) WHERE status = 'scheduled';
        CREATE INDEX bare_active ON bare (node) WHERE status = 'active';
        INSERT INTO bare SELECT g, 'scheduled', NULL FROM generate_series(1, {rows}) g""",
}
PG_FILL["split"] = PG_FILL["bare"]  # the same queue, with Orrery's runs table beside it

PG_NODE = "'n' || :client_id"
PG_CLAIM_BARE = f"""UPDATE bare SET status = 'active', node = {PG_NODE}
  WHERE id = ANY(ARRAY(SELECT id FROM bare WHERE status = 'scheduled' ORDER BY id LIMIT :batch FOR UPDATE SKIP LOCKED));
"""

# One pgbench transaction: claim up to :batch due runs for this client, end them.
PG_SCRIPT = {
    "orrery": """BEGIN;
UPDATE runs SET status = 'active', node = 'n' || :client_id, started_at = 1, lease_expires_at = 2, updated_at = 1
  WHERE id = ANY(ARRAY(SELECT id FROM runs WHERE status = 'scheduled' AND NOT held
                       ORDER BY priority DESC, scheduled_at LIMIT :batch FOR UPDATE SKIP LOCKED));
UPDATE runs SET status = 'succeeded', finished_at = 3, updated_at = 3, lease_expires_at = NULL
  WHERE status = 'active' AND node = 'n' || :client_id;
COMMIT;
""",
    "bare": f"""BEGIN;
{PG_CLAIM_BARE}UPDATE bare SET status = 'succeeded' WHERE status = 'active' AND node = {PG_NODE};
COMMIT;
""",
    "split": f"""BEGIN;
{PG_CLAIM_BARE}{history_end(PG_NODE)}COMMIT;
""",
}

DONE = {"orrery": "SELECT count(*) FROM runs WHERE status = 'succeeded'",
        "bare": "SELECT count(*) FROM bare WHERE status = 'succeeded'"}
DONE["split"] = DONE["orrery"]  # ended runs are in the history
TABLES = ("orrery", "bare", "split")
NAMES = {"orrery": "Orrery's runs table", "bare": "a bare queue table", "split": "a bare queue, Orrery's runs table as history"}
MIGRATED = ("orrery", "split")  # the tables that need Orrery's schema


def postgres_ceiling(server_url, orrery, s):
    """{(table, batch, clients): runs/s} on the PostgreSQL server at server_url."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"), key=lambda p: int(p.split("/")[4]))
    pgbench = found[-1] if found else shutil.which("pgbench")
    if pgbench is None:
        raise RuntimeError("pgbench is missing (Debian's postgresql package has it)")
    admin = database_url(server_url, "postgres")
    figures = {}
    for table in s.get("tables", TABLES):
        for batch in s["batches"]:
            for clients in s["clients"]:
                name = f"ceiling_{table}"
                psql(admin, f"DROP DATABASE IF EXISTS {name}")
                psql(admin, f"CREATE DATABASE {name}")
                url = database_url(server_url, name)
                if table in MIGRATED:
                    run([orrery, "migrate", "--database", url])
                started = time.monotonic()
                psql(url, PG_FILL[table].format(rows=s["rows"]))
                psql(url, "VACUUM ANALYZE")
                say(f"postgres {table}: {s['rows']:,} scheduled runs in {time.monotonic() - started:.0f} s")
                with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
                    f.write(PG_SCRIPT[table])
                try:
                    started = time.monotonic()
                    out = run([pgbench, "-n", "-f", f.name, "-c", str(clients), "-j", str(clients), "-T", str(s["seconds"]),
                               "-D", f"batch={batch}", url], timeout=s["seconds"] * 10 + 60)
                    elapsed = time.monotonic() - started
                finally:
                    os.unlink(f.name)
                done = int(psql(url, DONE[table]))
                if done >= s["rows"]:
                    raise RuntimeError(f"{table}: the table ran dry ({done:,} runs ended); raise --rows")
                rate = done / elapsed
                tps = re.search(r"tps = ([\d.]+)", out)
                say(f"postgres {table}, batches of {batch}, {clients} clients: {done:,} runs ended in {elapsed:.2f} s = "
                    f"{rate:,.0f} runs/s ({tps.group(1) if tps else '?'} transactions/s)")
                figures[(table, batch, clients)] = rate
                psql(admin, f"DROP DATABASE {name}")
    return figures


# ---------------------------------------------------------------- SQLite

SQLITE_FILL = {
    "orrery": """
        WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {rows})
        INSERT INTO runs (id, task_id, project, module, attempt, status, trigger, scheduled_at, updated_at, priority)
        SELECT 'run' || n, 'task' || (n % 1000), 'default', 'noop', 1, 'scheduled', 'manual', n, 0, 0 FROM g""",
    "bare": """
        CREATE TABLE bare (id INTEGER PRIMARY KEY, status TEXT NOT NULL, node TEXT);
        CREATE INDEX bare_ready ON bare (id) WHERE status = 'scheduled';
        CREATE INDEX bare_active ON bare (node) WHERE status = 'active';
        WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {rows})
        INSERT INTO bare SELECT n, 'scheduled', NULL FROM g""",
}
SQLITE_FILL["split"] = SQLITE_FILL["bare"]

# One transaction: claim up to B due runs, end them (the same statements as PostgreSQL's).
SQLITE_CLAIM_BARE = """UPDATE bare SET status = 'active', node = 'n'
  WHERE id IN (SELECT id FROM bare INDEXED BY bare_ready WHERE status = 'scheduled' ORDER BY id LIMIT {batch});
"""
SQLITE_TRANSACTION = {
    "orrery": """BEGIN IMMEDIATE;
UPDATE runs SET status = 'active', node = 'n', started_at = 1, lease_expires_at = 2, updated_at = 1
  WHERE seq IN (SELECT seq FROM runs INDEXED BY runs_claim WHERE status = 'scheduled' AND held = 0
                ORDER BY priority DESC, scheduled_at LIMIT {batch});
UPDATE runs SET status = 'succeeded', finished_at = 3, updated_at = 3, lease_expires_at = NULL
  WHERE status = 'active' AND node = 'n';
COMMIT;
""",
    "bare": "BEGIN IMMEDIATE;\n" + SQLITE_CLAIM_BARE
            + "UPDATE bare SET status = 'succeeded' WHERE status = 'active' AND node = 'n';\nCOMMIT;\n",
    "split": "BEGIN IMMEDIATE;\n" + SQLITE_CLAIM_BARE + history_end("'n'") + "COMMIT;\n",
}


def sqlite_ceiling(orrery, s):
    """{(table, batch): runs/s} on a SQLite file (WAL, synchronous=NORMAL, as Orrery opens it).

    The transactions are run by the `sqlite3` shell (C, the same library): no host language
    works between the statements, as none does between pgbench's."""
    shell = debian_tool("sqlite3", "sqlite3")
    figures = {}
    for table in s.get("tables", TABLES):
        for batch in s["batches"]:
            with tempfile.TemporaryDirectory(prefix="orrery-ceiling-") as d:
                path = os.path.join(d, "orrery.sqlite")
                if table in MIGRATED:
                    run([orrery, "migrate", "--data-dir", d])
                db = sqlite3.connect(path, isolation_level=None)
                db.execute("PRAGMA journal_mode = WAL")
                started = time.monotonic()
                db.executescript(SQLITE_FILL[table].format(rows=s["rows"]))
                db.execute("ANALYZE")
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                db.close()
                say(f"sqlite {table}: {s['rows']:,} scheduled runs in {time.monotonic() - started:.0f} s")
                transactions = s["sqlite_runs"] // batch
                script = os.path.join(d, "drain.sql")
                with open(script, "w") as f:
                    f.write("PRAGMA journal_mode = WAL;\nPRAGMA synchronous = NORMAL;\nPRAGMA cache_size = -16384;\n")
                    f.write(SQLITE_TRANSACTION[table].format(batch=batch) * transactions)
                with open(script) as f:
                    started = time.monotonic()
                    p = subprocess.run([shell, "-bail", path], stdin=f, capture_output=True, text=True, timeout=600)
                    elapsed = time.monotonic() - started
                if p.returncode != 0:
                    raise RuntimeError(f"sqlite3 exited {p.returncode}: {p.stderr[-2000:]}")
                db = sqlite3.connect(path)
                done = db.execute(DONE[table]).fetchone()[0]
                db.close()
                if done != transactions * batch:
                    raise RuntimeError(f"{table}: {done:,} runs ended, {transactions * batch:,} expected")
                rate = done / elapsed
                say(f"sqlite {table}, batches of {batch}: {done:,} runs ended in {elapsed:.2f} s = {rate:,.0f} runs/s")
                figures[(table, batch)] = rate
    return figures


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orrery", required=True, help="the orrery binary (its `migrate` makes the schema)")
    ap.add_argument("--postgres", help="a server URL the script may create databases on (default: a throwaway server)")
    ap.add_argument("--only", choices=["sqlite", "postgres"])
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--rows", type=int)
    ap.add_argument("--seconds", type=int)
    ap.add_argument("--batches", help="comma-separated batch sizes (default 100,1000)")
    ap.add_argument("--clients", help="comma-separated pgbench client counts (default 2)")
    ap.add_argument("--tables", help=f"comma-separated, of {', '.join(TABLES)} (default all)")
    args = ap.parse_args()
    s = dict(SIZES["smoke" if args.smoke else "full"])
    if args.rows:
        s["rows"] = args.rows
    if args.seconds:
        s["seconds"] = args.seconds
    if args.batches:
        s["batches"] = [int(b) for b in args.batches.split(",")]
    if args.clients:
        s["clients"] = [int(c) for c in args.clients.split(",")]
    if args.tables:
        s["tables"] = args.tables.split(",")
    if args.only != "postgres":
        for (table, batch), rate in sqlite_ceiling(args.orrery, s).items():
            print(f"sqlite ceiling, {NAMES[table]}, batches of {batch}: {rate:,.0f} runs/s")
    if args.only != "sqlite":
        with Postgres(args.postgres) as pg:
            for (table, batch, clients), rate in postgres_ceiling(pg.url, args.orrery, s).items():
                print(f"postgres ceiling, {NAMES[table]}, batches of {batch}, {clients} clients: {rate:,.0f} runs/s")


if __name__ == "__main__":
    main()
