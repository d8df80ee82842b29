"""What one request costs the server in Python: calls and time, profiled.

Runs a server of a checkout in this process on 127.0.0.1 (port 0), sends
`--requests` keep-alive requests from a client thread, and profiles only
the server's work per request (`cProfile` around `Connection.on_ready`,
or `handle_one_request` before the event loop). Prints the calls per request and the server's
Python time without the time spent waiting in `recv` for the client, then
the functions that took the most time. Profiling slows every call, so the
figures are for comparing two checkouts run one after the other, not
absolute costs.

    python benchmarks/request_profile.py [--checkout DIR] [--path /api/ping]
        [--requests 20000] [--top 25]

It works for 1.1.0's flat layout as well (`quick_server.handler`)."""
from __future__ import annotations

import argparse
import cProfile
import http.client
import os
import pstats
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", default=os.path.dirname(HERE))
    parser.add_argument("--path", default="/api/ping",
                        help="/api/ping (a JSON route) or /index.html "
                             "(a 1 KiB static file)")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--top", type=int, default=25)
    options = parser.parse_args()
    sys.path.insert(0, os.path.abspath(options.checkout))
    import quick_server
    folder = tempfile.mkdtemp(prefix="qs-profile-")
    with open(os.path.join(folder, "index.html"), "w") as page:
        page.write("x" * 1024)
    server = quick_server.create_server(("127.0.0.1", 0))
    server.bind_path("/", folder)
    server.add_default_white_list()
    server.suppress_noise = True
    server.no_command_loop = True

    @server.json_get("/api/ping")
    def _ping(req: object, args: object) -> dict[str, bool]:
        return {"pong": True}

    profile = cProfile.Profile()
    cls, name = _served_by(server)
    serve = getattr(cls, name)

    def profiled(self: object, *args: object) -> None:
        profile.enable()
        try:
            serve(self, *args)
        finally:
            profile.disable()
    setattr(cls, name, profiled)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = http.client.HTTPConnection("127.0.0.1", server.server_port, 10)
    try:
        for _ in range(options.requests):
            client.request("GET", options.path)
            answer = client.getresponse()
            answer.read()
            if answer.status != 200:
                print(f"{options.path} answered {answer.status}")
                return 1
    finally:
        client.close()
        server.shutdown()
        thread.join(10)
        server.server_close()
    stats = pstats.Stats(profile)
    waiting = sum(row[2] for key, row in stats.stats.items()  # type: ignore
                  if key[2] in ("<method 'recv_into' of '_socket.socket' "
                                "objects>", "<method 'recv' of "
                                "'_socket.socket' objects>"))
    print(f"{quick_server.__file__}: {options.requests} x GET "
          f"{options.path}")
    print(f"calls per request: {stats.total_calls / options.requests:.1f}")
    print(f"server Python time without waiting in recv: "
          f"{stats.total_tt - waiting:.3f} s")  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(options.top)
    return 0


def _served_by(server: object) -> tuple[type, str]:
    """The class that serves a connection, and its method that answers
    what arrived: the event loop's `Connection.on_ready`, or a thread's
    `handle_one_request` (1.1 and the layouts before the loop)."""
    try:
        from quick_server.http.connection import Connection
    except ImportError:
        Connection = None  # type: ignore[assignment,misc]
    if Connection is not None and hasattr(Connection, "on_ready"):
        return Connection, "on_ready"
    return server.RequestHandlerClass, "handle_one_request"  # type: ignore


if __name__ == "__main__":
    sys.exit(main())
