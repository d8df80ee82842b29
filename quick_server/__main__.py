"""`python -m quick_server [PORT]`: serve a folder, like `python -m
http.server` but with the default white list, no hidden files and no
traversal."""
from __future__ import annotations

import argparse
import os
import socket
import sys
from typing import Any

from . import __version__, create_server, msg
from .dev.addresses import is_any, server_urls
from .dev.devcert import DevCertError
from .dev.restart import has_been_restarted
from .http.extra_headers import field_problem, parse_header
from .threads import make_thread

DEMO_FOLDER = os.path.join(os.path.dirname(__file__), "demo")
DEFAULT_PORT = 8000
PROG = "python -m quick_server"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line, its flags in groups; the port comes
    positionally (as with http.server) or by -p/--port, and is
    `DEFAULT_PORT` without either."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Serves a folder like python -m http.server, "
        "but with the default white list, no hidden files and no way out of "
        "the folder.")
    serving = parser.add_argument_group("serving")
    serving.add_argument("--www", default=None, metavar="DIR",
                         help="folder to serve (default: a built-in demo)")
    serving.add_argument("--all-files", action="store_true",
                         help="serve every non-hidden file, not only the "
                              "default white list (default: white list)")
    serving.add_argument("--no-listing", action="store_true",
                         help="do not list folders without index.html "
                              "(default: list them)")
    serving.add_argument("--spa", action="store_true",
                         help="single-page app: a browser's GET that no "
                              "file answers (a client-side route such as "
                              "/users/3) gets /index.html; a missing "
                              "script or image stays a 404 (default: off)")
    serving.add_argument("--header", action="append", default=[],
                         metavar="'NAME: VALUE'",
                         help="a header for every answer, replacing the "
                              "answer's own of that name (repeatable)")
    dev = parser.add_argument_group("development")
    dev.add_argument("--reload", action="store_true",
                     help="live development: restart when a source file "
                          "changes, reload browsers when a served file "
                          "changes (default: off)")
    dev.add_argument("--open", action="store_true",
                     help="open the default browser at the server's URL "
                          "once serving (default: off)")
    dev.add_argument("--dashboard", action="store_true",
                     help="serve a live dashboard of requests and jobs "
                          "at /_quick_server, and Prometheus metrics at "
                          "/_quick_server/metrics, to this machine only "
                          "(default: off)")
    dev.add_argument("--no-command-loop", action="store_true",
                     help="do not read commands from standard input "
                          "(default: read them)")
    net = parser.add_argument_group("network")
    net.add_argument("port", nargs="?", type=int,
                     help=f"port to listen on (default: {DEFAULT_PORT}; "
                          "0 picks a free one)")
    net.add_argument("-p", "--port", type=int, dest="port_option",
                     metavar="PORT", help="the port, as an option")
    net.add_argument("-a", "--addr", default="127.0.0.1",
                     help="address to bind (default: 127.0.0.1; "
                          "'0.0.0.0' or '::' for every interface: the "
                          "network URLs are printed)")
    net.add_argument("--https", action="store_true",
                     help="serve HTTPS with a self-signed certificate "
                          "for localhost, made with openssl and kept in "
                          "the user's cache folder (default: HTTP)")
    net.add_argument("--cors", action="store_true",
                     help="let pages of any other origin read the "
                          "answers, without credentials (default: off)")
    net.add_argument("--proxy", action="append", default=[],
                     metavar="PREFIX=URL",
                     help="forward requests under PREFIX that no file "
                          "answers to URL, which replaces the prefix: "
                          "/api=http://localhost:5000/api (repeatable; a "
                          "URL alone forwards every such request)")
    parser.add_argument("--version", action="version",
                        version=f"quick_server {__version__}")
    args = parser.parse_args(argv)
    if args.port is not None and args.port_option is not None:
        parser.error("give the port once: as PORT or as -p PORT")
    args.port = next((p for p in (args.port, args.port_option)
                      if p is not None), DEFAULT_PORT)
    return args


