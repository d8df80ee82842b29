#!/usr/bin/env python3
"""Capacity (issue 19): one quick_server process holds N idle keep-alive
connections (`--idle`, 10,000; one `GET /api/ping` each, then silent), M
worker long-polls (`--polls`, 1,000; jobs wait on a gate, `--job-threads`
of them running, default the server's 8, the rest queued; a `get` with
`"wait": 30` is held on each job's connection, sent again if it runs out)
and S live-reload streams (`--streams`, 100; read up to their `hello`).
Meanwhile: K new clients (`--clients`, 200; one after another, a fresh
connection and one `GET /api/ping` each, connect to last byte), the
server's RSS and threads (/proc/PID/status); then the gate opens, each job
puts the time it settled in its result, and the delay until its
long-poll's answer arrives is measured. Targets: new client p99 < 10 ms,
RSS < 150 MiB, threads < 100, every long-poll answered within 50 ms.

    python3 benchmarks/capacity.py                  # the full run
    python3 benchmarks/capacity.py --idle 300 --polls 50 --streams 10 \\
        --clients 50 [--checkout DIR] [--json FILE]  # a few seconds

The server (a generated script, `--python`, `--checkout` as PYTHONPATH)
adopts a socket bound here on 127.0.0.1; the client side is this one
thread on `selectors`. Each process holds about N+M+S descriptors: the
soft RLIMIT_NOFILE is raised to the hard limit (the server inherits it),
exit code 2 if too low. Limits that would refuse the load are raised
(`settings()`): this measures holding, not refusing. Each wait has a
deadline within `--timeout` (300 s); the server is stopped by its PID
(SIGTERM, SIGKILL after 5 s), also on Ctrl-C."""
from __future__ import annotations

import argparse
import collections
import errno
import json
import math
import os
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "127.0.0.1"
FD_MARGIN = 256  # descriptors besides the held sockets, per process
IN_FLIGHT = 256  # connections being opened at once
POLL_WAIT = 30  # seconds a long-poll may be held (the protocol's cap)

SERVER = r'''
import json, os, sys, threading, time
import quick_server
port, config = int(sys.argv[1]), json.loads(sys.argv[2])
server = quick_server.create_server(("127.0.0.1", port))  # adopts the fd
for key, value in config["settings"].items():  # "group.name": value
    group, name = key.split(".")
    setattr(getattr(server.settings, group), name, value)
server.bind_path("/", config["www"])
gate = threading.Event()
server.json_get("/api/ping")(lambda req, args: {"pong": True})

@server.json_post("/api/gate")
def _open_gate(req, args):
    gate.set()
    return {"opened": time.time(),
            "package": os.path.dirname(quick_server.__file__)}

@server.json_worker("/api/job", executor="thread")
def _job(payload):
    gate.wait(config["hold"])
    return {"settled": time.time()}

server.serve_forever()
'''
INDEX = "<!DOCTYPE html><html><body><p>capacity</p></body></html>\n"


def settings(options: argparse.Namespace) -> dict[str, Any]:
    """The server's: quiet, live reload on, no limit refusing the load."""
    hold = options.timeout + 60  # no job or connection given up meanwhile
    return {"dev.no_command_loop": True, "log.suppress_noise": True,
            "dev.live_reload": True, "dev.max_listeners": options.streams + 16,
            "jobs.max_workers": options.job_threads,
            "jobs.max_queue": options.polls + 16, "jobs.start_wait": 0.0,
            "jobs.abandon_timeout": hold, "http.idle_timeout": hold}


class RunError(Exception):
    """The run (or one connection) cannot go on: the message says why."""


