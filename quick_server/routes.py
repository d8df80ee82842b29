"""Dynamic routes as plain data, the table that matches them, and the
middleware chain.

A mask is a path prefix of segments; a segment written `:name` captures
that segment into `args["segments"]["name"]`. The segments after the mask
are `args["paths"]`; with `argc` set their number must match. The most
specific mask wins (more segments, then more literal segments); a path that
only other methods handle is a 405, not a 404."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import unquote

ReqArgs = dict[str, Any]
ReqF = Callable[[Any, ReqArgs], Any]
ReqNext = object
MiddlewareF = Callable[[Any, ReqArgs, ReqNext], Any]

METHODS = ("GET", "POST", "PUT", "DELETE")
KINDS = ("json", "text")
NEXT: ReqNext = object()  # what a middleware returns to continue


@dataclass
class Route:
    """One registered handler."""
    method: str
    mask: str
    kind: str
    handler: ReqF
    argc: int | None = None
    exclusive: bool = True  # runs under the server's lock if not parallel
    parts: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        if not self.mask.startswith("/"):
            raise ValueError(f"mask must start with '/': {self.mask!r}")
        self.parts = tuple(p for p in self.mask.split("/") if p)

    @property
    def specificity(self) -> tuple[int, int]:
        return (len(self.parts),
                sum(1 for p in self.parts if not p.startswith(":")))

    def match(self, segments: list[str]
              ) -> tuple[list[str], dict[str, str]] | None:
        """(remaining paths, captured segments) when `segments` fit."""
        if len(segments) < len(self.parts):
            return None
        captured: dict[str, str] = {}
        for part, seg in zip(self.parts, segments):
            if part.startswith(":"):
                captured[part[1:]] = seg
            elif part != seg:
                return None
        rest = segments[len(self.parts):]
        if self.argc is not None and len(rest) != self.argc:
            return None
        return rest, captured


class MethodNotAllowed(Exception):
    """The path is known, under the methods in `allowed`."""

    def __init__(self, allowed: list[str]) -> None:
        super().__init__(", ".join(allowed))
        self.allowed = allowed


class RouteTable:
    """All routes of a server."""

    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(self, route: Route) -> None:
        self._routes.append(route)
        # stable: among equally specific masks the first registered wins
        self._routes.sort(key=lambda r: r.specificity, reverse=True)

    def __len__(self) -> int:
        return len(self._routes)

    def match(self, method: str, raw_path: str
              ) -> tuple[Route, list[str], dict[str, str]] | None:
        """The route for `method` and `raw_path`; raises `MethodNotAllowed`
        when only other methods have one. HEAD is served by GET routes."""
        if not self._routes:
            return None
        segments = _segments(raw_path)
        want = "GET" if method == "HEAD" else method
        for route in self._routes:
            if route.method == want:
                found = route.match(segments)
                if found is not None:
                    return route, found[0], found[1]
        allowed = self.allowed(raw_path)
        if allowed:
            raise MethodNotAllowed(allowed)
        return None

    def allowed(self, raw_path: str) -> list[str]:
        """The methods that routes answer for `raw_path` (HEAD with GET)."""
        segments = _segments(raw_path)
        methods = {route.method for route in self._routes
                   if route.match(segments) is not None}
        if "GET" in methods:
            methods.add("HEAD")
        return sorted(methods)


def _segments(raw_path: str) -> list[str]:
    return [unquote(s) for s in raw_path.split("/") if s]


def with_middleware(middlewares: list[MiddlewareF], handler: ReqF) -> ReqF:
    """Wraps `handler` so each middleware runs first, in order. A
    middleware returns `NEXT` (the `okay` argument) to go on, or a result
    that answers the request instead."""
    if not middlewares:
        return handler

    def chained(req: Any, args: ReqArgs) -> Any:
        for middleware in middlewares:
            result = middleware(req, args, NEXT)
            if result is not NEXT:
                return result
        return handler(req, args)

    chained.__name__ = getattr(handler, "__name__", "handler")
    chained.__doc__ = handler.__doc__
    return chained
