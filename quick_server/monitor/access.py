"""Who may see the dashboard, `status.json` and the metrics.

Without a key: a client on this machine that no proxy forwarded (no
forwarding header at all), asking under a loopback `Host` (a page of a
DNS-rebinding site names its own host) — others get 404, as if nothing
were there. With a key: every client shows it, as `Authorization: Bearer
<key>`, or as `?key=` once, which sets an HttpOnly SameSite=Strict cookie
for the dashboard's path (the key is masked in the log). Actions are
POSTs whose `Origin`, when sent, is this server."""
from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..http.errorpage import CLIENT_HEADERS, is_loopback
from ..http.responses import HTTPError

COOKIE = "quick_server_dashboard"
FORWARDING = CLIENT_HEADERS + ("forwarded", "via")
LOOPBACK_NAMES = ("localhost", "localhost.")


def _host_name(host: str) -> str:
    """The name in a `Host` header, without its port."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def is_unforwarded_local(req: Any) -> bool:
    """A loopback peer, no proxy header, a loopback `Host`."""
    headers = req.headers
    if not is_loopback(str(req.client_address[0])):
        return False
    if any(headers.get(name) is not None for name in FORWARDING):
        return False
    host = _host_name((headers.get("host") or "").strip().lower())
    return host in LOOPBACK_NAMES or host.endswith(".localhost") or \
        is_loopback(host)


def cookie_value(key: str) -> str:
    """What the cookie holds: derived from the key, not the key."""
    return hmac.new(key.encode(), b"quick_server dashboard",
                    hashlib.sha256).hexdigest()


class Access:
    """The access rule of one dashboard (or metrics) path."""

    def __init__(self, key: str | None, path: str) -> None:
        if key is not None and not key:
            raise ValueError("the key must not be empty")
        self.key = key
        self.path = path

    def check(self, req: Any) -> None:
        """HTTPError 404 unless `req` may see what is under the path; a
        valid `?key=` sets the cookie."""
        key = self.key
        if key is None:
            if not is_unforwarded_local(req):
                raise HTTPError(404)
            return
        given = (req.headers.get("authorization") or "").encode(
            "utf-8", "replace")
        if hmac.compare_digest(given, f"Bearer {key}".encode()):
            return
        cookie = req.cookie()
        morsel = None if cookie is None else cookie.get(COOKIE)
        if morsel is not None and hmac.compare_digest(
                morsel.value.encode("utf-8", "replace"),
                cookie_value(key).encode()):
            return
        query = parse_qs(urlsplit(req.path).query).get("key", [])
        if query:
            req.hide_in_log(query[0])
            if hmac.compare_digest(query[0].encode("utf-8", "replace"),
                                   key.encode()):
                req.extra_headers.append(("Set-Cookie", (
                    f"{COOKIE}={cookie_value(key)}; Path={self.path}; "
                    f"HttpOnly; SameSite=Strict")))
                return
        raise HTTPError(404)

    def check_action(self, req: Any) -> None:
        """`check`, and an `Origin` (when sent) that is this server."""
        self.check(req)
        origin = req.headers.get("origin")
        if origin is None:
            return
        host = req.headers.get("host") or ""
        if urlsplit(origin).netloc.lower() != host.lower():
            raise HTTPError(403, "A dashboard action comes from its own "
                                 "page")
