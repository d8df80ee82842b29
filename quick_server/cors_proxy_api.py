"""CORS and the proxy of a server: a mixin of `QuickServer` (which
sets `_cors`, `_proxies` and its settings)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .http.cors import CorsPolicy
from .http.proxy import Proxy

if TYPE_CHECKING:
    from .http.request import Request
    from .http.responses import Response
    from .settings import Settings


class CorsProxyApi:
    """`bind_proxy`, and what `http.dispatch` and `http.cors` ask of the
    server about CORS and the proxy."""

    settings: Settings
    proxy_timeout: float
    _cors: CorsPolicy
    _proxies: tuple[Proxy, ...]

    def _cors_policy(self) -> CorsPolicy:
        self._cors = self._cors.current(self.settings.http.cross_origin)
        return self._cors

    def _cors_headers(self, req: Request
                     ) -> list[tuple[str, str]]:
        """CORS headers for a response; none unless `cross_origin`."""
        return self._cors_policy().headers(req.headers)

    def _preflight_headers(self, req: Request
                          ) -> list[tuple[str, str]]:
        """What a CORS preflight (`OPTIONS`) answer adds."""
        return self._cors_policy().preflight(req.headers)

    def bind_proxy(self, name: str, url: str) -> None:
        """Forwards requests under prefix `name` that no route or file
        answers to the server at `url`."""
        # a new tuple: requests being matched keep the old one
        self._proxies = tuple(sorted(self._proxies + (Proxy(name, url),),
                                     key=lambda p: len(p.prefix),
                                     reverse=True))

    def _forward(self, req: Request, path: str,
                 query: str) -> Response | None:
        """The proxied answer when a bound proxy prefix matches."""
        for proxy in self._proxies:
            target = proxy.target_path(path)
            if target is not None:
                return proxy.forward(req, target, query, self.proxy_timeout)
        return None
