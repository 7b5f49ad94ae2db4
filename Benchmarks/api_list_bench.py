#!/usr/bin/env python3
"""The API listing benchmark (issue 6), against the real `orrery serve` on loopback.

    swift build -c release --product orrery
    python3 Benchmarks/api_list_bench.py [--runs 1000000] [--binary .build/release/orrery] [--wrk-sec 10]

1. Fills a fresh SQLite store with --runs finished runs (over 1,000 tasks, 4 modules, 3
   statuses, 2 projects) straight through SQL, after `orrery migrate` made the schema.
2. Starts `orrery serve` on a free loopback port and measures GET /v1/runs latency with two
   filters (status=complete,failed & module=…), first page and page 1,000 reached by
   cursor (limit 100), p50/p99 over sequential requests.
3. Requests per second for GET /v1/runs/{id} under wrk (2 threads, 32 connections, bounded
   in time), when wrk is installed (Debian: apt-get install wrk).
Everything talks only to 127.0.0.1 and stops by itself.
"""
import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import Serve  # noqa: E402

TOKEN = "bench-admin-token"


def call(port, path):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def fill(db_path, runs):
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    t0 = time.perf_counter()
    now_us = int(time.time() * 1_000_000)
    with db:
        db.execute("""
            WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999)
            INSERT INTO tasks (id, project, name, module, params, labels, schedule, schedule_type, enabled, queue, priority,
                retry, overlap, misfire, created_at, updated_at, version)
            SELECT printf('task%04d', i), CASE WHEN i % 2 = 0 THEN 'default' ELSE 'other' END, printf('task %d', i),
                CASE i % 4 WHEN 0 THEN 'noop' WHEN 1 THEN 'sleep' WHEN 2 THEN 'shell' ELSE 'http' END,
                '{}', '{}', '{"type":"interval","every_sec":60}', 'interval', 1, 'default', 0,
                '{"max_attempts":1}', 'skip', '{"policy":"run_once","grace_sec":60}', ?, ?, 1
            FROM n""", (now_us, now_us))
        db.execute("""
            WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1)
            INSERT INTO runs (id, task_id, project, module, attempt, status, trigger, scheduled_at, started_at, finished_at,
                updated_at, priority, queue)
            SELECT printf('run%08d', i), printf('task%04d', i % 1000), CASE WHEN i % 2 = 0 THEN 'default' ELSE 'other' END,
                CASE (i % 1000) % 4 WHEN 0 THEN 'noop' WHEN 1 THEN 'sleep' WHEN 2 THEN 'shell' ELSE 'http' END,
                1, CASE i % 10 WHEN 0 THEN 'failed' WHEN 1 THEN 'canceled' ELSE 'complete' END, 'schedule',
                ? - (? - i) * 1000, ? - (? - i) * 1000 + 100, ? - (? - i) * 1000 + 200, ? - (? - i) * 1000 + 200, 0, 'default'
            FROM n""", (runs, now_us, runs, now_us, runs, now_us, runs, now_us, runs))
    db.execute("ANALYZE")
    db.close()
    return time.perf_counter() - t0


def bound_open_runs(db_path):
    """Leaves each filled task's open-run bound (`tasks.open_seq`) where a claim of the task may
    leave it, with the most runs at or above it (4): a task read then scans as many runs as it
    can in a store the engine made, not none (the bound of a task that never had an open run).
    After `fill`, with the indexes of `runs` in place."""
    db = sqlite3.connect(db_path)
    with db:
        db.execute("""
            UPDATE tasks SET open_seq = coalesce(
                (SELECT seq FROM runs INDEXED BY runs_task WHERE task_id = tasks.id ORDER BY seq DESC LIMIT 1 OFFSET 3),
                (SELECT min(seq) FROM runs INDEXED BY runs_task WHERE task_id = tasks.id))
            WHERE EXISTS (SELECT 1 FROM runs INDEXED BY runs_task WHERE task_id = tasks.id)""")
    db.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1_000_000)
    ap.add_argument("--binary", default=".build/release/orrery")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--wrk-sec", type=int, default=10)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="orrery-list-bench-")
    data = os.path.join(work, "data")
    try:
        subprocess.run([args.binary, "migrate", "--data-dir", data], check=True, capture_output=True)
        seconds = fill(os.path.join(data, "orrery.sqlite"), args.runs)
        bound_open_runs(os.path.join(data, "orrery.sqlite"))
        print(f"filled {args.runs:,} finished runs in {seconds:.1f} s")
        with Serve(args.binary, data, work, TOKEN) as server:
            port = server.port
            base = "/v1/runs?status=complete,failed&module=noop&limit=100"
            first = call(port, base + "&count=true")
            print(f"filter matches {first['total_count']:,} runs")

            def timed(path):
                t0 = time.perf_counter()
                body = call(port, path)
                return (time.perf_counter() - t0) * 1000, body

            for query in (base, base + "&count=true"):
                lat = [timed(query)[0] for _ in range(args.samples)]
                print(f"GET {query}  first page: p50 {percentile(lat, 50):.2f} ms, p99 {percentile(lat, 99):.2f} ms")
                cursor, page = None, 0
                while page < 999:
                    body = call(port, base + (f"&cursor={cursor}" if cursor else ""))
                    cursor = body["next_cursor"]
                    page += 1
                    if cursor is None:
                        break
                if cursor is None:  # a small store: every page read before the 1,000th
                    print(f"  all {page} pages read; no deep page to time")
                    continue
                deep = query + f"&cursor={cursor}"
                lat = [timed(deep)[0] for _ in range(args.samples)]
                print(f"  page {page + 1} by cursor: p50 {percentile(lat, 50):.2f} ms, p99 {percentile(lat, 99):.2f} ms")

            if shutil.which("wrk"):
                run_id = first["items"][0]["id"]
                out = subprocess.run(["wrk", "-t2", "-c32", f"-d{args.wrk_sec}s", "--latency", "-H", f"Authorization: Bearer {TOKEN}",
                                      f"http://127.0.0.1:{port}/v1/runs/{run_id}"], capture_output=True, text=True, timeout=args.wrk_sec + 30)
                rps = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
                p99 = re.search(r"99%\s+([\d.]+\w+)", out.stdout)
                non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
                print(f"GET /v1/runs/{{id}} under wrk -t2 -c32 -d{args.wrk_sec}s: {rps.group(1) if rps else '?'} req/s, "
                      f"p99 {p99.group(1) if p99 else '?'}, non-2xx {non2xx.group(1) if non2xx else 0}")
            else:
                print("wrk is not installed (apt-get install wrk): requests/s not measured")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
