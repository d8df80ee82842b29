"""`status.json`: what the server does now, as data (docs/monitoring.rst
documents its shape): `{"jobs", "job_routes", "services", "routes",
"requests", "process"}`."""
from __future__ import annotations

from typing import Any

from . import process_info


def job_status(server: Any, tracebacks: bool
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                          dict[str, dict[str, int]]]:
    """The jobs, the executors' slots and the counts per worker route
    (none when no job was ever made)."""
    if server._jobs is None:
        return [], [], {}
    from ..jobs.job_views import jobs_now
    pool = server.workers
    jobs, slots = jobs_now(pool, tracebacks)
    routes = pool.stats.counts()
    for route in routes.values():
        route["queued"] = route["running"] = 0
    for job in jobs:
        if job["state"] in ("queued", "running"):
            counts = routes.setdefault(job["path"], {
                "started": 0, "cached": 0, "done": 0, "error": 0,
                "cancelled": 0, "queued": 0, "running": 0})
            counts[job["state"]] += 1
    return jobs, slots, routes


def dask_info(server: Any) -> dict[str, Any] | None:
    """The Dask scheduler a worker executor talks to, and its dashboard
    when the client knows it."""
    executors = [server.worker_executor] + [
        route.executor for route in server._worker_routes.values()]
    for executor in executors:
        client = getattr(executor, "_client", None)
        if client is None or not type(executor).__module__.startswith(
                "distributed"):
            continue
        try:
            address = client.scheduler.address
            link = client.dashboard_link
        except Exception:  # pylint: disable=broad-except
            address, link = None, None
        return {"scheduler": address, "dashboard": link}
    return None


def cache_info(server: Any) -> dict[str, Any] | None:
    """The hits and misses of `server.cache` (None without a cache)."""
    cache = server.cache
    if cache is None:
        return None
    from ..jobs.caching import counts
    hits, misses = counts(cache) or (0, 0)
    return {"hits": hits, "misses": misses}


def status(server: Any, tracebacks: bool, since: int = 0
           ) -> dict[str, Any]:
    """The status of `server` (`tracebacks`: the viewer may see them;
    `since`: only requests after this serial)."""
    server.observed.fold()  # the requests queued are counted first
    jobs, slots, job_routes = job_status(server, tracebacks)
    hub = server._services
    process = process_info.describe()
    process.update({
        "connections": len(server._loop), "executor_slots": slots,
        "dask": dask_info(server), "cache": cache_info(server)})
    observed = server.observed
    return {
        "jobs": jobs, "job_routes": job_routes,
        "services": [] if hub is None else hub.describe(),
        "routes": observed.routes.describe(),
        "requests": [seen.as_json(tracebacks)
                     for seen in observed.recent.since(since)],
        "last_request": observed.recent.last,
        "process": process}
