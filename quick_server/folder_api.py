"""Serving a built front end: a mixin of `QuickServer` for what users of
`serve`, `http-server` and Vite expect of a folder server (the headers
on every answer are the setting `extra_headers`)."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .settings import Settings


class FolderApi:
    """`spa_fallback`: the history fallback of a single-page app."""

    settings: Settings

    def spa_fallback(self, page: str | None = "/index.html") -> None:
        """Answers a browser's request (a `GET` or `HEAD` accepting
        `text/html`) that no file, route or proxy answers with the file
        at the URL path `page`, with 200 and a static file's caching
        headers, so that a client-side router's deep link (`/users/3`)
        survives a reload; other misses (a missing `app.js`) stay 404s.
        `None` turns it off. Sets `settings.static.spa_fallback`
        (ValueError for a `page` that is not a URL path)."""
        self.settings.static.spa_fallback = page
