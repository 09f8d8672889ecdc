#!/usr/bin/env python3
"""What stored schemas cost the server in resident memory.

Starts the release binary (or --bin PATH) on loopback with --no-state,
creates N sessions (default 100) and pushes each a different schema of about
1 MiB (6,400 nodes in 4 levels, keys in a tool's order, like the protocol
bench's), then reads the server's VmRSS and RssAnon (/proc/<pid>/status)
once it is idle, against before the first session. Prints the growth per
byte of JSON held.

    cargo build --release && python3 benches/schema_rss.py
    python3 benches/schema_rss.py --sessions 50 --bin /path/to/other/build
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from amplification import Server, http  # noqa: E402


def schema(tag: int) -> bytes:
    """~1 MiB: screens of sections of rows of widgets, 6 of each."""
    next_id = [0]

    def node(level: int):
        i = next_id[0]
        next_id[0] += 1
        kind = ["Screen", "Section", "Row"][level - 1] if level < 4 else ["Text", "Button", "Image"][i % 3]
        n = {
            "id": f"node-{i}",
            "type": kind,
            "props": {
                "text": f"Item number {i} of {tag}",
                "color": "#336699",
                "fontSize": 12 + i % 8,
                "padding": (i % 5) * 2.5,
                "accessibilityLabel": f"label {i}",
            },
        }
        if level < 4:
            n["children"] = [node(level + 1) for _ in range(6) if next_id[0] < 6400]
        return n

    nodes = []
    while next_id[0] < 6400:
        nodes.append(node(1))
    doc = {
        "version": "1.0",
        "metadata": {"sourceFramework": "react", "sourceFile": "App.tsx", "generatedAt": tag},
        "nodes": nodes,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/lumora-hr-mini")
    ap.add_argument("--sessions", type=int, default=100)
    args = ap.parse_args()

    server = Server(args.bin, ["--no-state"])
    server.idle()
    rss0, anon0 = server.status("VmRSS"), server.status("RssAnon")
    total = 0
    for tag in range(args.sessions):
        status, created = http(server.addr, "POST", "/session/new", b"")
        assert status == 201, created
        body = schema(tag)
        total += len(body)
        status, reply = http(server.addr, "POST", f"/send/{created['sessionId']}", body)
        assert status == 200, reply
    server.idle()
    time.sleep(0.2)
    rss, anon = server.status("VmRSS"), server.status("RssAnon")
    grew = (rss - rss0) * 1024
    grew_anon = (anon - anon0) * 1024
    print(
        f"{args.sessions} sessions holding {total / 1e6:.1f} MB of JSON "
        f"({total / args.sessions / 1e6:.2f} MB each): VmRSS {rss0} -> {rss} KiB "
        f"(+{grew / 1e6:.1f} MB, {grew / total:.2f}x the JSON); "
        f"RssAnon {anon0} -> {anon} KiB (+{grew_anon / 1e6:.1f} MB, {grew_anon / total:.2f}x)"
    )
    server.stop()


if __name__ == "__main__":
    main()
