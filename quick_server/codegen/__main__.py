"""`python -m quick_server.codegen URL -o client.py`: a typed Python
client of a server, from its OpenAPI document (a URL or a file)."""
from __future__ import annotations

import argparse
import os
import sys

from .load import load_document
from .module import generate
from .names import CodegenError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m quick_server.codegen",
        description="Generates a typed Python client (dataclasses and a "
                    "Client class) from a quick_server OpenAPI document.")
    parser.add_argument("source", help="the document's URL (such as "
                        "http://localhost:8080/openapi.json) or a file")
    parser.add_argument("-o", "--output", default="-",
                        help="the module to write (default: standard "
                             "output)")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds to wait for the document")
    args = parser.parse_args(argv)
    try:
        source = generate(load_document(args.source, args.timeout),
                          args.source)
    except CodegenError as err:
        print(f"quick_server.codegen: {err}", file=sys.stderr)
        return 1
    if args.output == "-":
        sys.stdout.write(source)
        return 0
    temp = args.output + ".tmp"
    with open(temp, "w", encoding="utf-8") as handle:
        handle.write(source)
    os.replace(temp, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
