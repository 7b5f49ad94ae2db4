"""What the benchmark scripts share: progress lines, running a program, a throwaway PostgreSQL.

Imported by `Benchmarks/compare`, `Benchmarks/ceiling.py`, `Benchmarks/api_list_bench.py` and
`Benchmarks/get_instructions.py`; not a program of its own.
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


class Serve:
    """`orrery serve` on a free loopback port for a `with` block, its output in `work`/serve.log;
    `wrapper`: a command it runs under (callgrind), which may take `start_timeout` to start it."""

    def __init__(self, binary, data, work, token, wrapper=(), start_timeout=120):
        self.binary, self.data, self.work, self.token = binary, data, work, token
        self.wrapper, self.start_timeout = list(wrapper), start_timeout

    def __enter__(self):
        env = dict(os.environ, ORRERY_ADMIN_TOKEN=self.token)
        self.log = open(os.path.join(self.work, "serve.log"), "w+")
        self.proc = subprocess.Popen(
            [*self.wrapper, self.binary, "serve", "--port", "0", "--data-dir", self.data, "--retention-days", "0"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + self.start_timeout
        while time.time() < deadline:
            self.log.seek(0)
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", self.log.read())
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.__exit__()
        self.log.seek(0)
        raise RuntimeError("orrery serve did not start:\n" + self.log.read()[-3000:])

    def cpu_seconds(self):
        """User and system CPU time the server has used so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
