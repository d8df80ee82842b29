#!/usr/bin/env python3
"""Four numpy jobs on `executor="process"` (issue 25): each multiplies
and solves 1000x1000 matrices; `max_processes` = 2 by default. Each case
is a fresh server process (a script that imports numpy at module level,
as users do), timed from the first submit to the last result, in one run:

* before: the job processes' thread caps turned off (the variables
  unset, numpy's BLAS as wide as the machine in every job process), as
  before issue 25;
* after: cores / max_processes threads per job process (numpy was
  imported before the fork: capped through OpenBLAS's own setter);
* after, lazy: numpy imported only inside the job (capped by the
  environment variables, read when numpy loads in the job process).

    python3 benchmarks/blas_jobs.py [--checkout DIR] [--jobs 4]
        [--processes 2] [--rounds 10] [--size 1000] [--repeat 3]

The cases take turns `--repeat` times; each row is the median (and the
range) of its runs.

Needs numpy in the Python that runs it."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
             "NUMEXPR_NUM_THREADS")

APP = r'''
import json, sys, time
MODE, JOBS, PROCESSES, ROUNDS, SIZE = sys.argv[1], *map(int, sys.argv[2:6])
if MODE != "lazy":
    import numpy as np  # at module level: loaded before the pool forks
from quick_server import create_server
from quick_server.jobs import thread_caps

def crunch(seed):
    import numpy as np
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((SIZE, SIZE))
    total = 0.0
    for _ in range(ROUNDS):
        b = a @ a.T
        total += float(np.linalg.solve(b + SIZE * np.eye(SIZE), a[:, 0])[0])
    return total

if MODE == "before":
    thread_caps.cap = lambda threads: []  # as before issue 25
server = create_server(("127.0.0.1", 0))
server.suppress_noise = True
server.max_processes = PROCESSES
server.start_job_processes()
server.submit(abs, 0, executor="process").result(60)  # a process forked
start = time.perf_counter()
futures = [server.submit(crunch, seed, executor="process")
           for seed in range(JOBS)]
for future in futures:
    future.result(600)
print(json.dumps({"seconds": time.perf_counter() - start}))
server.stop() if hasattr(server, "stop") else server.server_close()
'''


def run(mode: str, args: argparse.Namespace) -> float:
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    env["PYTHONPATH"] = args.checkout
    out = subprocess.run(
        [sys.executable, "-c", APP, mode, str(args.jobs),
         str(args.processes), str(args.rounds), str(args.size)],
        capture_output=True, text=True, timeout=1200, env=env, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{mode}: {out.stderr}")
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkout", default=ROOT)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(
        os, "sched_getaffinity") else os.cpu_count()
    print(f"{args.jobs} jobs, max_processes={args.processes}, {cores} cores, "
          f"{args.rounds} rounds of {args.size}x{args.size} matmul + solve")
    cases = {"before": "before (no caps)",
             "after": "after (numpy imported first)",
             "lazy": "after (numpy imported in the job)"}
    times: dict[str, list[float]] = {mode: [] for mode in cases}
    for _ in range(args.repeat):
        for mode in cases:
            times[mode].append(run(mode, args))
    before = statistics.median(times["before"])
    print("| case | wall time (median) | range | before / case |")
    print("|---|---:|---:|---:|")
    for mode, label in cases.items():
        median = statistics.median(times[mode])
        print(f"| {label} | {median:.2f} s | {min(times[mode]):.2f}-"
              f"{max(times[mode]):.2f} s | **{before / median:.1f}x** |")

if __name__ == "__main__":
    main()
