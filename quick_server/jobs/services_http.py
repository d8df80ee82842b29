"""The HTTP API of the services hub (`services_hub`), under `prefix`.

Every call needs `Authorization: Bearer <key>`
(else 401 and nothing happens):

- `POST {prefix}` `{"name", "description"}` -> `{"id", "service_timeout"}`
- `PATCH {prefix}/<id>` (no body): heartbeat -> 200; 409 with
  `{"withdrawn": [job ids]}` when a client stopped jobs it runs; 404 for
  an unknown (or timed out) service, which registers again
- `GET {prefix}/<id>/next?wait=S` -> `{"job", "payload"}`, or 204 when no
  job came within `S` seconds (at most `services_hub.MAX_WAIT`)
- `POST {prefix}/<id>/jobs/<job>` `{"result": ...}`, `{"error": "...",
  "type": "..."}` or `{"progress": {"done", "total", "message"}}` -> 200;
  409 when the job is no longer this service's (withdrawn, or handed to
  another service after this one timed out); anything else is a 400 and
  ends the job with a `ServiceError` (it would never end otherwise)
- `GET {prefix}` -> `[{"id", "name", "description", "alive",
  "last_seen", "dead_since", "running", "jobs", "done"}]`, the dead ones too
  (the `max_dead` most recent, for `dead_for` seconds)

Request bodies are JSON (any other `Content-Type`: 415)."""
from __future__ import annotations

import hmac
import math
from typing import Any, Callable

from ..http.media import require_json
from ..http.responses import HTTPError
from .services_hub import ServiceHub


def _check_key(hub: ServiceHub) -> Callable[[Any], None]:
    """A route guard (it runs before the body is read) that lets only
    `Authorization: Bearer <hub.key>` pass."""

    def check(req: Any) -> None:
        expected = f"Bearer {hub.key}".encode("utf-8")
        given = (req.headers.get("authorization") or "").encode(
            "utf-8", "replace")
        if not hmac.compare_digest(given, expected):
            raise HTTPError(
                401, "A service needs 'Authorization: Bearer <key>'",
                headers=[("WWW-Authenticate", 'Bearer realm="services"')])
    return check


def bind_routes(server: Any, hub: ServiceHub, prefix: str) -> None:
    """The HTTP API of `hub` under `prefix` on `server`."""
    check = _check_key(hub)

    def check_body(req: Any) -> None:
        check(req)
        require_json(req, "Services' requests")

    base = prefix.rstrip("/")
    routes: list[tuple[str, str, Callable[[Any, Any], Any]]] = [
        ("POST", base, lambda req, args: hub.register(args["post"])),
        ("GET", base, lambda req, args: hub.describe()),
        ("PATCH", base + "/:id",
         lambda req, args: hub.heartbeat(args["segments"]["id"])),
        ("GET", base + "/:id/next", lambda req, args: _next(hub, req, args)),
        ("POST", base + "/:id/jobs/:job",
         lambda req, args: hub.post(args["segments"]["id"],
                                    args["segments"]["job"], args["post"])),
    ]
    for method, mask, handler in routes:
        server.add_route(method, "json", mask, handler, 0, exclusive=False,
                         guard=check_body if method == "POST" else check)


def _next(hub: ServiceHub, req: Any, args: Any) -> Any:
    wait = _wait(args["query"])
    if wait > 0:  # a long-poll the service asked for
        return hub.waiting_next(args["segments"]["id"], wait)
    return hub.next_job(args["segments"]["id"], wait)


def _wait(query: dict[str, Any]) -> float:
    raw = query.get("wait", 0)
    try:
        wait = float(raw)
    except (TypeError, ValueError):
        wait = math.nan
    if not math.isfinite(wait):
        raise HTTPError(400, "'wait' is a number of seconds")
    return wait