def parse_proxy(text: str) -> tuple[str, str]:
    """`PREFIX=URL` (a `--proxy`) -> `(prefix, url)`, the prefix ending
    with "/"; a URL alone is the prefix "/". ValueError for a prefix
    that does not start with "/"."""
    prefix, equals, target = text.partition("=")
    if not equals or "://" in prefix:
        prefix, target = "/", text
    if not prefix.startswith("/"):
        raise ValueError(f"--proxy {text!r} is not PREFIX=URL with a "
                         f"PREFIX starting with '/' (/api=http://...)")
    return prefix.rstrip("/") + "/", target


def parse_headers(texts: list[str]) -> dict[str, str]:
    """The `--header 'Name: value'` options as `extra_headers`;
    ValueError naming the option that cannot go on every answer."""
    headers: dict[str, str] = {}
    for text in texts:
        name, value = parse_header(text)
        problem = field_problem(name, value)
        if problem is None and name.lower() in map(str.lower, headers):
            problem = "that header was given already (give it once, its " \
                "values separated by commas)"
        if problem is not None:
            raise ValueError(f"--header {text!r}: {problem}")
        headers[name] = value
    return headers


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
        headers = parse_headers(args.header)
        proxies = [parse_proxy(text) for text in args.proxy]
    except ValueError as err:
        return fail(str(err))
    try:
        server = create_server((args.addr, args.port),
                               certfile="auto" if args.https else None)
    except DevCertError as err:
        return fail(str(err))
    except OSError as err:
        return fail(f"cannot listen on {args.addr} port {args.port}: "
                    f"{err.strerror or err}")
    try:
        for prefix, target in proxies:
            server.bind_proxy(prefix, target)
    except ValueError as err:
        server.server_close()
        return fail(f"--proxy: {err}")
    server.bind_path("/", folder)
    if not args.all_files:
        server.add_default_white_list()
    server.directory_listing = not args.no_listing
    server.link_empty_favicon_fallback()
    server.no_command_loop = args.no_command_loop
    server.auto_restart = server.live_reload = args.reload
    if headers:
        server.extra_headers = headers
    if args.cors:
        server.cross_origin = True
    if args.spa:
        server.spa_fallback("/index.html")
    if args.dashboard:
        server.bind_dashboard("/_quick_server")
        server.bind_metrics("/_quick_server/metrics")
    local = announce(server, folder, args)
    if args.spa and not os.path.isfile(os.path.join(folder, "index.html")):
        msg(f"--spa: {folder} has no index.html: deep links stay 404s")
    if args.open and not has_been_restarted():  # once, not on each restart
        open_browser(local)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def announce(server: Any, folder: str, args: argparse.Namespace) -> str:
    """Prints where the server can be reached: its URL, and on every
    interface the loopback URL and one per network address of this
    machine (`dev.addresses`). Returns the URL for this machine."""
    scheme = "https" if args.https else "http"
    dual_stack = False
    if server.socket.family == socket.AF_INET6:
        try:
            dual_stack = not server.socket.getsockopt(
                socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
        except OSError:
            pass
    local, others = server_urls(scheme, args.addr, server.port,
                                dual_stack=dual_stack)
    text = f"serving {folder} at {local}"
    if others:
        text += "\non the network at " + ", ".join(others)
    elif is_any(args.addr):
        text += "\non every interface, but this machine has no network " \
            "address other machines could reach"
    msg(text)
    if args.dashboard:
        msg(f"dashboard at {local}_quick_server")
    return local


def open_browser(url: str) -> None:
    """Opens `url` in the default browser (`webbrowser`, which honours
    the BROWSER variable) on a thread of its own: a browser that runs in
    the terminal returns only when it ends. The server listens already:
    the browser's request waits in the kernel's queue until the server
    accepts it."""
    def run() -> None:
        import webbrowser  # loaded only for --open
        try:
            opened = webbrowser.open(url)
        except webbrowser.Error:
            opened = False
        if not opened:
            msg(f"no browser could be opened: open {url} yourself")
    make_thread(target=run, name="open browser", daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
