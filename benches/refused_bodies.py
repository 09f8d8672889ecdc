#!/usr/bin/env python3
"""Cost of refused request bodies, against a real server binary.

Starts BINARY (default target/release/lumora-hr-mini) on 127.0.0.1, then 20
clients at once each send the head of a request the server refuses (a
foreign Host, text/plain, a browser Origin, an unknown session, a method
not allowed) followed at once by a 10 MiB body, and read the answer.
Prints the server's CPU time (user + system, from /proc/PID/stat), its
peak and current RSS (VmHWM, VmRSS from /proc/PID/status) before and after,
and the longest a `GET /health` (asked again and again meanwhile) waited.

    python3 benches/refused_bodies.py [BINARY]
"""
import os, socket, subprocess, sys, threading, time, json

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/lumora-hr-mini"
CLIENTS, BODY = 20, 10 * 1024 * 1024
TICK = os.sysconf("SC_CLK_TCK")


def proc_status(pid):
    out = {}
    for line in open(f"/proc/{pid}/status"):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            out[k] = int(v.split()[0]) / 1024
    return out


def cpu_ms(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / TICK


def request(port, head):
    s = socket.create_connection(("127.0.0.1", port))
    got = bytearray()

    def answered():
        head, sep, body = bytes(got).partition(b"\r\n\r\n")
        if not sep:
            return False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                return len(body) >= int(value)
        return True

    def read():
        # Until the whole answer is here (a server may keep the connection).
        while not answered():
            try:
                b = s.recv(65536)
            except OSError:
                return
            if not b:
                return
            got.extend(b)

    t = threading.Thread(target=read)
    t.start()
    chunk = b" " * 65536
    try:
        s.sendall(head)
        for _ in range(BODY // len(chunk)):
            s.sendall(chunk)
    except OSError:
        pass
    t.join(30)
    s.close()
    return got.split(b" ", 2)[1].decode() if got else "none"


def main():
    server = subprocess.Popen(
        [BIN, "serve", "--host", "127.0.0.1", "--port", "0", "--no-qr", "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ, "NO_COLOR": "1"})
    port = None
    for line in server.stdout:
        line = line.decode()
        if "Listening" in line:
            port = int(line.split("http://")[1].split()[0].rsplit(":", 1)[1])
            break
    threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST /session/new HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    reply = b""
    while chunk := s.recv(4096):
        reply += chunk
    session = json.loads(reply.split(b"\r\n\r\n", 1)[1])["sessionId"]
    time.sleep(0.2)
    before = proc_status(server.pid) | {"cpu": cpu_ms(server.pid)}
    cases = [
        (f"/send/{session}", "Host: evil.example\r\nContent-Type: application/json"),
        (f"/send/{session}", "Host: 127.0.0.1\r\nContent-Type: text/plain"),
        (f"/send/{session}", "Host: 127.0.0.1\r\nContent-Type: application/json\r\nOrigin: http://evil.example"),
        ("/send/no-such-session", "Host: 127.0.0.1\r\nContent-Type: application/json"),
        ("/stats", "Host: 127.0.0.1\r\nContent-Type: application/json"),
    ]
    heads = [
        f"POST {p} HTTP/1.1\r\n{h}\r\nContent-Length: {BODY}\r\n\r\n".encode()
        for p, h in (cases[i % len(cases)] for i in range(CLIENTS))
    ]
    statuses = [None] * CLIENTS
    done = threading.Event()
    health = []

    def probe():
        while not done.is_set():
            t0 = time.monotonic()
            h = socket.create_connection(("127.0.0.1", port))
            h.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            while h.recv(4096):
                pass
            h.close()
            health.append(time.monotonic() - t0)
            time.sleep(0.005)

    prober = threading.Thread(target=probe)
    prober.start()
    started = time.monotonic()

    def run(i):
        statuses[i] = request(port, heads[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    done.set()
    prober.join()
    after = proc_status(server.pid) | {"cpu": cpu_ms(server.pid)}
    server.kill()
    print(f"{BIN}: {CLIENTS} refused requests with {BODY >> 20} MiB bodies in {wall:.2f} s; statuses {sorted(set(statuses))}")
    print(f"  server CPU   {after['cpu'] - before['cpu']:.0f} ms")
    print(f"  /health      {len(health)} asked, longest {max(health) * 1000:.1f} ms")
    print(f"  server RSS   {before['VmRSS']:.1f} MiB before, peak {after['VmHWM']:.1f} MiB, {after['VmRSS']:.1f} MiB after")


main()