def request(method: str, path: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n"
    if method == "POST":
        head += ("Content-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n")
    return head.encode() + b"\r\n" + body


PING = request("GET", "/api/ping")
STREAM = request("GET", "/__quick_server__/live-reload")
START = request("POST", "/api/job", b'{"action": "start", "payload": {}}')
GATE = request("POST", "/api/gate", b"{}")


def get_job(token: str) -> bytes:
    return request("POST", "/api/job", json.dumps(
        {"action": "get", "token": token, "wait": POLL_WAIT}).encode())


def parse(buf: bytes, whole: bool = True) -> tuple[int, bytes] | None:
    """(status, body) of the answer at the start of `buf` (its head and
    body so far unless `whole`), None while incomplete."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = buf[:end].decode("latin-1").lower().split("\r\n")
    status = int(lines[0].split()[1])
    if not whole:
        return status, buf[end + 4:]
    length = [int(line.split(":", 1)[1]) for line in lines
              if line.startswith("content-length:")]
    if not length:
        raise RunError(f"an answer without Content-Length: {buf[:300]!r}")
    done = end + 4 + length[0]
    return (status, buf[end + 4:done]) if len(buf) >= done else None


class Conn:
    """One connection of the load and where it stands."""
    __slots__ = ("sock", "kind", "state", "out", "inbuf", "token", "sent_at")

    def __init__(self, sock: socket.socket, kind: str, out: bytes) -> None:
        self.sock, self.kind = sock, kind  # kind: "idle", "poll", "stream"
        self.state = "connecting"  # then "asked", "held", "answered"
        self.out, self.inbuf = out, b""
        self.token, self.sent_at = "", 0.0  # sent_at: the last get, time()


class Load:
    """The held connections, driven from this thread by a selector."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sel = selectors.DefaultSelector()
        self.conns: list[Conn] = []
        self.opening = 0  # connections neither held nor failed yet
        self.held: collections.Counter[str] = collections.Counter()
        self.failed: collections.Counter[str] = collections.Counter()
        self.delays: list[float] = []  # seconds, job settled to answer
        self.settled: list[float] = []  # time.time() of each job's end
        self.repolls = 0  # long-polls whose 30 s ran out, sent again
        self.late_repolls = 0  # answered on a re-poll sent after settling

    def open(self, kind: str) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Conn(sock, kind, {"idle": PING, "poll": START,
                                 "stream": STREAM}[kind])
        self.conns.append(conn)
        self.opening += 1
        code = sock.connect_ex((HOST, self.port))
        if code not in (0, errno.EINPROGRESS):
            return self.fail(conn, f"connect: {os.strerror(code)}", False)
        self.sel.register(sock, selectors.EVENT_WRITE, conn)

    def fail(self, conn: Conn, reason: str, registered: bool = True) -> None:
        if conn.state in ("connecting", "asked"):
            self.opening -= 1
        elif conn.state == "held":
            self.held[conn.kind] -= 1
        conn.state = "failed"
        self.failed[f"{conn.kind}: {reason}"] += 1
        if registered:
            self.sel.unregister(conn.sock)
        conn.sock.close()

    def send(self, conn: Conn, data: bytes) -> None:
        """Queues `data` and writes what the socket takes now."""
        conn.out += data
        try:
            conn.out = conn.out[conn.sock.send(conn.out):]
        except BlockingIOError:
            pass
        except OSError as err:
            return self.fail(conn, f"send: {err.strerror or err}")
        self.sel.modify(conn.sock, selectors.EVENT_WRITE if conn.out
                        else selectors.EVENT_READ, conn)

    def hold(self, conn: Conn) -> None:
        if conn.state != "held":
            self.opening -= 1
            self.held[conn.kind] += 1
            conn.state = "held"

    def step(self, timeout: float) -> None:
        """Handles what is ready within `timeout` seconds."""
        events = self.sel.select(max(timeout, 0))
        stamp = time.time()  # when this batch was seen ready
        for key, mask in events:
            conn = key.data
            if mask & selectors.EVENT_WRITE:  # connected, or failed to
                if conn.state == "connecting":
                    conn.state = "asked"
                data, conn.out = conn.out, b""
                self.send(conn, data)  # a failed connect fails here
                continue
            try:
                if not (data := conn.sock.recv(65536)):
                    raise RunError(f"closed by the server ({conn.state})")
                conn.inbuf += data
                self.received(conn, stamp)
            except (OSError, RunError, ValueError, KeyError, TypeError) as err:
                self.fail(conn, str(err))

    def received(self, conn: Conn, stamp: float) -> None:
        answer = parse(conn.inbuf, whole=conn.kind != "stream")
        if answer is None:
            return
        status, body = answer
        if status != 200:
            return self.fail(conn, f"HTTP {status}")
        if conn.kind == "stream":
            if b"event: hello" in body:
                self.hold(conn)
                conn.inbuf = b""  # later pings are dropped as they come
            return
        conn.inbuf = b""
        if conn.kind == "idle":
            self.hold(conn)
        elif conn.state == "asked":  # the start's reply: long-poll now
            conn.token, conn.sent_at = json.loads(body)["token"], stamp
            self.hold(conn)
            self.send(conn, get_job(conn.token))
        elif not (reply := json.loads(body))["done"]:  # its wait ran out
            self.repolls += 1
            conn.sent_at = stamp
            self.send(conn, get_job(conn.token))
        else:
            settled = json.loads(reply["result"])["settled"]  # JSON text
            self.settled.append(settled)
            if conn.sent_at > settled:
                self.late_repolls += 1
            else:
                self.delays.append(stamp - settled)
            self.held["poll"] -= 1
            conn.state = "answered"

    def open_many(self, kind: str, count: int, deadline: float) -> None:
        """Opens `count` connections, IN_FLIGHT at a time, until held."""
        left = [count]

        def refill() -> bool:
            while left[0] and self.opening < IN_FLIGHT:
                self.open(kind)
                left[0] -= 1
            return not left[0] and not self.opening
        if not self.wait_until(refill, deadline):
            raise RunError(f"opening {count} {kind} connections: "
                           f"{self.held[kind]} held, {self.opening} still "
                           f"opening when the time ran out")

    def wait_until(self, done: Callable[[], bool], deadline: float) -> bool:
        while not done():
            if time.monotonic() >= deadline:
                return False
            self.step(min(deadline - time.monotonic(), 0.2))
        return True


def fresh_client(port: int, timeout: float, message: bytes = PING
                 ) -> tuple[float, bytes]:
    """Milliseconds from connecting to the whole answer of one request on
    a new connection, and the answer's body."""
    start = time.perf_counter()
    with socket.create_connection((HOST, port), timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(message)
        buf = b""
        while (answer := parse(buf)) is None:
            if not (chunk := sock.recv(65536)):
                raise RunError(f"connection closed: {buf[:300]!r}")
            buf += chunk
        elapsed = (time.perf_counter() - start) * 1000
    if answer[0] != 200:
        raise RunError(f"HTTP {answer[0]}: {answer[1][:300]!r}")
    return elapsed, answer[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def raise_fd_limit(need: int) -> None:
    """Soft RLIMIT_NOFILE up to the hard one; exit 2 if below `need`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        print(f"capacity.py: this run needs about {need:,} descriptors in "
              f"each process (idle + polls + streams + {FD_MARGIN}), the "
              f"hard limit (ulimit -Hn) is {hard:,}: raise it or lower "
              f"--idle/--polls/--streams", file=sys.stderr)
        sys.exit(2)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def start_server(options: argparse.Namespace, folder: str, log: Any
                 ) -> tuple[subprocess.Popen[bytes], int]:
    """The server process on a socket bound here, and its port."""
    www, script = os.path.join(folder, "www"), os.path.join(folder, "s.py")
    os.mkdir(www)
    for path, text in ((os.path.join(www, "index.html"), INDEX),
                       (script, SERVER)):
        with open(path, "w") as handle:
            handle.write(text)
    config = {"www": www, "settings": settings(options),
              "hold": options.timeout + 60}
    listener = socket.create_server((HOST, 0), backlog=4096)
    port = listener.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": options.checkout,
           "QUICK_SERVER_FDS": str(listener.fileno())}
    try:
        proc = subprocess.Popen(
            [options.python, script, str(port), json.dumps(config)],
            cwd=folder, env=env, pass_fds=[listener.fileno()],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    finally:
        listener.close()  # the server has its own copy
    return proc, port


def measure(options: argparse.Namespace, proc: subprocess.Popen[bytes],
            port: int, load: Load, deadline: float) -> dict[str, Any]:
    def within(seconds: float) -> float:
        return min(deadline, time.monotonic() + seconds)

    started, serving_by = time.monotonic(), within(30)
    while True:  # until a ping is answered: the server serves
        if proc.poll() is not None or time.monotonic() > serving_by:
            raise RunError(f"the server did not start ({proc.returncode})")
        try:
            fresh_client(port, 1.0)
            break
        except OSError:
            continue
    opening = {}
    for kind, count in (("idle", options.idle), ("poll", options.polls),
                        ("stream", options.streams)):
        begin = time.monotonic()
        load.open_many(kind, count, within(60 + count / 50))
        opening[kind] = round(time.monotonic() - begin, 2)
        print(f"{kind}: {load.held[kind]:,} of {count:,} held in "
              f"{opening[kind]} s", file=sys.stderr)
    load.wait_until(lambda: False, within(1.0))  # let the server settle
    if proc.poll() is not None:
        raise RunError(f"the server exited ({proc.returncode})")
    clients = [fresh_client(port, min(10, max(0.1, deadline -
                                              time.monotonic())))[0]
               for _ in range(options.clients)]
    with open(f"/proc/{proc.pid}/status") as handle:
        status = dict(line.split(":\t", 1) for line in handle)
    load.wait_until(lambda: False, within(0.2))  # ran-out polls go again
    held = dict(load.held)  # a drop meanwhile is seen by now
    gate = json.loads(fresh_client(port, 10, GATE)[1])
    answered = load.wait_until(lambda: load.held["poll"] == 0,
                               within(POLL_WAIT + 30))
    delays = [d * 1000 for d in load.delays] or [math.nan]
    return {
        "options": {k: v for k, v in vars(options).items() if k != "json"},
        "settings": settings(options), "held": held,
        "failed": dict(load.failed),
        "client_ms": {"p50": percentile(clients, .5),
                      "p99": percentile(clients, .99)},
        "rss_mib": int(status["VmRSS"].split()[0]) / 1024,
        "threads": int(status["Threads"]),
        "poll_answer_ms": {"n": len(load.delays), "all_answered": answered,
                           "p50": percentile(delays, .5), "max": max(delays),
                           "p99": percentile(delays, .99)},
        "last_settled_ms": (max(load.settled) - gate["opened"]) * 1000
        if load.settled else math.nan,
        "repolls": load.repolls, "late_repolls": load.late_repolls,
        "opening_seconds": opening, "package": gate["package"],
        "total_seconds": round(time.monotonic() - started, 2),
        "cores": os.cpu_count(), "load_average": os.getloadavg()}


def report(r: dict[str, Any]) -> None:
    o, held, c, p = r["options"], r["held"], r["client_ms"], \
        r["poll_answer_ms"]

    def verdict(value: float, limit: float) -> str:
        return "met" if value < limit else "**missed**"
    rows = [(f"{name} held", f"{held.get(kind, 0):,} of {o[option]:,}",
             target) for name, kind, option, target in (
        ("idle keep-alive connections", "idle", "idle", "10,000"),
        ("worker long-polls (`get`, `wait` 30)", "poll", "polls", "1,000"),
        ("live-reload streams", "stream", "streams", "100"))] + [
        (f"new client, GET /api/ping, p50 / p99 ({o['clients']:,} clients)",
         f"{c['p50']:.2f} / {c['p99']:.2f} ms",
         f"p99 < 10 ms: {verdict(c['p99'], 10)}"),
        ("server RSS", f"{r['rss_mib']:.1f} MiB",
         f"< 150 MiB: {verdict(r['rss_mib'], 150)}"),
        ("server threads", f"{r['threads']:,}",
         f"< 100: {verdict(r['threads'], 100)}"),
        (f"long-poll answer after its job settled, p50 / p99 / max "
         f"({p['n']:,} answers)",
         f"{p['p50']:.1f} / {p['p99']:.1f} / {p['max']:.1f} ms",
         f"max < 50 ms: {verdict(p['max'], 50)}")]
    print("| measure | this run | issue 19 target |\n|---|---:|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    opening = ", ".join(f"{kind} {seconds:.1f} s"
                        for kind, seconds in r["opening_seconds"].items())
    print(f"\nOpening: {opening}. Jobs on {o['job_threads']} threads, the "
          f"last settled {r['last_settled_ms']:.0f} ms after the gate "
          f"opened; {r['repolls']} long-polls ran out and were sent again "
          f"({r['late_repolls']} after their job settled: not in the "
          f"delays){'' if p['all_answered'] else '; NOT ALL ANSWERED'}. "
          f"{r['total_seconds']:.1f} s, {r['cores']} cores, load average "
          f"{r['load_average'][0]:.2f}, {r['package']}, {o['python']}.")
    for reason, count in sorted(r["failed"].items()):
        print(f"Failed: {count:,} x {reason}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name, default, text in (
            ("idle", 10_000, "idle keep-alive connections"),
            ("polls", 1_000, "worker jobs, each with a long-poll held"),
            ("streams", 100, "live-reload event streams"),
            ("clients", 200, "new clients timed one after another"),
            ("job-threads", 8, "threads running jobs (the server's "
                               "settings.jobs.max_workers)")):
        parser.add_argument(f"--{name}", type=int, default=default, help=text)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--checkout", default=ROOT, help="PYTHONPATH")
    parser.add_argument("--json", metavar="FILE", help="write the numbers")
    options = parser.parse_args()
    if min(options.idle, options.polls, options.streams) < 0 or \
            min(options.clients, options.job_threads) < 1:
        parser.error("counts must be >= 0, --clients, --job-threads >= 1")
    options.checkout = os.path.abspath(options.checkout)
    if os.sep in options.python:  # the server runs in its own folder
        options.python = os.path.abspath(options.python)
    if not os.path.isdir(os.path.join(options.checkout, "quick_server")):
        parser.error(f"no quick_server package in {options.checkout}")
    raise_fd_limit(options.idle + options.polls + options.streams +
                   FD_MARGIN)
    deadline = time.monotonic() + options.timeout
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    folder = tempfile.mkdtemp(prefix="qs-bench-capacity-")
    log_path = os.path.join(folder, "server.log")
    proc = load = None
    error = "interrupted"  # until measured: Ctrl-C, SIGTERM
    try:
        with open(log_path, "wb") as log:
            proc, port = start_server(options, folder, log)
        load = Load(port)
        result = measure(options, proc, port, load, deadline)
        error = ""
    except (RunError, OSError) as err:
        error = str(err) if isinstance(err, RunError) else repr(err)
    except KeyboardInterrupt:
        pass
    finally:
        for conn in load.conns if load is not None else []:
            conn.sock.close()
        if proc is not None and proc.poll() is not None and error:
            error += f" (the server had exited: {proc.returncode})"
        elif proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if error not in ("", "interrupted") and os.path.exists(log_path):
            with open(log_path, "rb") as handle:
                tail = handle.read()[-3000:].decode(errors="replace")
            print(f"server output (end):\n{tail}", file=sys.stderr)
        shutil.rmtree(folder, ignore_errors=True)
        if error:
            print(f"capacity.py: {error}", file=sys.stderr)
    if error:
        return 130 if error == "interrupted" else 1
    report(result)
    if options.json:
        with open(options.json, "w") as handle:
            json.dump(result, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
