"""Forwarding requests under a bound prefix to another server, streaming
the answer back."""
from __future__ import annotations

import http.client
import socket
from typing import Any
from urllib.parse import quote, urlsplit

from .response import HTTPError
from .static import decode_path

HOP_BY_HOP = frozenset((
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
    "te", "trailer", "trailers", "transfer-encoding", "upgrade", "host",
    "content-length"))
BLOCK = 1 << 16


class Proxy:
    """One bound prefix and its target (`http(s)://host:port/base`)."""

    def __init__(self, prefix: str, url: str) -> None:
        if not prefix.startswith("/") or not prefix.endswith("/"):
            raise ValueError(f"prefix must start and end with '/': {prefix}")
        target = urlsplit(url)
        if target.scheme not in ("http", "https") or not target.hostname:
            raise ValueError(f"proxy target must be an http(s) URL: {url}")
        self.prefix = prefix
        self.scheme = target.scheme
        self.host = target.hostname
        self.port = target.port
        self.base = target.path.rstrip("/")

    def target_path(self, raw_path: str) -> str | None:
        """The path on the target, or None when not under the prefix. The
        path is normalised first: it can never climb above `base`."""
        segments = decode_path(raw_path)  # 400 on dot segments, NUL, "\\"
        path = "/" + "/".join(segments)
        if not (path + "/").startswith(self.prefix):
            return None
        rest = segments[len(self.prefix.strip("/").split("/")) if
                        self.prefix != "/" else 0:]
        return self.base + "/" + "/".join(quote(s) for s in rest)

    def forward(self, req: Any, path: str, query: str, timeout: float
                ) -> None:
        """Sends `req` on and streams the answer back (502 when the
        target is down, 504 when it is too slow)."""
        headers = _forward_headers(req, self.host)
        body = req.body
        data: Any = None
        if body is not None and not body.finished:
            if body.length is None:
                body.limit = req.server.max_body_size
                data = body.read()
            else:
                data = body
            headers["Content-Length"] = str(
                len(data) if body.length is None else body.length)
        cls = http.client.HTTPSConnection if self.scheme == "https" \
            else http.client.HTTPConnection
        conn = cls(self.host, self.port, timeout=timeout)
        try:
            try:
                conn.request(req.command, path + ("?" + query if query else
                                                  ""), body=data,
                             headers=headers)
                resp = conn.getresponse()
            except socket.timeout:
                raise HTTPError(504, "Proxy target timed out") from None
            except (OSError, http.client.HTTPException):
                raise HTTPError(502, "Proxy target unreachable") from None
            self._relay(req, resp)
        finally:
            conn.close()

    @staticmethod
    def _relay(req: Any, resp: http.client.HTTPResponse) -> None:
        fields = [(k, v) for k, v in resp.getheaders()
                  if k.lower() not in HOP_BY_HOP]
        length = resp.getheader("content-length")
        no_body = req.command == "HEAD" or resp.status in (204, 304) or \
            100 <= resp.status < 200
        # a body of unknown length goes on chunked; HTTP/1.0 has no chunks,
        # so there it ends when the connection closes
        chunked = length is None and not no_body and \
            req.request_version != "HTTP/1.0"
        if length is not None:
            fields.append(("Content-Length", length))
        elif not no_body and not chunked:
            req.close_connection = True
        if chunked:
            fields.append(("Transfer-Encoding", "chunked"))
        req.start_stream(resp.status, fields)
        if no_body:
            return
        try:
            while True:
                block = resp.read1(BLOCK) if hasattr(resp, "read1") \
                    else resp.read(BLOCK)
                if not block:
                    break
                req.wfile.write(b"%x\r\n%s\r\n" % (len(block), block)
                                if chunked else block)
                req.add_sent(len(block))
            if chunked:
                req.wfile.write(b"0\r\n\r\n")
        except (OSError, http.client.HTTPException):
            req.close_connection = True  # the answer is cut: end it here


def _forward_headers(req: Any, host: str) -> dict[str, str]:
    named = {t.strip().lower() for v in req.headers.get_all("connection")
             for t in v.split(",")}
    headers = {k: v for k, v in req.headers.items()
               if k.lower() not in HOP_BY_HOP and k.lower() not in named
               and not k.lower().startswith("x-forwarded-")}
    client = req.client_address[0]
    previous = req.headers.get("x-forwarded-for")
    headers["X-Forwarded-For"] = f"{previous}, {client}" if previous \
        else client
    headers["X-Forwarded-Host"] = req.headers.get("host") or ""
    headers["X-Forwarded-Proto"] = "https" if req.server.is_https else "http"
    headers["Host"] = host
    return headers
