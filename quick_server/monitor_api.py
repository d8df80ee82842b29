"""The monitoring methods of a server (a mixin of `QuickServer`):
`bind_dashboard`, `bind_metrics` and the `status` command. What they
show comes from `monitor/` (docs/monitoring.rst)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import log

if TYPE_CHECKING:
    from .monitor.observations import Observations


class MonitorApi:
    """`bind_dashboard`, `bind_metrics`, `status`."""

    if TYPE_CHECKING:  # what the server provides
        observed: Observations
        commands: Any

        def add_route(self, method: str, kind: str, mask: str,
                      handler: Any, argc: int | None = None, *,
                      exclusive: bool = True, guard: Any = None
                      ) -> None: ...

    def bind_dashboard(self, path: str = "/_quick_server",
                       key: str | None = None) -> None:
        """Serves a live page of the jobs, services, routes and recent
        requests at `path`, and the same as JSON at `path/status.json`.
        Without `key`, only for clients on this machine that no proxy
        forwarded, under a loopback `Host` (others get 404); with a key,
        for every client that shows it (`Authorization: Bearer <key>`,
        or `?key=` once, which sets a cookie)."""
        from .monitor.dashboard import bind
        bind(self, path, key)

    def bind_metrics(self, path: str = "/metrics",
                     key: str | None = None) -> None:
        """Serves Prometheus metrics (the text exposition format) at
        `path`, under the dashboard's access rule."""
        from .monitor.metrics import bind
        bind(self, path, key)

    def status(self) -> dict[str, Any]:
        """What the server does now, as `status.json` has it."""
        from .monitor.status import status
        return status(self, tracebacks=True)

    def _add_status_command(self) -> None:
        def status(args: list[str]) -> None:
            """shows the jobs, services and busiest routes"""
            from .monitor.status_text import status_text
            log.msg("{0}", status_text(self.status()))
        self.commands.add(status, 0)
