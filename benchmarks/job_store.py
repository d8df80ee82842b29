#!/usr/bin/env python3
"""What the job store costs (issue 21): two servers alike but for the
store, side by side in one run: "memory" (`persist_jobs(None)`: jobs in
memory only) and "store" (the default store, which a serving server with
worker routes opens in the cache folder; `XDG_CACHE_HOME` is set to a
temporary folder, so nothing lands in the user's cache).

    .venv-3.11/bin/python benchmarks/job_store.py [--rounds N] [--md FILE]

Cases, through the worker protocol with long-polls (`"wait"` on start and
get), from clients in this process, taking turns round after round (the
order flips each round) so that load from elsewhere on the machine falls
on both alike:

* latency: `--jobs` 0 ms jobs one after the other on a keep-alive
  connection, each timed from sending `start` to its result.
* throughput: `--clients` connections running 0 ms jobs at once for
  `--seconds`: jobs per second.
* progress: `--progress-jobs` jobs of 0.2 s that report progress every
  10 ms (quick_server sends one report per 50 ms, the store commits at
  most one per 0.5 s), one after the other: start to result.

Ratios are store / memory, the median over rounds of each round's ratio.
Also: the server's CPU time per job, and what the store holds at the
start of each round and after the run (rows, file sizes). Each job
commits three times (queued, started, ended); a result is held (in memory
and in the store) until `redeliver_timeout` (60 s) after it was handed
out, so within a run the store keeps every job.

Every server runs as its own process on 127.0.0.1, is started by this
script and stopped by its PID; every loop is bounded in count and time.
(`job_store.py serve PORT STORE` is the server it starts: STORE is
`none`, `default` or a file.)"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from typing import Any

# (run as a script: benchmarks/ is on the path)
from jobs import (BUDGET, QUIET_CORES, Client, OtherLoad, Processes,
                  free_port, percentile, serve, wait_for_port)

SERVERS = {"memory": "none", "store": "default"}  # name -> STORE argument
PROGRESS_STEPS = 20  # of 10 ms each


# -- the server ---------------------------------------------------------------

def progress(payload: dict[str, Any]) -> int:
    """`payload["steps"]` sleeps of 10 ms, reporting progress after
    each."""
    # pylint: disable-next=import-outside-toplevel
    from quick_server import report_progress
    steps = payload["steps"]
    for step in range(steps):
        time.sleep(0.01)
        report_progress(step + 1, steps)
    return 0


def serve_with_store(port: int, store: str, redeliver: float | None
                     ) -> None:
    """`jobs.py`'s server (a thread executor) with `store`: "none" keeps
    jobs in memory only, "default" opens the default store, else the
    file at that path; `redeliver`: `settings.jobs.redeliver_timeout`."""
    def configure(server: Any) -> None:
        if redeliver is not None:
            server.settings.jobs.redeliver_timeout = redeliver
        if store == "none":
            server.persist_jobs(None)
        elif store != "default":
            server.persist_jobs(store)
        server.json_worker("/progress")(progress)
    serve(port, "thread", None, configure)


class Server:
    """One benchmarked server process, and what it did."""

    def __init__(self, procs: Processes, name: str, cache: str,
                 redeliver: float | None) -> None:
        self.name = name
        self.port = free_port()
        self.proc = procs.start(
            [os.path.abspath(__file__), "serve", str(self.port),
             SERVERS[name]] + ([] if redeliver is None else [str(redeliver)]))
        wait_for_port(self.port, self.proc, f"the {name} server")
        self.cache = cache
        self.jobs = 0  # jobs sent to it, warm-up included
        self.latency: list[list[float]] = []  # ms, each round
        self.rates: list[float] = []  # jobs/s, each round
        self.progress: list[float] = []  # ms, every job
        self.other: list[float] = []  # cores busy elsewhere, each phase
        self.ticks: dict[str, int] = {}  # CPU time by case
        self.counts: dict[str, int] = {}  # jobs by case
        self.rows: list[int] = []  # jobs in the store, each round
        client = Client(self.port)
        try:
            for _ in range(20):  # warm: the connection, threads, the store
                client.run("/noop", {})
                self.jobs += 1
        finally:
            client.close()

    def cpu_ticks(self) -> int:
        with open(f"/proc/{self.proc.pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime

    def store_file(self) -> str | None:
        """The store's file in the cache folder (one per script and port)."""
        found = glob.glob(os.path.join(glob.escape(self.cache), "*",
                                       f"jobs-*-{self.port}.sqlite3"))
        return found[0] if found else None

    def store_rows(self) -> int | None:
        path = self.store_file()
        if path is None:
            return None
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True,
                             timeout=10) as db:
            row = db.execute("SELECT count(*) FROM jobs").fetchone()
        db.close()
        return int(row[0])

    def measured(self, case: str, ticks: int, jobs: int,
                 other: OtherLoad) -> None:
        self.ticks[case] = self.ticks.get(case, 0) + self.cpu_ticks() - ticks
        self.counts[case] = self.counts.get(case, 0) + jobs
        self.jobs += jobs
        self.other.append(other.cores())


