"""The history fallback of a single-page app (`server.spa_fallback(
"/index.html")`, `--spa`), as `serve -s`, Vite and webpack's
`historyApiFallback` have it: a client-side router's deep link
(`/users/3`), reloaded, must get the app's page, not a 404.

Only a page a browser navigates to falls back: a `GET` or `HEAD` whose
`Accept` names `text/html` (or XHTML) that no file, route or proxy
answered. A script, a stylesheet or a `fetch()` asks for `*/*` or its
own type, so a missing `app.js` stays a 404 instead of coming back as
HTML. The page is found as a request for its URL path would find it
(bound folders, white- and black-lists) and answered as that file is,
with its caching headers; a page that is not there leaves the 404."""
from __future__ import annotations

from typing import Any

from .errorpage import HTML_TYPES, accepted_types
from .file_headers import FileTarget


def wants_page(method: str, accept: str | None) -> bool:
    """Whether a request that nothing answered gets the fallback page: a
    GET or HEAD accepting HTML (a quality above 0)."""
    return method in ("GET", "HEAD") and \
        not accepted_types(accept).isdisjoint(HTML_TYPES)


def fallback_target(static: Any, page: str | None, method: str,
                    accept: str | None) -> FileTarget | None:
    """The file that answers a request nothing else answered: `page`
    (a URL path, the `spa_fallback` setting) as `static` (the server's
    `StaticFiles`) serves it, when the request `wants_page`; else None
    (the 404 stays)."""
    if page is None or not wants_page(method, accept):
        return None
    target = static.resolve(page)
    return target if isinstance(target, FileTarget) else None
