#!/usr/bin/env python3
"""Where jobs run, side by side in one run: threads, the server's own job
processes, and Dask (a scheduler and two one-thread worker processes).

    .venv-3.11/bin/python benchmarks/jobs.py [--md FILE] [--rounds N]

Needs `distributed` for the Dask column (`pip install -e ".[dask]"`),
else that column is skipped. Cases, each through the worker protocol
with long-polls (`"wait"` on start and get), from clients in this process:

* cpu: 4 CPU-bound jobs (a pure Python loop calibrated here to about
  `--job-seconds`) started at once; the wall time until the last result.
  The executors take turns, round after round (`--rounds`), so that load
  from elsewhere on the machine falls on each alike; each round measures
  the cores that other processes kept busy meanwhile. Ratios to
  "thread": the median over quiet rounds (other load under
  `QUIET_CORES`), over all rounds, and best round to best round.
* overhead: `--overhead-jobs` jobs that return at once, one after the
  other, each timed from sending `start` (with `"wait"`) to its result.
* cancel: a running CPU-bound "process" job is stopped; the time from
  sending `stop` until its process is gone, `--cancels` times.

Every server, scheduler and worker runs as its own process on 127.0.0.1,
is started by this script and stopped by its PID; every loop is bounded
in count and time. (`jobs.py serve PORT EXECUTOR [SCHEDULER]` is the
server it starts.)"""
from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HOST = "127.0.0.1"
EXECUTORS = ["thread", "process", "dask"]
BUDGET = 60.0  # seconds any one measurement may take
# the targets of issue 10
CPU_TARGETS = {"process": 1.7, "dask": 1.6}  # times faster than "thread"
OVERHEAD_TARGETS_MS = {"thread": 2.0, "process": 10.0, "dask": 30.0}  # p50
CANCEL_TARGET_MS = 1000.0
# a measurement during which other processes kept less than this many
# cores busy counts as quiet
QUIET_CORES = 0.25


# -- the jobs (run in the server, its job processes, or Dask workers) ------

def spin(payload: dict[str, Any]) -> dict[str, Any]:
    """`payload["n"]` steps of a pure Python loop: holds the GIL. Says
    where it ran and how long it took there."""
    t0 = time.perf_counter()
    total = 0
    for step in range(payload["n"]):
        total += step * step
    return {"pid": os.getpid(), "total": total % 1000,
            "seconds": time.perf_counter() - t0}


def noop(payload: dict[str, Any]) -> int:
    return 0


def burn(payload: dict[str, Any]) -> int:
    """Reports its pid, then keeps a core busy (at most 30 s)."""
    from quick_server import report_progress
    report_progress(0, None, str(os.getpid()))
    end = time.monotonic() + 30
    while time.monotonic() < end:
        spin({"n": 10000})
    return 0


def serve(port: int, executor: str, scheduler: str | None,
          configure: Callable[[Any], None] | None = None) -> None:
    """The benchmarked server: every route on `executor`; `configure`
    (of another benchmark) is called with the server before it serves."""
    sys.path.insert(0, ROOT)
    from quick_server import create_server  # pylint: disable=import-outside-toplevel
    server = create_server((HOST, port))
    server.no_command_loop = True
    server.suppress_noise = True
    client = None
    if executor == "dask":
        import distributed  # pylint: disable=import-outside-toplevel
        client = distributed.Client(scheduler, timeout=30)
        server.worker_executor = client.get_executor(pure=False)
    else:
        server.worker_executor = executor
    for fn in (spin, noop, burn):
        server.json_worker("/" + fn.__name__)(fn)
    if configure is not None:
        configure(server)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        if client is not None:
            client.close()


# -- processes ---------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, port), 0.2).close()
            return
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not start")


class Processes:
    """Processes this script started, each stopped by its PID."""

    def __init__(self, log: str) -> None:
        self.log = open(log, "ab")  # pylint: disable=consider-using-with
        self.procs: list[subprocess.Popen] = []

    def start(self, args: list[str]) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable] + args, stdin=subprocess.DEVNULL,
            stdout=self.log, stderr=subprocess.STDOUT, cwd=tempfile.gettempdir(),
            env={**os.environ, "PYTHONPATH": ROOT,
                 "PYTHONDONTWRITEBYTECODE": "1"})
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs)):  # servers before the cluster
            self.stop(proc)
        self.log.close()


