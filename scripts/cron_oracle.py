#!/usr/bin/env python3
"""The cron test oracle: next fire times by Python's croniter (an independent implementation).

stdin:  [{"expr": "*/5 * * * *", "tz": "UTC", "start": <unix seconds>, "count": 5}, ...]
stdout: [[<unix seconds>, ...], ...]   (same order)
With --bench N: computes N next-fire times over the same cases and prints the rate.
Expressions with six fields have seconds first (Orrery's order); croniter wants them last.
"""
import json
import sys
import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from croniter import croniter


def croniter_expr(expr):
    parts = expr.split()
    if len(parts) == 6:
        parts = parts[1:] + parts[:1]
    return " ".join(parts)


def fires(case):
    tz = ZoneInfo(case["tz"])
    start = datetime.fromtimestamp(case["start"], tz=timezone.utc).astimezone(tz)
    it = croniter(croniter_expr(case["expr"]), start)
    return [int(it.get_next(float)) for _ in range(case["count"])]


def main():
    cases = json.load(sys.stdin)
    if len(sys.argv) == 3 and sys.argv[1] == "--bench":
        n = int(sys.argv[2])
        def fresh(c):
            return croniter(croniter_expr(c["expr"]), datetime.fromtimestamp(c["start"], tz=timezone.utc).astimezone(ZoneInfo(c["tz"])))
        iters = [fresh(c) for c in cases]
        horizon = 4102444800  # 2100-01-01: restart a chain there, as the Swift benchmark does
        t0 = time.perf_counter()
        for i in range(n):
            k = i % len(iters)
            if iters[k].get_next(float) > horizon:
                iters[k] = fresh(cases[k])
        elapsed = time.perf_counter() - t0
        print(json.dumps({"computations": n, "seconds": elapsed, "per_second": n / elapsed}))
        return
    print(json.dumps([fires(c) for c in cases]))


if __name__ == "__main__":
    main()
