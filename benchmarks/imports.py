"""What importing quick_server costs, beside `import http.server`.

Each case runs in a fresh interpreter (`python -S -X importtime -c ...`,
no site-packages: quick_server needs none), RUNS times (default 15); the
median of the total import time of the case's top modules is printed, in
milliseconds, with its ratio to `http.server`.

    python benchmarks/imports.py [--checkout DIR] [--runs N]

Cases: `import http.server` (the floor a stdlib server pays), `import
quick_server`, and a script with routes and static files only
(`create_server`, `bind_path`, `json_get`), which should load only what it
uses."""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

ROUTES_AND_STATIC = """
from quick_server import create_server
server = create_server(("127.0.0.1", 0))
server.bind_path("/", ".")
server.add_default_white_list()
@server.json_get("/api/ping")
def _ping(req, args):
    return {"ok": True}
server.server_close()
"""

CASES = {
    "import http.server": "import http.server",
    "import quick_server": "import quick_server",
    "routes and static files": ROUTES_AND_STATIC,
}

LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def import_ms(code: str, checkout: str) -> float:
    """Milliseconds spent importing in one fresh interpreter: the sum of
    the cumulative times of the top-level imports."""
    done = subprocess.run(
        [sys.executable, "-S", "-X", "importtime", "-c", code],
        capture_output=True, text=True, check=True, cwd=checkout,
        env={**os.environ, "PYTHONPATH": checkout}, timeout=60)
    total = 0
    for line in done.stderr.splitlines():
        found = LINE.match(line)
        if found and len(found[3]) == 1:  # a top-level import
            total += int(found[2])
    return total / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", default=os.path.dirname(HERE))
    parser.add_argument("--runs", type=int, default=15)
    options = parser.parse_args()
    for code in CASES.values():  # compile the bytecode once, not timed
        import_ms(code, options.checkout)
    medians = {}
    for name, code in CASES.items():
        medians[name] = statistics.median(
            import_ms(code, options.checkout) for _ in range(options.runs))
    floor = medians["import http.server"]
    print(f"{options.checkout}: median of {options.runs} fresh interpreters")
    for name, ms in medians.items():
        print(f"{name:28} {ms:7.1f} ms  {ms / floor:5.2f}x http.server")


if __name__ == "__main__":
    main()
