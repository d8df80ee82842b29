"""The `status` command's text: the jobs with text progress bars, the
services, the busiest routes. Everything a client or a job sent is
escaped (the terminal must not run what it prints)."""
from __future__ import annotations

from typing import Any

from ..log import escape_control

BAR = 20  # characters of a progress bar
ROUTES = 8  # busiest routes shown


def bar(progress: dict[str, Any] | None) -> str:
    """`[#######.............]  7/20 message`."""
    if progress is None:
        return ""
    done, total = progress.get("done") or 0, progress.get("total")
    message = escape_control(str(progress.get("message") or ""))[:60]
    if not total:
        return f"{done:g} {message}".rstrip()
    filled = max(0, min(BAR, int(BAR * done / total)))
    return (f"[{'#' * filled}{'.' * (BAR - filled)}] {done:g}/{total:g} "
            f"{message}").rstrip()


def status_text(data: dict[str, Any]) -> str:
    """The status (`status.status`) as lines for the terminal."""
    lines = []
    jobs = [job for job in data["jobs"]
            if job["state"] in ("queued", "running")]
    lines.append(f"jobs: {len(jobs)} active" + (":" if jobs else ""))
    for job in jobs:
        where = job["runs_on"] or "queued"
        lines.append(f"  {escape_control(job['path'])} {job['id'][:8]} "
                     f"{job['state']} on {escape_control(where)}, "
                     f"{job['elapsed_s']:.1f}s {bar(job['progress'])}"
                     .rstrip())
    services = data["services"]
    if services:
        lines.append(f"services: {len(services)}")
        for service in services:
            state = "alive" if service["alive"] else "dead"
            lines.append(f"  {escape_control(service['name'])} "
                         f"{service['id'][:8]} {state}, running "
                         f"{service['running']}, done {service['done']}")
    routes = data["routes"][:ROUTES]
    if routes:
        lines.append("routes (busiest first):")
        for route in routes:
            p50, p99 = route["p50_ms"], route["p99_ms"]
            timing = "" if p50 is None else \
                f", p50 {p50:.1f} ms, p99 {p99:.1f} ms"
            lines.append(f"  {escape_control(route['route'])}: "
                         f"{route['count']} requests, {route['errors']} "
                         f"errors{timing}")
    process = data["process"]
    rss = process["rss_bytes"]
    lines.append(f"process {process['pid']}: up {process['uptime_s']:.0f}s"
                 + ("" if rss is None else f", {rss / 2**20:.1f} MiB")
                 + f", {process['threads']} threads, "
                 f"{process['connections']} connections")
    return "\n".join(lines)