def start_cluster(procs: Processes) -> str:
    """A Dask scheduler and two workers (one process and one thread
    each) on 127.0.0.1; returns the scheduler's address."""
    import distributed  # pylint: disable=import-outside-toplevel
    port = free_port()
    address = f"tcp://{HOST}:{port}"
    scheduler = procs.start(["-m", "distributed.cli.dask_scheduler", "--host",
                             HOST, "--port", str(port), "--no-dashboard"])
    wait_for_port(port, scheduler, "the Dask scheduler")
    for _ in range(2):
        procs.start(["-m", "distributed.cli.dask_worker", address,
                     "--nworkers", "1", "--nthreads", "1", "--no-nanny",
                     "--no-dashboard", "--host", HOST, "--local-directory",
                     tempfile.gettempdir()])
    with distributed.Client(address, timeout=30) as client:
        client.wait_for_workers(2, timeout=60)
    return address


def start_server(procs: Processes, executor: str,
                 scheduler: str | None) -> tuple[subprocess.Popen, int]:
    port = free_port()
    args = [os.path.abspath(__file__), "serve", str(port), executor]
    proc = procs.start(args + ([scheduler] if scheduler else []))
    wait_for_port(port, proc, f"the {executor} server")
    return proc, port


# -- the client ----------------------------------------------------------------

class Client:
    """A keep-alive connection speaking the worker protocol."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=BUDGET)

    def post(self, route: str, obj: dict[str, Any]) -> dict[str, Any]:
        self.conn.request("POST", route, json.dumps(obj),
                          {"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{route}: HTTP {resp.status}: {body[:200]!r}")
        answer: dict[str, Any] = json.loads(body)
        return answer

    def run(self, route: str, payload: dict[str, Any]) -> Any:
        """Starts a job and long-polls until its result."""
        deadline = time.monotonic() + BUDGET
        res = self.post(route, {"action": "start", "wait": 10,
                                "payload": payload})
        while not res["done"]:
            if not res["continue"] or time.monotonic() > deadline:
                raise RuntimeError(f"{route}: job lost or too slow: {res}")
            res = self.post(route, {"action": "get", "token": res["token"],
                                    "wait": 10})
        return json.loads(res["result"])

    def close(self) -> None:
        self.conn.close()


def calibrate(seconds: float) -> int:
    """The loop length for which `spin` takes about `seconds` here: the
    median of five runs that other load on the machine did not disturb
    (at most 20 tries, else the median of all)."""
    steps = 200_000
    while True:
        t0 = time.perf_counter()
        spin({"n": steps})
        took = time.perf_counter() - t0
        if took > 0.1:
            break
        steps *= 4
    steps = int(steps * seconds / took)
    times, quiet = [], []
    for _ in range(20):
        other = OtherLoad()
        t0 = time.perf_counter()
        spin({"n": steps})
        times.append(time.perf_counter() - t0)
        if other.cores() < QUIET_CORES:
            quiet.append(times[-1])
            if len(quiet) == 5:
                break
    return int(steps * seconds /
               statistics.median(quiet if len(quiet) == 5 else times))


def host_busy() -> int:
    """Clock ticks the machine's cores spent busy since boot."""
    with open("/proc/stat", encoding="ascii") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    return sum(fields) - fields[3] - fields[4]  # less idle and iowait


