"""What the benchmark scripts share: progress lines, running a program, a throwaway PostgreSQL.

Imported by `Benchmarks/compare` and `Benchmarks/ceiling.py`; not a program of its own.
"""
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = os.path.basename(sys.argv[0]).removesuffix(".py") or "bench"


def say(msg):
    print(f"[{NAME} {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd, env=None, timeout=900, cwd=None):
    """Runs a command, returns its stdout; raises with its output when it fails."""
    say("$ " + " ".join(cmd))
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p.stdout


def number(pattern, text):
    m = re.search(pattern, text)
    if not m:
        raise RuntimeError(f"no match for {pattern!r} in:\n{text[-2000:]}")
    return float(m.group(1).replace(",", ""))


def debian_tool(name, package):
    """The path of program `name`, installing Debian's `package` first when it is missing
    (as root, as the project's scripts install PostgreSQL); raises when it cannot be had."""
    found = shutil.which(name)
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        say(f"installing Debian's {package} for {name}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        if subprocess.run(["apt-get", "install", "-y", package], env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, capture_output=True)
            subprocess.run(["apt-get", "install", "-y", package], env=env, capture_output=True)
        found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is missing (Debian: apt-get install {package})")
    return found


def psql(url, sql):
    """One statement through psql; its unaligned output, stripped."""
    return run(["psql", url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql]).strip()


def database_url(server_url, name):
    """The server's URL with another database in it."""
    return re.sub(r"/[^/?]+(\?|$)", f"/{name}\\1", server_url, count=1)


class Postgres:
    """A throwaway server (scripts/postgres-test-server) for a `with` block; or, given `url`,
    a server someone else started and stops."""

    def __init__(self, url=None):
        self.url, self.env = url, None

    def __enter__(self):
        if self.url is None:
            out = run([os.path.join(ROOT, "scripts", "postgres-test-server"), "start"], timeout=300)
            self.env = dict(re.findall(r"export (\w+)='([^']*)'", out))
            self.url = self.env["ORRERY_TEST_POSTGRES_URL"]
        m = re.match(r"postgres://(\w+)@([\d.]+):(\d+)/", self.url)
        self.user, self.host, self.port = m.group(1), m.group(2), m.group(3)
        say(f"PostgreSQL at {self.url}")
        return self

    def __exit__(self, *exc):
        if self.env:
            subprocess.run([os.path.join(ROOT, "scripts", "postgres-test-server"), "stop", self.env["ORRERY_TEST_PG_DIR"]],
                           capture_output=True, timeout=120)

    def psql(self, db, sql):
        return psql(database_url(self.url, db), sql)
