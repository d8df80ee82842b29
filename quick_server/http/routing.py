"""Dynamic routes as plain data, the table that matches them, and the
middleware chain.

A mask is a path prefix of segments; a segment written `:name` captures
that segment into `args["segments"]["name"]`. The segments after the mask
are `args["paths"]`; with `argc` set their number must match. The most
specific mask wins (more segments, then more literal segments); a path that
only other methods handle is a 405, not a 404."""
from __future__ import annotations

import threading
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Callable, TypedDict
from urllib.parse import unquote

from .body import UploadedFile

if TYPE_CHECKING:
    from http.cookies import SimpleCookie


class ReqArgs(TypedDict):
    """The arguments a route handler gets (a plain dict at run time)."""
    query: dict[str, str | bool]  # `?flag` alone is True
    fragment: str
    paths: list[str]  # the segments after the mask
    segments: dict[str, str]  # the mask's `:name` segments
    post: Any  # the parsed body: JSON, form fields, text or bytes
    files: dict[str, UploadedFile]
    meta: dict[str, Any]  # for middleware
    cookie: SimpleCookie | None


ReqF = Callable[[Any, ReqArgs], Any]
ReqNext = object
MiddlewareF = Callable[[Any, ReqArgs, ReqNext], Any]

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
KINDS = ("json", "text", "html")  # what a plain answer is written as
NEXT: ReqNext = object()  # what a middleware returns to continue


class Route:
    """One registered handler. `exclusive`: it runs under the server's
    lock when the server is not `parallel`; `guard(req)` checks the
    request before its body is read (e.g. a key) and raises HTTPError to
    refuse it."""

    __slots__ = ("method", "mask", "kind", "handler", "argc", "exclusive",
                 "guard", "parts", "name")

    def __init__(self, method: str, mask: str, kind: str, handler: ReqF,
                 argc: int | None = None, exclusive: bool = True,
                 guard: Callable[[Any], None] | None = None) -> None:
        self.method, self.mask, self.kind = method, mask, kind
        self.handler, self.argc, self.exclusive = handler, argc, exclusive
        self.guard = guard
        if self.kind not in KINDS:  # else a typo would answer as text
            raise ValueError(f"route kind must be one of "
                             f"{', '.join(map(repr, KINDS))}: {self.kind!r}")
        if not self.mask.startswith("/"):
            raise ValueError(f"mask must start with '/': {self.mask!r}")
        self.parts = tuple(p for p in self.mask.split("/") if p)
        self.name = f"{method} {mask}"  # in logs and statistics

    def __repr__(self) -> str:
        return f"Route({self.method!r}, {self.mask!r}, {self.kind!r})"

    @property
    def shape(self) -> tuple[str, tuple[str, ...], int | None]:
        """What the route answers: two routes of one shape collide."""
        return (self.method, tuple(":" if p.startswith(":") else p
                                   for p in self.parts), self.argc)

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
    """All routes of a server. Registering builds a new sorted list and
    swaps it in, so requests matching meanwhile see the old or the new
    table, never one half sorted."""

    def __init__(self) -> None:
        self._routes: list[Route] = []
        self._lock = threading.Lock()
        # the routes a request may match, by method and first segment (a
        # route whose first part is literal fits that segment alone), in
        # the table's order; by method alone for other first segments
        self._index: dict[tuple[str, str], tuple[Route, ...]] = {}
        self._wild: dict[str, tuple[Route, ...]] = {}

    def add(self, route: Route, replace: bool = False) -> bool:
        """Adds `route`; when its method and mask (with the same `argc`)
        are registered already: ValueError, or with `replace` it takes
        the old route's place (True is returned)."""
        with self._lock:
            known = [r for r in self._routes if r.shape == route.shape]
            if known and not replace:
                raise ValueError(f"route {route.method} {route.mask} "
                                 f"is already registered")
            # in the old one's place: among equally specific masks the
            # first registered wins
            new = [route if r.shape == route.shape else r
                   for r in self._routes] if known else self._routes + [route]
            routes = sorted(new,
                            key=lambda r: r.specificity, reverse=True)
            self._index, self._wild = _indexed(routes)
            self._routes = routes
        return bool(known)

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
        routes = self._index.get((want, segments[0] if segments else ""))
        if routes is None:
            routes = self._wild.get(want, ())
        for route in routes:
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


def _indexed(routes: list[Route]
             ) -> tuple[dict[tuple[str, str], tuple[Route, ...]],
                        dict[str, tuple[Route, ...]]]:
    """`RouteTable`'s index of `routes` (in their order)."""
    firsts: dict[str, list[str]] = {}  # method -> literal first parts
    for r in routes:
        if r.parts and not r.parts[0].startswith(":"):
            firsts.setdefault(r.method, []).append(r.parts[0])
    index: dict[tuple[str, str], list[Route]] = {}
    wild: dict[str, list[Route]] = {}
    for r in routes:
        if r.parts and not r.parts[0].startswith(":"):
            index.setdefault((r.method, r.parts[0]), []).append(r)
            continue
        wild.setdefault(r.method, []).append(r)
        for first in set(firsts.get(r.method, ())):
            index.setdefault((r.method, first), []).append(r)
    return ({key: tuple(found) for key, found in index.items()},
            {method: tuple(found) for method, found in wild.items()})


def _segments(raw_path: str) -> list[str]:
    return [unquote(s) if "%" in s else s for s in raw_path.split("/") if s]


def with_middleware(middlewares: list[MiddlewareF], handler: ReqF) -> ReqF:
    """Wraps `handler` so each middleware runs first, in order. A
    middleware returns `NEXT` (the `okay` argument) to go on, or a result
    that answers the request instead. The wrapper keeps its parts
    (`split_middleware`), so that a route cache can go between the
    middleware and the handler."""
    inner_mws, inner = split_middleware(handler)
    chain = list(middlewares) + inner_mws
    if not chain:
        return handler

    def chained(req: Any, args: ReqArgs) -> Any:
        for pos, middleware in enumerate(chain):
            result = middleware(req, args, NEXT)
            if isinstance(result, CoroutineType):  # async from here on
                return _chained_async(result, chain[pos + 1:], inner, req,
                                      args)
            if result is not NEXT:
                return result
        return inner(req, args)

    chained.__name__ = getattr(inner, "__name__", "handler")
    chained.__doc__ = inner.__doc__
    setattr(chained, _PARTS, (chain, inner))
    return chained


async def _chained_async(first: Any, rest: list[MiddlewareF], inner: ReqF,
                         req: Any, args: ReqArgs) -> Any:
    """The rest of a chain after an `async def` middleware: each result
    awaited when it is a coroutine, the handler's too."""
    result = await first
    for middleware in rest:
        if result is not NEXT:
            return result
        result = middleware(req, args, NEXT)
        if isinstance(result, CoroutineType):
            result = await result
    if result is not NEXT:
        return result
    result = inner(req, args)
    if isinstance(result, CoroutineType):
        result = await result
    return result


_PARTS = "__quick_server_middleware__"


def split_middleware(handler: ReqF) -> tuple[list[MiddlewareF], ReqF]:
    """The middlewares (in order) and the plain handler of a handler made
    by `with_middleware`; ([], handler) for a plain one."""
    parts = getattr(handler, _PARTS, None)
    if parts is None:
        return [], handler
    return list(parts[0]), parts[1]
