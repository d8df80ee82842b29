"""The route registration methods of a server, made per (method, kind):
`json_get` / `add_json_get_mask`, `text_post` / `add_text_post_mask`,
`html_get` / `add_html_get_mask`, ...,
typed so that a decorated handler keeps its type."""
from __future__ import annotations

from typing import Any, Callable, Protocol, TypeVar

from .http.routing import ReqArgs, ReqF

CacheIdF = Callable[[ReqArgs], Any]
HandlerF = TypeVar("HandlerF", bound=ReqF)
ANSWERS = {"json": "JSON", "text": "text", "html": "HTML"}  # by kind
_Bound = TypeVar("_Bound", covariant=True)


class _Registers(Protocol):
    """What the methods need of the server."""

    def add_route(self, method: str, kind: str, mask: str, handler: ReqF,
                  argc: int | None = None) -> None: ...

    def _cached_handler(self, handler: ReqF, cache_id: CacheIdF,
                        method: str | None, section: str | None) -> ReqF: ...


class RouteDecorator(Protocol):
    """`server.json_get(mask, argc, cache_id=...)` and its kin: a decorator
    that registers a handler and returns it unchanged, its type kept."""

    def __call__(self, mask: str, argc: int | None = None,
                 cache_id: CacheIdF | None = None,
                 cache_method: str | None = None,
                 cache_section: str | None = None
                 ) -> Callable[[HandlerF], HandlerF]: ...


class AddMask(Protocol):
    """`server.add_json_get_mask(mask, handler, argc, ...)` and its kin."""

    def __call__(self, mask: str, handler: ReqF, argc: int | None = None,
                 cache_id: CacheIdF | None = None,
                 cache_method: str | None = None,
                 cache_section: str | None = None) -> None: ...


class _Method(Protocol[_Bound]):
    """A function stored in a class: read from an instance, it is bound."""

    def __get__(self, server: Any, owner: Any = None) -> _Bound: ...


def route_api(method: str, kind: str
              ) -> tuple[_Method[RouteDecorator], _Method[AddMask]]:
    """The decorator and the `add_*_mask` method of one (method, kind)."""

    def add_mask(self: _Registers, mask: str, handler: ReqF,
                 argc: int | None = None, cache_id: CacheIdF | None = None,
                 cache_method: str | None = None,
                 cache_section: str | None = None) -> None:
        if cache_id is not None:
            handler = self._cached_handler(handler, cache_id, cache_method,
                                           cache_section)
        self.add_route(method, kind, mask, handler, argc)

    def decorator(self: _Registers, mask: str, argc: int | None = None,
                  cache_id: CacheIdF | None = None,
                  cache_method: str | None = None,
                  cache_section: str | None = None
                  ) -> Callable[[HandlerF], HandlerF]:
        def register(handler: HandlerF) -> HandlerF:
            add_mask(self, mask, handler, argc, cache_id, cache_method,
                     cache_section)
            return handler
        return register

    decorator.__doc__ = (f"Registers a handler `(req, args)` for {method} "
                         f"requests under `mask` that answers "
                         f"{ANSWERS.get(kind, kind)}.")
    add_mask.__doc__ = decorator.__doc__
    return decorator, add_mask


class RouteDecorators:
    """The route registration methods of the server, a mixin: one
    decorator and one `add_*_mask` method per (method, kind)."""

    json_get, add_json_get_mask = route_api("GET", "json")
    json_post, add_json_post_mask = route_api("POST", "json")
    json_put, add_json_put_mask = route_api("PUT", "json")
    json_patch, add_json_patch_mask = route_api("PATCH", "json")
    json_delete, add_json_delete_mask = route_api("DELETE", "json")
    text_get, add_text_get_mask = route_api("GET", "text")
    text_post, add_text_post_mask = route_api("POST", "text")
    text_put, add_text_put_mask = route_api("PUT", "text")
    text_patch, add_text_patch_mask = route_api("PATCH", "text")
    text_delete, add_text_delete_mask = route_api("DELETE", "text")
    html_get, add_html_get_mask = route_api("GET", "html")
    html_post, add_html_post_mask = route_api("POST", "html")
    html_put, add_html_put_mask = route_api("PUT", "html")
    html_patch, add_html_patch_mask = route_api("PATCH", "html")
    html_delete, add_html_delete_mask = route_api("DELETE", "html")
