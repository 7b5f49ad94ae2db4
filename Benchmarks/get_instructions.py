#!/usr/bin/env python3
"""Instructions per request of `orrery serve` for GET by id, under callgrind (issue 16).

On this shared 2-core machine a request rate moves by 10-15% between runs of the same binary,
so a change worth 5% cannot be seen in `Benchmarks/compare`'s GET figures. The instructions a
request costs in the server's own code do not move: callgrind counts them (the kernel's share,
the socket's system calls, is not in them). Run two builds and compare:

    python3 Benchmarks/get_instructions.py --orrery A/orrery --orrery B/orrery

Each build serves the same store (1,000,000 finished runs and 1,000 tasks, as `compare`'s HTTP
figures), under `valgrind --tool=callgrind`; after 200 requests to warm up, counting starts,
`--requests` GETs of each path follow on one keep-alive connection, and the count is dumped.
`--keep DIR` keeps each dump there, to see where a request's instructions go:

    callgrind_annotate --inclusive=yes DIR/callgrind.<build>_v1_tasks_task0000.out

Needs valgrind (Debian's package, installed when missing as root). Not in CI: a run takes about
a minute per build and path.
"""
import argparse
import glob
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import api_list_bench  # noqa: E402
from benchlib import Serve, debian_tool, run, say  # noqa: E402

PATHS = ["/v1/tasks/task0000", "/v1/tasks/task%04d", "/v1/runs/run00999999", "/healthz"]


def instructions(binary, data, work, path, requests, keep=None):
    """Callgrind's instruction count per request for GET `path` (`%04d`: the store's tasks in turn)."""
    valgrind = debian_tool("valgrind", "valgrind")
    # valgrind 3.19 cannot read the DWARF 5 that Swift writes: a copy without it (symbols stay).
    plain = os.path.join(work, "orrery-nodebug")
    run(["objcopy", "--strip-debug", binary, plain])
    out = os.path.join(work, "callgrind.out")
    with Serve(plain, data, work, api_list_bench.TOKEN, wrapper=[valgrind, "--tool=callgrind", f"--callgrind-out-file={out}.%p"],
               start_timeout=300) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)

        def get(p):
            conn.request("GET", p, headers={"Authorization": f"Bearer {api_list_bench.TOKEN}"})
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                raise RuntimeError(f"GET {p}: HTTP {r.status}")
        for i in range(200):
            get(path % i if "%" in path else path)
        subprocess.run(["callgrind_control", "--zero", str(server.proc.pid)], check=True, capture_output=True)
        for i in range(requests):
            get(path % (i % 1000) if "%" in path else path)
        subprocess.run(["callgrind_control", "--dump", str(server.proc.pid)], check=True, capture_output=True)
        pid = server.proc.pid
    dumps = sorted(glob.glob(f"{out}.{pid}.*"))
    if not dumps:
        raise RuntimeError("callgrind wrote no dump")
    text = open(dumps[-1]).read()
    total = re.search(r"^(?:summary|totals):\s*(\d+)", text, re.M)
    if keep:
        os.makedirs(keep, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9]+", "_", f"{os.path.basename(os.path.dirname(binary))}_{path}").strip("_")
        shutil.copy(dumps[-1], os.path.join(keep, f"callgrind.{name}.out"))
    for f in glob.glob(f"{out}.{pid}*"):
        os.unlink(f)
    return int(total.group(1)) / requests


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orrery", action="append", required=True, help="an orrery binary (repeat to compare builds)")
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--keep", help="copy each count's callgrind dump into this directory, for callgrind_annotate")
    ap.add_argument("--path", action="append", help="paths to GET (default: " + " ".join(PATHS).replace("%", "%%") + ")")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="orrery-get-instructions-")
    try:
        data = os.path.join(work, "data")
        run([args.orrery[0], "migrate", "--data-dir", data])
        db = os.path.join(data, "orrery.sqlite")
        api_list_bench.fill(db, 1_000_000)
        api_list_bench.bound_open_runs(db)
        results = {}
        for path in args.path or PATHS:
            for binary in args.orrery:
                results[(path, binary)] = instructions(binary, data, work, path, args.requests, args.keep)
                say(f"{binary} GET {path}: {results[(path, binary)]:,.0f} instructions per request")
        print()
        print("| GET | " + " | ".join(args.orrery) + " |")
        print("|---|" + "---|" * len(args.orrery))
        for path in args.path or PATHS:
            print(f"| {path} | " + " | ".join(f"{results[(path, b)]:,.0f}" for b in args.orrery) + " |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
