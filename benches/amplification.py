#!/usr/bin/env python3
"""What cheap requests cost the server: `reload` and `connect` amplification.

Starts the release binary (or --bin PATH) on loopback and measures, from the
server's own /proc/<pid>/stat and status:

  reload   a 6 MiB schema; one device sends `connect` then N `reload`s
           (inside the 100/s rate limit) and never reads
  connect  a 0.95 MiB schema; 300 devices upgrade and send `connect` at once
           and never read
  churn    rounds of 20,000 connect/disconnect cycles (HTTP requests, half
           requests reset with SO_LINGER 0, devices that connect and leave,
           devices reset after `connect`, upgrades reset at once); after each
           round, once the server is idle: `timersPending` and VmRSS

For each: server CPU time (user + system) from before the attack until the
server is idle again, the longest `GET /health` answer while it runs (polled
every 10 ms on fresh connections), VmRSS before/after and the VmHWM (peak).

    cargo build --release && python3 benches/amplification.py
    python3 benches/amplification.py --bin /path/to/other/build
"""

import argparse
import json
import os
import socket
import struct
import subprocess
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")


def http(addr, method, path, body=None):
    s = socket.create_connection(addr, timeout=30)
    data = b"" if body is None else body
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    s.sendall(head.encode() + b"\r\n" + data)
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    head, _, body = out.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body) if body else None


