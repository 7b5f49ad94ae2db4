#!/usr/bin/env python3
"""What idle live streams (GET /v1/stream) cost: the server's CPU time over a window with no
streams, then with N open streams and nothing happening (heartbeats only).

    swift build --product orrery && python3 Benchmarks/stream_idle_cpu.py [--streams 100] [--seconds 60] [--database postgres://…]
"""
import argparse, os, socket, subprocess, tempfile, time

p = argparse.ArgumentParser()
p.add_argument("--binary", default=".build/debug/orrery")
p.add_argument("--streams", type=int, default=100)
p.add_argument("--seconds", type=float, default=60)
p.add_argument("--database")
a = p.parse_args()

tick = os.sysconf("SC_CLK_TCK")
def cpu(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick  # utime + stime

data = tempfile.mkdtemp()
args = [a.binary, "serve", "--port", "0", "--data-dir", data] + (["--database", a.database] if a.database else [])
server = subprocess.Popen(args, env=dict(os.environ, ORRERY_ADMIN_TOKEN="bench"), stdout=subprocess.PIPE, text=True)
port = None
for line in server.stdout:
    if line.startswith("Orrery listening on http://127.0.0.1:"):
        port = int(line.split(":")[2].split()[0].split("(")[0]); break
try:
    time.sleep(3)  # start-up settles
    c0 = cpu(server.pid); time.sleep(a.seconds); idle = cpu(server.pid) - c0
    socks = []
    for _ in range(a.streams):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(f"GET /v1/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer bench\r\nAccept: text/event-stream\r\n\r\n".encode())
        assert b"200" in s.recv(4096).split(b"\r\n")[0]
        socks.append(s)
    time.sleep(3)
    c0 = cpu(server.pid); time.sleep(a.seconds); streaming = cpu(server.pid) - c0
    store = "PostgreSQL" if a.database else "SQLite"
    print(f"{store}, {a.binary}: no streams {idle / a.seconds * 100:.2f}% of a core; "
          f"{a.streams} idle streams {streaming / a.seconds * 100:.2f}% of a core "
          f"(+{(streaming - idle) / a.seconds * 100:.2f}%) over {a.seconds:.0f} s")
finally:
    server.terminate(); server.wait(timeout=30)
