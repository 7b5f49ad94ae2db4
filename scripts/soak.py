#!/usr/bin/env python3
"""Soak: run `orrery serve` at a steady load for a while and watch that resident memory,
open file descriptors and the database size stay flat once retention prunes.

    python3 scripts/soak.py --minutes 30 --rate 1000      # the long run (scripts/fault-suite)
    python3 scripts/soak.py --smoke                       # 20 s, what CI runs

Loopback only; bounded in time; stops the server by itself (SIGTERM) and exits non-zero
when a run failed, the server died, or memory/fds/db size grew in the second half of the run
by more than the allowed margin."""
import argparse, json, os, signal, subprocess, sys, tempfile, time, urllib.request

def api(base, token, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")

def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0

def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))

def db_mb(data_dir):
    total = 0
    for name in os.listdir(data_dir):
        if name.startswith("orrery.sqlite"):
            total += os.path.getsize(os.path.join(data_dir, name))
    return total / 1024 / 1024

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", default=os.environ.get("ORRERY_BINARY", ".build/debug/orrery"))
    p.add_argument("--minutes", type=float, default=30)
    p.add_argument("--rate", type=int, default=1000, help="runs per second (interval tasks of 1 s)")
    p.add_argument("--sample-sec", type=float, default=60)
    p.add_argument("--smoke", action="store_true", help="20 s at 100 runs/s, samples every 2 s")
    a = p.parse_args()
    if a.smoke:
        a.minutes, a.rate, a.sample_sec = 20 / 60, 100, 2
    work = tempfile.mkdtemp(prefix="orrery-soak-")
    data = os.path.join(work, "data")
    token = "soak-token"
    log = open(os.path.join(work, "server.log"), "w")
    env = dict(os.environ, ORRERY_ADMIN_TOKEN=token)
    # Retention by count keeps the store flat: each task keeps its newest 5 finished runs.
    server = subprocess.Popen([a.binary, "serve", "--port", "0", "--data-dir", data, "--keep-runs", "5",
                               "--concurrency", "500"], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        base = None
        deadline = time.time() + 30
        while time.time() < deadline and base is None:
            time.sleep(0.1)
            for line in open(os.path.join(work, "server.log")):
                if line.startswith("Orrery listening on http://127.0.0.1:"):
                    port = line.split(":")[2].split()[0]
                    base = f"http://127.0.0.1:{port}"
        if base is None:
            print("soak: the server did not start", file=sys.stderr)
            return 1
        for i in range(a.rate):
            api(base, token, "POST", "/v1/tasks", {"name": f"soak-{i}", "module": "noop",
                                                   "schedule": {"type": "interval", "every_sec": 1}})
        start = time.time()
        end = start + a.minutes * 60
        rows = []
        while time.time() < end:
            time.sleep(min(a.sample_sec, max(0.0, end - time.time())))
            if server.poll() is not None:
                print("soak: the server died", file=sys.stderr)
                return 1
            done = api(base, token, "GET", "/v1/runs?status=complete&limit=1&count=true")
            failed = api(base, token, "GET", "/v1/runs?status=failed&limit=1&count=true")
            rows.append((time.time() - start, rss_mb(server.pid), fds(server.pid), db_mb(data),
                         done["total_count"], failed["total_count"]))
        print("| elapsed s | RSS MB | open fds | db MB | complete runs kept | failed |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r[0]:.0f} | {r[1]:.1f} | {r[2]} | {r[3]:.1f} | {r[4]} | {r[5]} |")
        half = rows[len(rows) // 2:]
        problems = []
        if any(r[5] > 0 for r in rows):
            problems.append("failed runs")
        if len(half) >= 2:
            if half[-1][1] > half[0][1] * 1.25 + 20:
                problems.append(f"RSS grew {half[0][1]:.0f} -> {half[-1][1]:.0f} MB")
            if half[-1][2] > half[0][2] + 20:
                problems.append(f"fds grew {half[0][2]} -> {half[-1][2]}")
            if half[-1][3] > half[0][3] * 1.5 + 8:
                problems.append(f"db grew {half[0][3]:.1f} -> {half[-1][3]:.1f} MB")
        for pr in problems:
            print("soak: " + pr, file=sys.stderr)
        return 1 if problems else 0
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()

if __name__ == "__main__":
    sys.exit(main())