def masked(payload: bytes) -> bytes:
    mask = b"\x37\xfa\x21\x3d"
    n = len(payload)
    if n < 126:
        hdr = bytes([0x81, 0x80 | n])
    elif n < 65536:
        hdr = bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        hdr = bytes([0x81, 0x80 | 127]) + n.to_bytes(8, "big")
    return hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_open(addr, session, early=b""):
    s = socket.create_connection(addr, timeout=30)
    s.sendall(
        (
            f"GET /ws?session={session} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        + early
    )
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(1)
    assert buf.startswith(b"HTTP/1.1 101"), buf
    return s


def msg(session, kind, payload):
    return json.dumps(
        {"type": kind, "sessionId": session, "timestamp": 1, "version": "1.0.0", "payload": payload}
    ).encode()


def connect_msg(session, i):
    return msg(session, "connect", {"deviceId": f"d{i}", "platform": "ios", "clientVersion": "1.0.0"})


def big_schema(size, tag):
    filler = "x" * 960
    nodes = [
        {"id": f"n{i}", "type": "Text", "props": {"text": f"{tag} {i} {filler}"}}
        for i in range(size // 1000)
    ]
    return json.dumps(
        {"version": "1.0", "metadata": {"sourceFramework": "react", "generatedAt": 1}, "nodes": nodes}
    ).encode()


class Server:
    def __init__(self, binary, extra=()):
        self.proc = subprocess.Popen(
            [binary, "serve", "--host", "127.0.0.1", "--port", "0", "--coalesce-ms", "0", "--no-qr", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "NO_COLOR": "1"},
            text=True,
        )
        self.addr = self.session = None
        for line in self.proc.stdout:
            if "Listening" in line:
                host, port = line.split("http://")[1].split()[0].rsplit(":", 1)
                self.addr = (host, int(port))
            if "session=" in line:
                self.session = line.split("session=")[1].split()[0]
            if self.addr and self.session:
                break
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()

    def cpu(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    def status(self, field):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0

    def stats(self):
        return http(self.addr, "GET", "/stats")[1]

    def idle(self):
        """Waits until the server's CPU time stops moving for 300 ms."""
        last = self.cpu()
        while True:
            time.sleep(0.3)
            now = self.cpu()
            if now == last:
                return now
            last = now

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class HealthProbe:
    """GET /health every 10 ms on a fresh connection; the slowest answer."""

    def __init__(self, addr):
        self.addr, self.worst, self.stop_flag = addr, 0.0, False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop_flag:
            t = time.perf_counter()
            status, _ = http(self.addr, "GET", "/health")
            assert status == 200
            self.worst = max(self.worst, time.perf_counter() - t)
            time.sleep(0.01)

    def stop(self):
        self.stop_flag = True
        self.thread.join()
        return self.worst


def measure(server, attack, done):
    rss0 = server.status("VmRSS")
    cpu0 = server.idle()
    probe = HealthProbe(server.addr)
    keep = attack()
    deadline = time.time() + 120
    while not done() and time.time() < deadline:
        time.sleep(0.05)
    cpu1 = server.idle()
    worst = probe.stop()
    out = {
        "cpu_s": round(cpu1 - cpu0, 2),
        "health_max_ms": round(worst * 1000, 1),
        "rss_before_mib": round(rss0 / 1024, 1),
        "rss_after_mib": round(server.status("VmRSS") / 1024, 1),
        "peak_mib": round(server.status("VmHWM") / 1024, 1),
        "encodings": server.stats()["counters"].get("schemaEncodings", "n/a"),
    }
    del keep
    return out


def reload_case(binary, reloads):
    server = Server(binary)
    try:
        status, _ = http(server.addr, "POST", f"/send/{server.session}", big_schema(6_300_000, "r"))
        assert status == 200
        sess = server.session
        base = server.stats()["counters"]["resyncs"]

        def attack():
            s = ws_open(server.addr, sess, masked(connect_msg(sess, 0)))
            reload = masked(msg(sess, "reload", {"reason": "manual"}))
            for _ in range(reloads):
                s.sendall(reload)
                time.sleep(0.012)
            return s

        return measure(
            server, attack, lambda: server.stats()["counters"]["resyncs"] - base >= reloads
        )
    finally:
        server.stop()


def connect_case(binary, devices):
    server = Server(binary)
    try:
        status, _ = http(server.addr, "POST", f"/send/{server.session}", big_schema(950_000, "c"))
        assert status == 200
        sess = server.session

        def attack():
            return [ws_open(server.addr, sess, masked(connect_msg(sess, i))) for i in range(devices)]

        return measure(server, attack, lambda: server.stats()["totalDevices"] >= devices)
    finally:
        server.stop()


def reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def churn_case(binary, rounds, cycles):
    server = Server(binary)
    try:
        sess = server.session
        connect = masked(connect_msg(sess, 0))
        server.idle()
        st = server.stats()
        print(f"  idle: timersPending {st['timersPending']}, VmRSS {server.status('VmRSS')} KiB", flush=True)
        for r in range(rounds):
            for i in range(cycles):
                k = i % 5
                if k == 0:
                    http(server.addr, "GET", "/health")
                elif k == 1:
                    s = socket.create_connection(server.addr)
                    s.sendall(b"GET /health HTTP/1.1\r\nHo")
                    reset(s)
                elif k == 2:
                    s = ws_open(server.addr, sess, connect)
                    s.recv(1)
                    s.close()
                elif k == 3:
                    reset(ws_open(server.addr, sess, connect))
                else:
                    reset(ws_open(server.addr, sess))
            while server.stats()["connections"]["open"] > 1:
                time.sleep(0.05)
            time.sleep(1.5)  # closing connections' 1 s close timers
            server.idle()
            st = server.stats()
            print(
                f"  after round {r + 1} ({cycles} cycles): timersPending {st['timersPending']}, "
                f"VmRSS {server.status('VmRSS')} KiB",
                flush=True,
            )
    finally:
        server.stop()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "target", "release", "lumora-hr-mini")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=default, help="server binary (default: the release build)")
    ap.add_argument("--only", choices=["amplification", "churn"], help="run one part")
    args = ap.parse_args()
    if args.only != "amplification":
        print("churn", flush=True)
        churn_case(args.bin, 3, 20_000)
    if args.only == "churn":
        return
    for name, run in [
        ("1 reload, 6 MiB schema", lambda: reload_case(args.bin, 1)),
        ("100 reloads, 6 MiB schema", lambda: reload_case(args.bin, 100)),
        ("1 connect, 0.95 MiB schema", lambda: connect_case(args.bin, 1)),
        ("300 connects, 0.95 MiB schema", lambda: connect_case(args.bin, 300)),
    ]:
        print(f"{name:32} {run()}", flush=True)


if __name__ == "__main__":
    main()
