#!/usr/bin/env python3
"""An example server: static files, JSON and text routes, workers (one
counting primes in a job process, with progress; one served by a remote
service), a token counter, a typed rpc, an upload form that answers with
a file, and a custom command. Run it and open http://localhost:8000/
"""
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass

from quick_server import (FileResponse, create_server, msg, report_progress,
                          setup_restart)

setup_restart()

HERE = os.path.dirname(os.path.abspath(__file__))
addr, port = "", int(os.environ.get("PORT", "8000"))
server = create_server((addr, port), parallel=True)
server.bind_path("/", os.path.join(HERE, "www"))
server.add_default_white_list()
server.link_empty_favicon_fallback()
server.link_worker_js("/js/worker.js")
server.suppress_noise = True
server.report_slow_requests = True


@server.json_get("/api/hello")
def _hello(req, args):
    return {"hello": args["query"].get("name", "world")}


@server.text_post("/api/echo")
def _echo(req, args):
    return repr(args["post"])


@server.json_post("/api/visits")
def _visits(req, args):
    token = args["post"].get("token") or server.create_token()
    with server.get_token_obj(token) as obj:
        obj["visits"] = obj.get("visits", 0) + 1
        return {"token": token, "visits": obj["visits"]}


@server.json_worker("/api/slow_square")
def _slow_square(payload):
    time.sleep(float(payload.get("seconds", 1)))
    return {"square": float(payload["x"]) ** 2}


# -- a CPU-bound job in a job process, with progress --------------------------

MAX_LIMIT = 10 ** 10
SEGMENT = 1 << 16


@server.json_worker("/api/primes", executor="process")
def count_primes(payload):
    """Counts the primes below payload["n"] with a segmented sieve,
    reporting progress after each segment. CPU-bound: it runs in a job
    process (a core of its own), which cancelling kills."""
    limit = payload.get("n")
    if isinstance(limit, bool) or not isinstance(limit, int) or \
            not 2 <= limit <= MAX_LIMIT:
        raise ValueError(f"n must be a whole number from 2 to "
                         f"{MAX_LIMIT:,}, not {limit!r}")
    small = small_primes(math.isqrt(limit))
    count = 0
    for low in range(2, limit, SEGMENT):
        high = min(low + SEGMENT, limit)
        count += count_segment(low, high, small)
        report_progress(high, limit, f"{count:,} primes below {high:,} "
                                     f"(job process {os.getpid()})")
    return {"n": limit, "primes": count}


def small_primes(root):
    """The primes up to `root`."""
    sieve = bytearray([1]) * (root + 1)
    sieve[:2] = b"\0\0"
    for n in range(2, math.isqrt(root) + 1):
        if sieve[n]:
            sieve[n * n::n] = bytes(len(range(n * n, root + 1, n)))
    return [n for n in range(2, root + 1) if sieve[n]]


def count_segment(low, high, small):
    """The number of primes in [low, high), given the primes up to
    sqrt(high)."""
    segment = bytearray([1]) * (high - low)
    for p in small:
        if p * p >= high:
            break
        first = max(p * p, (low + p - 1) // p * p)
        segment[first - low::p] = bytes(len(range(first - low, high - low,
                                                  p)))
    return segment.count(1)


# -- typed rpc: GET /api/greet shows its contract, POST answers it ----------

@dataclass
class GreetRequest:
    name: str
    times: int = 1


@dataclass
class GreetResponse:
    text: str


@server.rpc("/api/greet")
def _greet(request: GreetRequest) -> GreetResponse:
    return GreetResponse(" ".join(["hello"] * request.times) +
                         f" {request.name}")


server.rpc_contracts("/api/contracts")


# -- files.html: text and files in, one file out ----------------------------

@server.text_post("/api/bundle")
def _bundle(req, args):
    """Joins the uploaded files under the form's title into one text file
    and answers it as a download (streamed, never held in memory)."""
    title = str(args["post"].get("title") or "bundle")
    with tempfile.NamedTemporaryFile("wb", suffix=".txt",
                                     delete=False) as out:
        out.write(f"{title}\n".encode())
        for upload in args["files"].values():
            out.write(f"\n{upload.filename} ({upload.size} bytes)\n"
                      .encode())
            shutil.copyfileobj(upload.file, out)
    return FileResponse(out.name, filename=f"{title}.txt", delete=True)


# -- a job served by a remote service ------------------------------------------
# Services pull the jobs of /api/shout over HTTP; start one (on this or
# another machine) with `python example/shout_service.py`.

SERVICE_KEY = os.environ.get("SERVICE_KEY", "example-key")
server.bind_services(prefix="/services", service_timeout=10.0,
                     key=SERVICE_KEY)
server.service_worker("/api/shout", "shout")


@server.cmd(1)
def greet(args):
    """says hello to someone"""
    msg("hello {0}", args[0])


msg("{0}", " ".join(sys.argv))
msg("starting server at http://localhost:{0}/", server.port)
try:
    server.serve_forever()
finally:
    msg("shutting down..")
    server.server_close()