# -- the cases ----------------------------------------------------------------

def latency_case(server: Server, jobs: int) -> None:
    client, times = Client(server.port), []
    other, ticks = OtherLoad(), server.cpu_ticks()
    end = time.monotonic() + BUDGET
    try:
        for _ in range(jobs):
            if time.monotonic() > end:
                break
            t0 = time.perf_counter()
            client.run("/noop", {})
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        client.close()
    server.measured("latency", ticks, len(times), other)
    server.latency.append(times)


def throughput_case(server: Server, clients: int, seconds: float) -> None:
    counts = [0] * clients
    errors: list[Exception] = []

    def one(index: int, end: float) -> None:
        client = Client(server.port)
        try:
            for _ in range(1_000_000):
                if time.monotonic() > end:
                    break
                client.run("/noop", {})
                counts[index] += 1
        except Exception as err:  # pylint: disable=broad-except
            errors.append(err)
        finally:
            client.close()
    other, ticks = OtherLoad(), server.cpu_ticks()
    t0 = time.perf_counter()
    end = time.monotonic() + seconds
    threads = [threading.Thread(target=one, args=(i, end))
               for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(BUDGET)
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{server.name}: {errors[0]!r}")
    server.measured("throughput", ticks, sum(counts), other)
    server.rates.append(sum(counts) / wall)


def progress_case(server: Server, jobs: int) -> None:
    client = Client(server.port)
    other, ticks = OtherLoad(), server.cpu_ticks()
    try:
        for _ in range(jobs):
            t0 = time.perf_counter()
            client.run("/progress", {"steps": PROGRESS_STEPS})
            server.progress.append((time.perf_counter() - t0) * 1000)
    finally:
        client.close()
    server.measured("progress", ticks, jobs, other)


def measure(args: argparse.Namespace, servers: list[Server]) -> None:
    for index in range(args.rounds):
        order = servers if index % 2 == 0 else servers[::-1]
        for server in order:
            rows = server.store_rows()
            if rows is not None:
                server.rows.append(rows)
        for server in order:
            latency_case(server, args.jobs)
        for server in order:
            throughput_case(server, args.clients, args.seconds)
        if args.progress_jobs:
            for server in order:
                progress_case(server, args.progress_jobs)
        print(f"round {index + 1}: " + "; ".join(
            f"{s.name} p50 {statistics.median(s.latency[-1]):.2f} ms, "
            f"{s.rates[-1]:.0f} jobs/s" for s in servers), file=sys.stderr)


# -- the report ---------------------------------------------------------------

def ratios(store: list[float], memory: list[float]) -> float:
    """The median of the rounds' ratios store / memory."""
    return statistics.median(s / m for s, m in zip(store, memory))


def render(args: argparse.Namespace, memory: Server, store: Server,
           files: dict[str, int], rows: int) -> str:
    def latency(server: Server) -> str:
        times = sorted(t for round_ in server.latency for t in round_)
        return (f"p50 {percentile(times, 50):.2f} ms, "
                f"p99 {percentile(times, 99):.2f} ms")

    def p99(server: Server) -> float:
        return percentile(sorted(t for r in server.latency for t in r), 99)

    def cpu(server: Server, case: str) -> float:
        return (server.ticks[case] / os.sysconf("SC_CLK_TCK") * 1000 /
                max(1, server.counts[case]))

    p50s = {s.name: [statistics.median(r) for r in s.latency]
            for s in (memory, store)}
    lines = ["| case | memory (`persist_jobs(None)`) | store (default) | "
             "store / memory |", "|---|---:|---:|---:|"]
    lines.append(
        f"| 0 ms job one after another, start to result ({args.jobs} jobs "
        f"x {args.rounds} rounds) | {latency(memory)} | {latency(store)} | "
        f"**{ratios(p50s['store'], p50s['memory']):.2f}x** p50 (median of "
        f"rounds), {p99(store) / p99(memory):.2f}x p99 |")
    lines.append(
        f"| {args.clients} clients at once, {args.seconds:g} s per round | "
        f"{statistics.median(memory.rates):,.0f} jobs/s (median) | "
        f"{statistics.median(store.rates):,.0f} jobs/s | "
        f"**{ratios(store.rates, memory.rates):.2f}x** jobs/s |")
    for case, what in (("latency", "one after another"),
                       ("throughput", f"{args.clients} at once")):
        lines.append(
            f"| server CPU per 0 ms job, {what} | {cpu(memory, case):.2f} ms "
            f"| {cpu(store, case):.2f} ms | "
            f"{cpu(store, case) / cpu(memory, case):.2f}x |")
    if args.progress_jobs:
        mem = statistics.median(memory.progress)
        sto = statistics.median(store.progress)
        lines.append(
            f"| a 0.2 s job reporting progress every 10 ms, start to result "
            f"({args.progress_jobs} x {args.rounds}) | p50 {mem:.1f} ms | "
            f"p50 {sto:.1f} ms | {sto - mem:+.1f} ms p50 |")
    size = files.get("", 0)
    each = f" ({size / rows:.0f} bytes a job)" if rows >= 100 else ""
    lines.append(
        f"| the store after {store.jobs:,} jobs | — | {rows:,} rows: "
        f"{size / 1024:,.0f} KiB{each} + WAL "
        f"{files.get('-wal', 0) / 1024:,.0f} KiB | |")
    phases = 3 if args.progress_jobs else 2
    busy = [max(memory.other[i * phases:(i + 1) * phases] +
                store.other[i * phases:(i + 1) * phases])
            for i in range(args.rounds)]
    by_round = "; ".join(
        f"{rows_:,}: {s_lat / m_lat:.2f}x, {s_rate / m_rate:.2f}x" +
        (f" (busy: {cores:.1f} cores elsewhere)" if cores > QUIET_CORES
         else "")
        for rows_, s_lat, m_lat, s_rate, m_rate, cores in
        zip(store.rows, p50s["store"], p50s["memory"], store.rates,
            memory.rates, busy))
    other = statistics.median(memory.other + store.other)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return ("\n".join(lines) + "\n\n"
            f"By round, the jobs the store held at its start: the ratio of "
            f"latency p50, of jobs/s: {by_round}.\n\n"
            f"Other load: median {other:.2f} cores. Load average at the end "
            f"(1, 5, 15 min): {load}.\n")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve_with_store(int(sys.argv[2]), sys.argv[3],
                         float(sys.argv[4]) if len(sys.argv) > 4 else None)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--progress-jobs", type=int, default=3)
    parser.add_argument("--redeliver", type=float, help="both servers' "
                        "settings.jobs.redeliver_timeout (default 60 s: "
                        "every job of a run stays in the store)")
    parser.add_argument("--md", help="also write the table to this file")
    args = parser.parse_args()
    cache = tempfile.mkdtemp(prefix="quick_server-job-store-bench-")
    os.environ["XDG_CACHE_HOME"] = cache  # the servers' cache folder
    log = os.path.join(tempfile.gettempdir(), "quick_server-jobs-bench.log")
    procs = Processes(log)
    t0 = time.monotonic()
    try:
        memory = Server(procs, "memory", cache, args.redeliver)
        store = Server(procs, "store", cache, args.redeliver)
        path = store.store_file()
        if path is None or memory.store_file() is not None:
            raise RuntimeError(f"the store is not where it should be: {path}")
        measure(args, [memory, store])
        rows = store.store_rows() or 0
        files = {suffix: os.path.getsize(path + suffix)
                 for suffix in ("", "-wal") if os.path.exists(path + suffix)}
    finally:
        procs.stop_all()
        shutil.rmtree(cache, ignore_errors=True)
    table = render(args, memory, store, files, rows)
    print(json.dumps({s.name: {"latency_p50": [
        round(statistics.median(r), 3) for r in s.latency],
        "rates": [round(r) for r in s.rates], "rows": s.rows,
        "other": [round(c, 2) for c in s.other]} for s in (memory, store)}),
        file=sys.stderr)
    print(table + f"\n{time.monotonic() - t0:.0f} s.", flush=True)
    if args.md:
        with open(args.md, "w", encoding="utf-8") as handle:
            handle.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
