#!/usr/bin/env python3
"""Which event loop for the connection layer (issues 19 and 20): the
floor of each, measured side by side in one run. Two bare servers answer
every request with the same fixed JSON, parsing nothing but the end of
the head: one on a `selectors` loop (what quick_server's connection layer
is built on), one on asyncio's own loop with a `Protocol` (what an
asyncio connection layer would be built on; the standard library's loop,
not uvloop, which is not in it). `wrk` at 1 and 32 connections.

    python3 benchmarks/loop_choice.py [--duration 3]

Each server runs in its own process on a socket bound here on 127.0.0.1
and is stopped by its PID."""
from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time

from bench import wrk_load  # (run as a script: benchmarks/ is on the path)
from live import stop

BODY = b'{"ok":true}'
ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY))

SELECTORS = r'''
import selectors, socket, sys
answer = %r
listener = socket.socket(fileno=int(sys.argv[1]))
listener.setblocking(False)
sel = selectors.DefaultSelector()
sel.register(listener, selectors.EVENT_READ, None)
buffers = {}
while True:
    for key, _ in sel.select():
        if key.data is None:
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sel.register(conn, selectors.EVENT_READ, b"")
            continue
        conn = key.fileobj
        try:
            data = conn.recv(65536)
        except OSError:
            data = b""
        if not data:
            sel.unregister(conn)
            conn.close()
            continue
        buf = key.data + data
        count = buf.count(b"\r\n\r\n")
        if count:
            conn.send(answer * count)
            buf = buf[buf.rindex(b"\r\n\r\n") + 4:]
        sel.modify(conn, selectors.EVENT_READ, buf)
'''

ASYNCIO = r'''
import asyncio, socket, sys
answer = %r

class Http(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buf = transport, b""

    def data_received(self, data):
        buf = self.buf + data
        count = buf.count(b"\r\n\r\n")
        if count:
            self.transport.write(answer * count)
            buf = buf[buf.rindex(b"\r\n\r\n") + 4:]
        self.buf = buf

async def main():
    listener = socket.socket(fileno=int(sys.argv[1]))
    server = await asyncio.get_running_loop().create_server(
        Http, sock=listener)
    await server.serve_forever()

asyncio.run(main())
'''


def load(port: int, connections: int, seconds: int) -> float:
    """req/s of `wrk` (bench.py's), after a 1 s warm-up."""
    wrk_load(port, "/", connections, False, 1)
    return float(wrk_load(port, "/", connections, False, seconds)["rps"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=3)
    options = parser.parse_args()
    results: dict[str, dict[int, float]] = {}
    for name, source in (("selectors", SELECTORS), ("asyncio", ASYNCIO)):
        listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        port = listener.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, "-c", source % ANSWER, str(listener.fileno())],
            pass_fds=[listener.fileno()], stdin=subprocess.DEVNULL)
        listener.close()
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), 1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            results[name] = {c: load(port, c, options.duration)
                             for c in (1, 32)}
        finally:
            stop(proc)
    print("| loop | 1 connection | 32 connections |")
    print("|---|---:|---:|")
    base = results["selectors"]
    for name, row in results.items():
        print(f"| {name} | {row[1]:,.0f} req/s "
              f"({row[1] / max(base[1], 1):.2f}x) | {row[32]:,.0f} req/s "
              f"({row[32] / max(base[32], 1):.2f}x) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
