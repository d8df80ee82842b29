"""`python -m quick_server [PORT]`: serve a folder, like `python -m
http.server` but with the default white list, no hidden files and no
traversal."""
from __future__ import annotations

import argparse
import os
import sys

from . import __version__, create_server, msg
from .dev.devcert import DevCertError

DEMO_FOLDER = os.path.join(os.path.dirname(__file__), "demo")
DEFAULT_PORT = 8000
PROG = "python -m quick_server"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; the port comes positionally (as with
    http.server) or by -p/--port, and is `DEFAULT_PORT` without either."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Serves a folder like python -m http.server, "
        "but with the default white list, no hidden files and no way out of "
        "the folder.")
    parser.add_argument("port", nargs="?", type=int,
                        help=f"port to listen on (default: {DEFAULT_PORT}; "
                             "0 picks a free one)")
    parser.add_argument("-p", "--port", type=int, dest="port_option",
                        metavar="PORT", help="the port, as an option")
    parser.add_argument("--www", default=None,
                        help="folder to serve (default: a built-in demo)")
    parser.add_argument("-a", "--addr", default="127.0.0.1",
                        help="address to bind (default: 127.0.0.1; "
                             "'0.0.0.0' or '::' for every interface)")
    parser.add_argument("--all-files", action="store_true",
                        help="serve every non-hidden file, not only the "
                             "default white list (default: white list)")
    parser.add_argument("--no-listing", action="store_true",
                        help="do not list folders without index.html "
                             "(default: list them)")
    parser.add_argument("--no-command-loop", action="store_true",
                        help="do not read commands from standard input "
                             "(default: read them)")
    parser.add_argument("--reload", action="store_true",
                        help="live development: restart when a source file "
                             "changes, reload browsers when a served file "
                             "changes (default: off)")
    parser.add_argument("--https", action="store_true",
                        help="serve HTTPS with a self-signed certificate "
                             "for localhost, made with openssl and kept in "
                             "the user's cache folder (default: HTTP)")
    parser.add_argument("--dashboard", action="store_true",
                        help="serve a live dashboard of requests and jobs "
                             "at /_quick_server, and Prometheus metrics at "
                             "/_quick_server/metrics, to this machine only "
                             "(default: off)")
    parser.add_argument("--version", action="version",
                        version=f"quick_server {__version__}")
    args = parser.parse_args(argv)
    if args.port is not None and args.port_option is not None:
        parser.error("give the port once: as PORT or as -p PORT")
    args.port = next((p for p in (args.port, args.port_option)
                      if p is not None), DEFAULT_PORT)
    return args


def fail(message: str) -> int:
    """Reports a bad setting as one line on stderr; the exit code 2."""
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    folder = os.path.abspath(args.www or DEMO_FOLDER)
    if not os.path.isdir(folder):
        return fail(f"not a folder: {folder}")
    if not 0 <= args.port <= 65535:
        return fail(f"port {args.port} is out of range (0 to 65535)")
    try:
        server = create_server((args.addr, args.port),
                               certfile="auto" if args.https else None)
    except DevCertError as err:
        return fail(str(err))
    except OSError as err:
        return fail(f"cannot listen on {args.addr} port {args.port}: "
                    f"{err.strerror or err}")
    server.bind_path("/", folder)
    if not args.all_files:
        server.add_default_white_list()
    server.directory_listing = not args.no_listing
    server.link_empty_favicon_fallback()
    server.no_command_loop = args.no_command_loop
    server.auto_restart = server.live_reload = args.reload
    if args.dashboard:
        server.bind_dashboard("/_quick_server")
        server.bind_metrics("/_quick_server/metrics")
    host = f"[{args.addr}]" if ":" in args.addr else args.addr
    scheme = "https" if args.https else "http"
    msg("serving {0} at {1}://{2}:{3}/", folder, scheme, host, server.port)
    if args.dashboard:
        msg("dashboard at {0}://{1}:{2}/_quick_server", scheme, host,
            server.port)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
