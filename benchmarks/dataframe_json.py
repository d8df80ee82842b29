"""A ~20 MB DataFrame answered by a JSON route (issue 25): seconds for the
answer and the peak memory above what the process held before (max RSS;
client and server are one process here, so the client's copy of the body
counts too); for comparison, the records path (`to_dict("records")`)
and pandas' own `to_json` in a `Response` (fast, but 15 decimal places
at most: 1.2345678901234567e-05 comes out as 0.000012345678901).

    python benchmarks/dataframe_json.py
"""
from __future__ import annotations

import http.client
import resource
import statistics
import threading
import time

import numpy as np
import pandas as pd

from quick_server import Response, create_server

ROWS = 200_000
ROUNDS = 5


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
    server.add_json_get_mask("/to_json", lambda req, args: Response(
        df.to_json(orient="records", double_precision=15,
                   date_format="iso"), ctype="application/json"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    base = rss_mb()
    paths = ("/df", "/to_json", "/records")  # (peak RSS only grows: the
    times: dict[str, list[float]] = {path: [] for path in paths}  # least
    for round_ in range(ROUNDS):  # first; later rounds time alone)
        for path in paths:
            seconds, size = fetch(port, path)
            times[path].append(seconds)
            if not round_:
                print(f"{path:9} {size / 1e6:6.1f} MB, "
                      f"peak RSS +{rss_mb() - base:.0f} MB")
    ours = statistics.median(times["/df"])
    for path in paths:
        median = statistics.median(times[path])
        print(f"{path:9} median of {ROUNDS}: {median:.3f} s "
              f"({median / ours:.2f}x /df)")
    server.shutdown()
    thread.join()
    server.server_close()


if __name__ == "__main__":
    main()