def our_busy() -> int:
    """Clock ticks spent by this process and every process below it
    (servers, job processes, the Dask cluster)."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        parents[int(name)] = int(fields[1])
        ticks[int(name)] = int(fields[11]) + int(fields[12])  # utime, stime
    ours = {os.getpid()}
    grew = True
    while grew:
        below = {pid for pid, parent in parents.items() if parent in ours}
        grew = not below <= ours
        ours |= below
    return sum(ticks.get(pid, 0) for pid in ours)


class OtherLoad:
    """The cores that processes not ours kept busy during a measurement
    (other sessions' tests, say): a round with much of it is disturbed."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.host, self.ours = host_busy(), our_busy()

    def cores(self) -> float:
        seconds = time.perf_counter() - self.t0
        ticks = (host_busy() - self.host) - (our_busy() - self.ours)
        return max(0.0, ticks / os.sysconf("SC_CLK_TCK") / seconds)


class CpuCase:
    """`jobs` spin jobs at once on one server, each on its own connection;
    `round()` times one batch until the last result."""

    def __init__(self, port: int, steps: int, jobs: int) -> None:
        self.steps = steps
        self.clients = [Client(port) for _ in range(jobs)]
        self.walls: list[float] = []
        self.spread: list[list[int]] = []  # jobs run by each process
        self.longest: list[float] = []  # the longest job of each round
        self.other: list[float] = []  # cores busy elsewhere, each round
        self.job_times: list[float] = []  # each job, where it ran
        for client in self.clients:  # warm: connections, processes, workers
            client.run("/spin", {"n": 1000})

    def round(self) -> None:
        results: list[Any] = [None] * len(self.clients)

        def one(index: int) -> None:
            try:
                results[index] = self.clients[index].run(
                    "/spin", {"n": self.steps})
            except Exception as err:  # pylint: disable=broad-except
                results[index] = err
        threads = [threading.Thread(target=one, args=(i,))
                   for i in range(len(self.clients))]
        other = OtherLoad()
        t0 = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(BUDGET)
        self.walls.append(time.perf_counter() - t0)
        self.other.append(other.cores())
        for res in results:
            if not isinstance(res, dict):
                raise RuntimeError(f"a cpu job failed: {res!r}")
        ran = [res["pid"] for res in results]
        self.longest.append(max(res["seconds"] for res in results))
        self.job_times.extend(res["seconds"] for res in results)
        self.spread.append(sorted((ran.count(pid) for pid in set(ran)),
                                  reverse=True))

    def summary(self) -> dict[str, Any]:
        for client in self.clients:
            client.close()
        return {"seconds": min(self.walls),
                "median": statistics.median(self.walls),
                "all": [round(wall, 3) for wall in self.walls],
                "spread": self.spread,
                "longest_job": [round(took, 3) for took in self.longest],
                "other_cores": [round(cores, 2) for cores in self.other],
                "median_job": round(statistics.median(self.job_times), 3)}


def cpu_cases(ports: dict[str, int], steps: int, jobs: int, rounds: int
              ) -> dict[str, dict[str, Any]]:
    """The CPU case on every server, round after round in turn (the
    order rotates), so that load from elsewhere on the machine falls on
    all of them alike; the ratio to "thread" is also taken per round."""
    cases = {name: CpuCase(port, steps, jobs) for name, port in ports.items()}
    names = list(cases)
    for index in range(rounds):
        for name in names[index % len(names):] + names[:index % len(names)]:
            cases[name].round()
    results = {name: case.summary() for name, case in cases.items()}
    if "thread" in results:
        threads = cases["thread"]
        for name, res in results.items():
            case = cases[name]
            res["ratios"] = [round(t / w, 2) for t, w in
                             zip(threads.walls, case.walls)]
            res["quiet_ratios"] = [
                round(t / w, 2) for t, w, t_other, w_other in
                zip(threads.walls, case.walls, threads.other, case.other)
                if max(t_other, w_other) < QUIET_CORES]
    return results


def overhead_case(port: int, jobs: int) -> dict[str, Any]:
    """`jobs` 0 ms jobs one after the other: milliseconds from `start`
    (with `wait`) to the result."""
    client = Client(port)
    times = []
    try:
        for _ in range(min(20, jobs)):  # warm
            client.run("/noop", {})
        end = time.monotonic() + BUDGET
        for _ in range(jobs):
            if time.monotonic() > end:
                break
            t0 = time.perf_counter()
            client.run("/noop", {})
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        client.close()
    times.sort()
    return {"p50": percentile(times, 50), "p90": percentile(times, 90),
            "jobs": len(times)}


def percentile(values: list[float], pct: float) -> float:
    return values[min(len(values) - 1, int(len(values) * pct / 100))]


def gone(pid: int) -> bool:
    """True once `pid` has ended (a zombie counts: it runs no more)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def cancel_case(port: int, count: int) -> dict[str, Any]:
    """Starts a CPU-bound job, then stops it: milliseconds from sending
    `stop` until its process is gone, `count` times."""
    client = Client(port)
    times = []
    try:
        for _ in range(count):
            res = client.post("/burn", {"action": "start", "wait": 10})
            if not res.get("progress"):
                raise RuntimeError(f"no progress from the burn job: {res}")
            pid = int(res["progress"]["message"])
            t0 = time.perf_counter()
            client.post("/burn", {"action": "stop", "token": res["token"]})
            end = time.monotonic() + 10
            while not gone(pid) and time.monotonic() < end:
                time.sleep(0.0005)
            if not gone(pid):
                raise RuntimeError(f"job process {pid} still runs after 10 s")
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        client.close()
    times.sort()
    return {"p50": percentile(times, 50), "max": times[-1],
            "count": len(times)}


# -- the run -----------------------------------------------------------------

def measure(args: argparse.Namespace, executors: list[str],
            procs: Processes) -> dict[str, dict[str, Any]]:
    steps = calibrate(args.job_seconds)
    print(f"calibrated: {steps:,} loop steps", file=sys.stderr)
    scheduler = start_cluster(procs) if "dask" in executors else None
    ports = {name: start_server(procs, name, scheduler)[1]
             for name in executors}
    results: dict[str, dict[str, Any]] = {name: {} for name in executors}
    for name, res in cpu_cases(ports, steps, args.jobs, args.rounds).items():
        results[name]["cpu"] = res
    for name, port in ports.items():
        results[name]["overhead"] = overhead_case(port, args.overhead_jobs)
    if "process" in ports:
        results["process"]["cancel"] = cancel_case(ports["process"],
                                                   args.cancels)
    for name, res in results.items():
        print(f"{name}: {json.dumps(res)}", file=sys.stderr)
    return results


def render(results: dict[str, dict[str, Any]], args: argparse.Namespace
           ) -> str:
    executors = [e for e in EXECUTORS if e in results]
    thread = results.get("thread", {}).get("cpu")

    def cpu(executor: str) -> str:
        res = results[executor]["cpu"]
        text = (f"best {res['seconds']:.2f} s, median {res['median']:.2f} s "
                f"(other load: median "
                f"{statistics.median(res['other_cores']):.2f} cores)")
        if executor == "thread" or not thread:
            return text
        best = thread["seconds"] / res["seconds"]
        median = statistics.median(res["ratios"])
        quiet = res["quiet_ratios"]
        target = CPU_TARGETS[executor]
        if len(quiet) >= 3:
            ratio = statistics.median(quiet)
            text += f": **{ratio:.2f}x** median of {len(quiet)} quiet rounds"
            verdict = "met" if ratio >= target else "MISSED"
        else:
            text += f": only {len(quiet)} quiet rounds"
            verdict = "not judged: the machine was busy"
        return text + (f"; all rounds: {median:.2f}x median, {best:.2f}x "
                       f"best to best (≥ {target}x {verdict})")

    def overhead(executor: str) -> str:
        res = results[executor]["overhead"]
        target = OVERHEAD_TARGETS_MS[executor]
        return (f"p50 {res['p50']:.2f} ms, p90 {res['p90']:.2f} ms "
                f"(< {target:g} ms {'met' if res['p50'] < target else 'MISSED'})")

    def cancel(executor: str) -> str:
        res = results[executor].get("cancel")
        if res is None:
            return "—"
        met = res["max"] < CANCEL_TARGET_MS
        return (f"p50 {res['p50']:.1f} ms, max {res['max']:.1f} ms "
                f"(< 1 s {'met' if met else 'MISSED'})")

    # how long one job takes alone (on threads, jobs share the GIL)
    job = statistics.median(results[e]["cpu"]["median_job"]
                            for e in executors if e != "thread") \
        if executors != ["thread"] else results["thread"]["cpu"]["median_job"]
    lines = ["| case | " + " | ".join(executors) + " |",
             "|---|" + "---:|" * len(executors)]
    for name, cell in (
            (f"cpu: {args.jobs} jobs of ~{job:.2f} s at once, "
             f"wall time of {args.rounds} rounds (ratio vs thread)", cpu),
            (f"overhead: 0 ms job, start to result "
             f"({args.overhead_jobs} jobs)", overhead),
            (f"cancel: stop to process gone ({args.cancels}x)", cancel)):
        lines.append(f"| {name} | " + " | ".join(cell(e) for e in executors)
                     + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]), sys.argv[3],
              sys.argv[4] if len(sys.argv) > 4 else None)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--executors", default=",".join(EXECUTORS))
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--job-seconds", type=float, default=0.5)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--overhead-jobs", type=int, default=200)
    parser.add_argument("--cancels", type=int, default=10)
    parser.add_argument("--md", help="also write the table to this file")
    args = parser.parse_args()
    executors = [e for e in args.executors.split(",") if e]
    if "dask" in executors and importlib.util.find_spec("distributed") is None:
        print("distributed is not installed: no Dask column", file=sys.stderr)
        executors.remove("dask")
    log = os.path.join(tempfile.gettempdir(), "quick_server-jobs-bench.log")
    procs = Processes(log)
    try:
        results = measure(args, executors, procs)
    finally:
        procs.stop_all()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    table = render(results, args) + \
        f"\nLoad average at the end (1, 5, 15 min): {load}\n"
    print(table)
    if args.md:
        with open(args.md, "w", encoding="utf-8") as handle:
            handle.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
