"""`python -m quick_server`: serve a folder, like `python -m http.server`
but with the default white list, no hidden files and no traversal."""
from __future__ import annotations

import argparse
import os
import sys

from . import create_server, msg

DEMO_FOLDER = os.path.join(os.path.dirname(__file__), "demo")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m quick_server", description=__doc__)
    parser.add_argument("--www", default=None,
                        help="folder to serve (default: a built-in demo)")
    parser.add_argument("-a", "--addr", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1; "
                             "'0.0.0.0' or '::' for every interface)")
    parser.add_argument("-p", "--port", type=int, default=8000)
    parser.add_argument("--all-files", action="store_true",
                        help="serve every non-hidden file, not only the "
                             "default white list")
    parser.add_argument("--no-listing", action="store_true",
                        help="do not list folders without index.html")
    parser.add_argument("--no-command-loop", action="store_true")
    args = parser.parse_args(argv)
    folder = os.path.abspath(args.www or DEMO_FOLDER)
    if not os.path.isdir(folder):
        parser.error(f"not a folder: {folder}")
    server = create_server((args.addr, args.port))
    server.bind_path("/", folder)
    if not args.all_files:
        server.add_default_white_list()
    server.directory_listing = not args.no_listing
    server.link_empty_favicon_fallback()
    server.no_command_loop = args.no_command_loop
    host = f"[{args.addr}]" if ":" in args.addr else args.addr
    msg("serving {0} at http://{1}:{2}/", folder, host, server.port)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
