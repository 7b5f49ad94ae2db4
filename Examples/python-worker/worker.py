#!/usr/bin/env python3
"""An Orrery external worker in plain Python (standard library only).

It claims runs of the external modules its worker token serves, does their work, heartbeats
from a thread while the work runs (extending the lease and learning of cancels and timeouts),
writes log entries, and completes or fails each run. Every verb carries the claim's
lease_token: once a lease was lost (the run was rescued and handed to someone else), the
server answers 409 and this worker drops the run.

    ORRERY_URL=http://127.0.0.1:8080 ORRERY_TOKEN=orr_... python3 worker.py --module echo

The work done here is an example: `echo` waits `seconds` (default 0, checking for a cancel
each 0.1 s), fails when `fail` is true, and otherwise returns its params as the result.
Replace `do_work` with your own.
"""
import argparse
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request


class LeaseLost(Exception):
    """The server answered 409: this lease no longer holds the run."""


class Orrery:
    def __init__(self, url, token):
        self.url = url.rstrip("/")
        self.token = token

    def post(self, path, body, timeout=60):
        request = urllib.request.Request(
            self.url + path, data=json.dumps(body).encode(), method="POST",
            headers={"Authorization": "Bearer " + self.token, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            if error.code == 409:
                raise LeaseLost(detail) from None
            raise RuntimeError("%s %s: %s" % (path, error.code, detail)) from None


def log(*words):
    print(*words, flush=True)


def do_work(run, cancel):
    """The module's work. Returns a result; raises to fail. `cancel` is set when the server
    asks the run to stop (a cancel through the API, or its timeout)."""
    params = run.get("params") or {}
    deadline = time.monotonic() + float(params.get("seconds", 0))
    while time.monotonic() < deadline:
        if cancel.wait(0.1):
            raise RuntimeError("canceled")
    if params.get("fail"):
        raise RuntimeError(params.get("message", "asked to fail"))
    return {"echo": params}


def heartbeat_loop(api, run, cancel, done):
    """Extends the lease every heartbeat_sec until the work is done; sets `cancel` when the
    server says so, or when the lease is lost."""
    every = max(0.2, float(run.get("heartbeat_sec", 10)))
    while not done.wait(every):
        try:
            answer = api.post("/v1/runs/%s/heartbeat" % run["id"], {"lease_token": run["lease_token"]})
            if answer.get("cancel_requested"):
                log("cancel requested", run["id"])
                cancel.set()
        except LeaseLost as lost:
            log("lease lost (heartbeat)", run["id"], lost)
            cancel.set()
            return
        except Exception as error:  # the server may be briefly away: try again next beat
            log("heartbeat failed", run["id"], error)


def handle(api, run):
    run_id, lease = run["id"], run["lease_token"]
    log("claimed", run_id, "attempt", run.get("attempt"))
    cancel, done = threading.Event(), threading.Event()
    beat = threading.Thread(target=heartbeat_loop, args=(api, run, cancel, done), daemon=True)
    beat.start()
    try:
        api.post("/v1/runs/%s/logs" % run_id, {"lease_token": lease, "entries": [
            {"level": "info", "msg": "started on %s" % os.uname().nodename}]})
        try:
            result = do_work(run, cancel)
        except Exception as error:
            done.set()
            answer = api.post("/v1/runs/%s/fail" % run_id, {
                "lease_token": lease, "error": {"code": "worker_error", "message": str(error)}})
            log("ended", run_id, answer.get("status"))
            return
        done.set()
        api.post("/v1/runs/%s/logs" % run_id, {"lease_token": lease, "entries": [{"level": "info", "msg": "done"}]})
        answer = api.post("/v1/runs/%s/complete" % run_id, {"lease_token": lease, "result": result})
        log("ended", run_id, answer.get("status"))
    except LeaseLost as lost:
        log("lease lost", run_id, lost)
    finally:
        done.set()


def main():
    parser = argparse.ArgumentParser(description="An Orrery external worker.")
    parser.add_argument("--url", default=os.environ.get("ORRERY_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--token", default=os.environ.get("ORRERY_TOKEN"))
    parser.add_argument("--name", default="py-%d" % os.getpid())
    parser.add_argument("--module", action="append", required=True, help="a module to serve (repeatable)")
    parser.add_argument("--max", type=int, default=1, help="runs claimed (and worked on) at once")
    parser.add_argument("--wait", type=int, default=30, help="long-poll seconds per claim")
    parser.add_argument("--once", action="store_true", help="exit after the first batch of runs")
    args = parser.parse_args()
    if not args.token:
        sys.exit("a worker token is needed: --token or ORRERY_TOKEN")
    api = Orrery(args.url, args.token)
    log("worker", args.name, "serving", ",".join(args.module))
    while True:
        try:
            runs = api.post("/v1/workers/claim", {
                "worker": args.name, "modules": args.module, "max": args.max, "wait_sec": args.wait},
                timeout=args.wait + 30)["runs"]
        except Exception as error:
            log("claim failed", error)
            time.sleep(1)
            continue
        threads = [threading.Thread(target=handle, args=(api, run)) for run in runs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if args.once and runs:
            return


if __name__ == "__main__":
    main()
