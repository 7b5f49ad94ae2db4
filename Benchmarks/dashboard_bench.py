#!/usr/bin/env python3
"""Server time per dashboard page (issue 14) with 10,000 tasks and 1,000,000 runs, against the
real `orrery serve` on loopback. Not part of CI (it takes minutes).

    scripts/release                      # or: swift build -c release --product orrery
    python3 Benchmarks/dashboard_bench.py [--binary dist/orrery] [--tasks 10000] [--runs 1000000] [--samples 100]

1. `orrery migrate` makes a fresh SQLite store; tasks and finished runs go in straight through
   SQL (runs 0.6 s apart over the last ~7 days, so the overview's 24-hour timeline is full:
   ~144,000 runs in it; 80 % complete, 10 % failed, 10 % canceled).
2. Signs in through the sign-in form (nonce cookie and field) like a browser.
3. Times each page, sequentially, --samples times: time to the last byte as the client sees it
   on loopback (so it includes HTTP and the client's own overhead), p50 and p99.
Everything talks only to 127.0.0.1 and stops by itself.
"""
import argparse
import http.cookiejar
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

TOKEN = "bench-admin-token-dashboard"


def fill(db_path, tasks, runs):
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    now_us = int(time.time() * 1_000_000)
    with db:
        db.execute("""
            WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1)
            INSERT INTO tasks (id, project, name, module, params, labels, schedule, schedule_type, enabled, queue, priority,
                retry, overlap, misfire, created_at, updated_at, version)
            SELECT printf('task%05d', i), 'default', printf('task %d', i),
                CASE i % 2 WHEN 0 THEN 'noop' ELSE 'sleep' END,
                CASE i % 2 WHEN 0 THEN '{}' ELSE '{"seconds":1}' END, '{}',
                '{"type":"cron","expression":"0 3 * * *","timezone":"Europe/Berlin"}', 'cron', 0, 'default', 0,
                '{"max_attempts":1}', 'skip', '{"policy":"run_once","grace_sec":60}', ?, ?, 1
            FROM n""", (tasks, now_us, now_us))
        db.execute("""
            WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1)
            INSERT INTO runs (id, task_id, project, module, attempt, status, trigger, scheduled_at, started_at, finished_at,
                updated_at, priority, queue)
            SELECT printf('run%08d', i), printf('task%05d', i % ?), 'default',
                CASE (i % ?) % 2 WHEN 0 THEN 'noop' ELSE 'sleep' END,
                1, CASE i % 10 WHEN 0 THEN 'failed' WHEN 1 THEN 'canceled' ELSE 'complete' END, 'schedule',
                ? - (? - i) * 600000, ? - (? - i) * 600000 + 100, ? - (? - i) * 600000 + 200, ? - (? - i) * 600000 + 200, 0, 'default'
            FROM n""", (runs, tasks, tasks, now_us, runs, now_us, runs, now_us, runs, now_us, runs))
    db.execute("ANALYZE")
    db.close()


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="dist/orrery")
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=1_000_000)
    ap.add_argument("--samples", type=int, default=100)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="orrery-dashboard-bench-")
    data = os.path.join(work, "data")
    try:
        subprocess.run([args.binary, "migrate", "--data-dir", data], check=True, capture_output=True)
        t0 = time.perf_counter()
        fill(os.path.join(data, "orrery.sqlite"), args.tasks, args.runs)
        print(f"filled {args.tasks:,} tasks and {args.runs:,} runs in {time.perf_counter() - t0:.1f} s")
        log = open(os.path.join(work, "serve.log"), "w+")
        server = subprocess.Popen(
            [args.binary, "serve", "--port", "0", "--data-dir", data, "--retention-days", "0", "--concurrency", "0"],
            stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, ORRERY_ADMIN_TOKEN=TOKEN))
        try:
            port = None
            for _ in range(600):
                log.seek(0)
                m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", log.read())
                if m:
                    port = int(m.group(1))
                    break
                time.sleep(0.05)
            if port is None:
                sys.exit("server did not start")
            base = f"http://127.0.0.1:{port}"
            jar = http.cookiejar.CookieJar()
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
            form = opener.open(base + "/sign-in").read().decode()
            nonce = re.search(r'name="nonce" value="([^"]+)"', form).group(1)
            opener.open(base + "/sign-in", data=urllib.parse.urlencode({"nonce": nonce, "token": TOKEN, "next": "/"}).encode()).read()
            run_id = "run%08d" % (args.runs - 5)
            pages = [
                ("overview", "/"),
                ("tasks", "/tasks"),
                ("tasks, filtered", "/tasks?name=task+12&module=noop&type=cron"),
                ("runs", "/runs"),
                ("runs, 2 statuses + module", "/runs?status=failed&status=canceled&module=sleep"),
                ("run", f"/runs/{run_id}"),
                ("task", "/tasks/task00007"),
                ("modules", "/modules"),
            ]
            # Deep page of runs: follow the cursor 100 pages down.
            url = "/runs"
            for _ in range(100):
                m = re.search(r'id="next-page" rel="next" href="([^"]+)"', opener.open(base + url).read().decode())
                url = m.group(1).replace("&amp;", "&")
            pages.append(("runs, page 101 by cursor", url))
            print(f"{'page':32} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  bytes")
            for name, path in pages:
                body = opener.open(base + path).read()  # warm
                assert b"<main" in body, (name, body[:200])
                lat = []
                for _ in range(args.samples):
                    t = time.perf_counter()
                    opener.open(base + path).read()
                    lat.append((time.perf_counter() - t) * 1000)
                print(f"{name:32} {percentile(lat, 50):8.2f} {percentile(lat, 99):8.2f} {max(lat):8.2f}  {len(body):,}")
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
