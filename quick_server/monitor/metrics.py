"""Prometheus metrics in the text exposition format (version 0.0.4):

- `quick_server_requests_total{route,method,status}` (status class: 2xx)
- `quick_server_request_duration_seconds{route}`: a histogram, buckets 1 ms
  to 10 s (requests that wait by design are counted, not timed)
- `quick_server_jobs{state}`: jobs now queued and running, and those that
  ended done, error or cancelled (since the start)
- `quick_server_services{alive}`, `quick_server_open_connections`
- `process_resident_memory_bytes`, `process_open_fds`, `process_max_fds`,
  `process_cpu_seconds_total`, `process_start_time_seconds`

Label values are escaped as the format says (backslash, quote, newline)."""
from __future__ import annotations

from typing import Any, Iterator

from ..http.responses import Response
from . import process_info
from .access import Access
from .route_metrics import BUCKETS
from .status import job_status

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace(
        '"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{name}="{_label(value)}"'
                          for name, value in labels.items()) + "}"


def _route_label(route: str) -> tuple[str, str]:
    """(route, method) of a route name such as `GET /api/x`."""
    method, _, path = route.partition(" ")
    if method.isalpha() and method.isupper() and path.startswith("/"):
        return path, method
    return route, ""


def lines(server: Any) -> Iterator[str]:
    """The exposition of `server`'s metrics, line by line."""
    server.observed.fold()
    routes = server.observed.routes.snapshot()
    yield "# HELP quick_server_requests_total Requests answered."
    yield "# TYPE quick_server_requests_total counter"
    for route, series in sorted(routes.items()):
        path = _route_label(route)[0]
        for (method, klass), count in sorted(series.statuses.items()):
            yield (f"quick_server_requests_total"
                   f"{_labels(route=path, method=method, status=klass)} "
                   f"{count}")
    yield ("# HELP quick_server_request_duration_seconds Time to answer "
           "(waits by design excluded).")
    yield "# TYPE quick_server_request_duration_seconds histogram"
    for route, series in sorted(routes.items()):
        path = _route_label(route)[0]
        total = 0
        for bound, count in zip(BUCKETS, series.histogram):
            total += count
            yield (f"quick_server_request_duration_seconds_bucket"
                   f"{_labels(route=path, le=f'{bound:g}')} {total}")
        total += series.histogram[-1]
        yield (f"quick_server_request_duration_seconds_bucket"
               f"{_labels(route=path, le='+Inf')} {total}")
        yield (f"quick_server_request_duration_seconds_sum"
               f"{_labels(route=path)} {series.seconds:.6f}")
        yield (f"quick_server_request_duration_seconds_count"
               f"{_labels(route=path)} {total}")
    _, _, job_routes = job_status(server, tracebacks=False)
    states = dict.fromkeys(("queued", "running", "done", "error",
                            "cancelled"), 0)
    for counts in job_routes.values():
        for state in states:
            states[state] += counts.get(state, 0)
    yield "# HELP quick_server_jobs Worker jobs by state."
    yield "# TYPE quick_server_jobs gauge"
    for state, count in states.items():
        yield f"quick_server_jobs{_labels(state=state)} {count}"
    hub = server._services
    services = [] if hub is None else hub.describe()
    alive = sum(1 for service in services if service["alive"])
    yield "# HELP quick_server_services Registered services."
    yield "# TYPE quick_server_services gauge"
    yield f'quick_server_services{{alive="true"}} {alive}'
    yield f'quick_server_services{{alive="false"}} {len(services) - alive}'
    yield "# HELP quick_server_open_connections Open client connections."
    yield "# TYPE quick_server_open_connections gauge"
    yield f"quick_server_open_connections {len(server._loop)}"
    yield from _process_lines()


def _process_lines() -> Iterator[str]:
    values = [
        ("process_resident_memory_bytes", "gauge", "Resident memory size "
         "in bytes.", process_info.rss_bytes()),
        ("process_open_fds", "gauge", "Number of open file descriptors.",
         process_info.open_fds()),
        ("process_max_fds", "gauge", "Maximum number of open file "
         "descriptors.", process_info.max_fds()),
        ("process_cpu_seconds_total", "counter", "Total user and system "
         "CPU time spent in seconds.", process_info.cpu_seconds()),
        ("process_start_time_seconds", "gauge", "Start time of the process "
         "since unix epoch in seconds.", process_info.STARTED)]
    for name, kind, text, value in values:
        if value is None:
            continue
        yield f"# HELP {name} {text}"
        yield f"# TYPE {name} {kind}"
        yield f"{name} {value}"


def bind(server: Any, path: str, key: str | None) -> None:
    """The metrics at `path` on `server`."""
    access = Access(key, "/" + path.strip("/"))
    server.add_route(
        "GET", "text", "/" + path.strip("/"),
        lambda req, args: Response(
            ("\n".join(lines(server)) + "\n").encode("utf-8"), 200,
            CONTENT_TYPE, [("Cache-Control", "no-store")]),
        0, exclusive=False, guard=access.check)
