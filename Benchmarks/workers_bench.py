#!/usr/bin/env python3
"""External-worker benchmark (issue 13), standard library only.

Against a running `orrery serve` (admin token in ORRERY_ADMIN_TOKEN):

1. throughput: N no-op runs of an external module done by W worker processes, each claiming
   batches (`max`) over a keep-alive connection and completing every run; runs/s from the
   moment the runs are due to the last complete.
2. latency: one worker long-polls (`wait_sec` 30) while a run becomes due at a known instant;
   claim-to-start latency = when the claim answer arrives minus the run's scheduled_at
   (same machine, same clock), over S samples: p50, p99, max.

    ORRERY_ADMIN_TOKEN=… python3 Benchmarks/workers_bench.py --url http://127.0.0.1:8080 \\
        --runs 20000 --workers 4 --batch 100 --samples 200
"""
import argparse
import datetime
import http.client
import json
import multiprocessing
import os
import sys
import time
import urllib.parse


class Client:
    def __init__(self, url, token):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port, self.token = parts.hostname, parts.port or 80, token
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)

    def post(self, path, body):
        data = json.dumps(body).encode()
        for attempt in range(3):
            try:
                self.conn.request("POST", path, data, {"Authorization": "Bearer " + self.token, "Content-Type": "application/json"})
                response = self.conn.getresponse()
                payload = response.read()
                return response.status, (json.loads(payload) if payload else None)
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        raise RuntimeError("POST %s failed" % path)


def rfc3339(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def create_tasks(args, token, count, at, name):
    client = Client(args.url, token)
    for i in range(count):
        status, body = client.post("/v1/tasks", {"name": "%s-%d" % (name, i), "module": "bench-noop",
                                                  "schedule": {"type": "once", "at": rfc3339(at)}})
        if status != 201:
            raise RuntimeError("create task: %s %s" % (status, body))


def work(args, token, name, expected, done_counter, finished_at):
    client = Client(args.url, token)
    while True:
        with done_counter.get_lock():
            if done_counter.value >= expected:
                return
        status, answer = client.post("/v1/workers/claim", {"worker": name, "modules": ["bench-noop"], "max": args.batch, "wait_sec": 1})
        if status != 200:
            raise RuntimeError("claim: %s %s" % (status, answer))
        for run in answer["runs"]:
            status, end = client.post("/v1/runs/%s/complete" % run["id"], {"lease_token": run["lease_token"]})
            if status != 200:
                raise RuntimeError("complete: %s %s" % (status, end))
        if answer["runs"]:
            with done_counter.get_lock():
                done_counter.value += len(answer["runs"])
                finished_at.value = time.time()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--runs", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    admin = os.environ["ORRERY_ADMIN_TOKEN"]
    client = Client(args.url, admin)
    status, _ = client.post("/v1/modules", {"name": "bench-noop", "description": {"en-US": "Benchmark no-op, done by workers."}})
    if status not in (201, 409):
        sys.exit("register module: %s" % status)
    status, made = client.post("/v1/tokens", {"role": "worker", "modules": ["bench-noop"], "name": "bench"})
    token = made["token"]

    # 1. Throughput: create the runs (due together, later), then let the workers loose.
    if args.runs > 0:
        throughput(args, admin, token)
    latency(args, client, token)


def throughput(args, admin, token):
    creators = 4
    per = args.runs // creators
    # Due at a fixed instant after creation ends: estimate creation at >= 800 tasks/s.
    at = time.time() + max(5.0, args.runs / 800.0)
    started = time.time()
    procs = [multiprocessing.Process(target=create_tasks, args=(args, admin, per, at, "t%d" % i)) for i in range(creators)]
    for p in procs: p.start()
    for p in procs: p.join()
    created = time.time()
    expected = per * creators
    print("created %d tasks in %.1f s; runs due at +%.1f s" % (expected, created - started, at - created), flush=True)
    if created > at:
        print("warning: creation took longer than planned; some runs were done while others were created", flush=True)
    done_counter = multiprocessing.Value("q", 0)
    finished_at = multiprocessing.Value("d", 0.0)
    workers = [multiprocessing.Process(target=work, args=(args, token, "bench-%d" % i, expected, done_counter, finished_at)) for i in range(args.workers)]
    for p in workers: p.start()
    for p in workers: p.join()
    elapsed = finished_at.value - max(at, created)
    print("throughput: %d no-op runs through the worker API by %d workers (batches of %d) in %.2f s: %.0f runs/s"
          % (expected, args.workers, args.batch, elapsed, expected / elapsed), flush=True)



def latency(args, client, token):
    # 2. Latency: one long-polling worker; a run becomes due 300 ms after it is created.
    worker = Client(args.url, token)
    lateness = []
    for i in range(args.samples):
        due = time.time() + 0.3
        status, made = client.post("/v1/tasks", {"name": "lat-%d" % i, "module": "bench-noop", "schedule": {"type": "once", "at": rfc3339(due)}})
        status, answer = worker.post("/v1/workers/claim", {"worker": "lat", "modules": ["bench-noop"], "max": 1, "wait_sec": 30})
        received = time.time()
        run = answer["runs"][0]
        lateness.append((received - parse(run["scheduled_at"])) * 1000)
        worker.post("/v1/runs/%s/complete" % run["id"], {"lease_token": run["lease_token"]})
    lateness.sort()
    pick = lambda q: lateness[min(len(lateness) - 1, int(q * len(lateness)))]
    print("claim-to-start latency over %d samples (due while the worker long-polls): p50 %.2f ms, p99 %.2f ms, max %.2f ms"
          % (len(lateness), pick(0.5), pick(0.99), lateness[-1]), flush=True)


if __name__ == "__main__":
    main()
