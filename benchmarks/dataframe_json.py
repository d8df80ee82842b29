"""A ~20 MB DataFrame answered by a JSON route (issue 25): seconds for the
answer and the peak memory above what the process held before (max RSS;
client and server are one process here, so the client's copy of the body
counts too); the records path (`to_dict("records")`) for comparison.

    python benchmarks/dataframe_json.py
"""
from __future__ import annotations

import http.client
import resource
import threading
import time

import numpy as np
import pandas as pd

from quick_server import create_server

ROWS = 200_000


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fetch(port: int, path: str) -> tuple[float, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    start = time.perf_counter()
    conn.request("GET", path)
    resp = conn.getresponse()
    size = len(resp.read())
    seconds = time.perf_counter() - start
    conn.close()
    return seconds, size


def main() -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.random(ROWS), "b": rng.random(ROWS),
                       "c": rng.integers(0, 10**9, ROWS),
                       "d": pd.date_range("2024-01-01", periods=ROWS,
                                          freq="s"),
                       "e": rng.random(ROWS) * 1e6})
    server = create_server(("127.0.0.1", 0))
    server.no_command_loop = True
    server.suppress_noise = True
    server.add_json_get_mask("/df", lambda req, args: df)
    server.add_json_get_mask("/records",
                             lambda req, args: df.to_dict("records"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    base = rss_mb()
    for path in ("/df", "/records"):
        seconds, size = fetch(port, path)
        print(f"{path:9} {size / 1e6:6.1f} MB in {seconds:.3f} s, "
              f"peak RSS +{rss_mb() - base:.0f} MB")
    server.shutdown()
    thread.join()
    server.server_close()


if __name__ == "__main__":
    main()
