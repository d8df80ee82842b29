"""The original quick_server's escape hatch: a handler that writes its
answer by hand with `req.send_response(code)`, `req.send_header(name,
value)`, `req.end_headers()` and `req.wfile.write(data)`.

The head goes through `response_head` like every other (an unsafe header
raises `UnsafeHeader` before a byte is written), the bytes go out through
the connection layer's writer as the handler writes them, and the
connection closes after the answer (its framing is the handler's)."""
from __future__ import annotations

from typing import Callable

from .responses import Response, header_lines, response_head

Writer = Callable[[bytes], None]


class HandWrittenBody:
    """`req.wfile`: writes the head first if the handler has not ended
    it yet, then the bytes, through the connection's writer."""

    def __init__(self, answer: HandWritten) -> None:
        self._answer = answer

    def write(self, data: bytes) -> int:
        self._answer.end_headers()
        self._answer.write(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


class HandWritten(Response):
    """A response written by hand: what `dispatch` returns for it is this
    object, already sent (`written` body bytes) when the handler
    returns."""

    formed = True
    close_connection = True
    already_sent = True

    def __init__(self, code: int, writer: Writer) -> None:
        super().__init__(b"", code)
        self._writer = writer
        self._fields: list[tuple[str, str]] = []
        self.head_sent = False
        self.written = 0

    def send_header(self, name: str, value: str) -> None:
        if self.head_sent:
            raise RuntimeError("the head of this response was sent already")
        header_lines([(name, value)])  # UnsafeHeader: nothing written yet
        self._fields.append((name, value))

    def end_headers(self) -> None:
        if not self.head_sent:
            self.head_sent = True
            self._writer(response_head(
                "HTTP/1.1", self.code,
                [*self._fields, ("Connection", "close")]))

    def write(self, data: bytes) -> None:
        self._writer(data)
        self.written += len(data)

    def length(self) -> int | None:
        return self.written
