"""What a handler can return or raise, and the bytes of a response head."""
from __future__ import annotations

import http
import json
import json.encoder
import math
import re
import time
from typing import Any, Callable, Iterable, Iterator

from .frame_json import frame_chunks
from .json_values import JsonDefault, is_frame, json_key, plain_keys, \
    recognise

SERVER_NAME = "quick_server"


class HTTPError(Exception):
    """Ends a request with `code` and a short plain-text `message`.

    `close` also ends the connection: used when the request's framing can
    no longer be trusted (a body that was not read, a bad chunk). `page`
    (bytes, Content-Type) replaces the plain-text message as the body."""

    def __init__(self, code: int, message: str | None = None, *,
                 close: bool = False,
                 headers: Iterable[tuple[str, str]] = (),
                 page: tuple[bytes, str] | None = None) -> None:
        super().__init__(message or reason(code))
        self.code = code
        self.message = message or reason(code)
        self.close = close
        self.headers = list(headers)
        self.page = page
        self.request_line = ""  # what was read of a bad request's line


class PreventDefaultResponse(HTTPError):
    """Raised from a handler or middleware to answer with `code` and `msg`
    instead of the handler's normal result (quick_server's classic name)."""

    def __init__(self, code: int = 500, msg: str | None = None) -> None:
        super().__init__(code, msg)


class Response:
    """A handler result with its own status code and content type.

    `response` is converted like a plain return value of the route (JSON for
    json routes, text for text routes); bytes are sent unchanged.

    It is also what `dispatch` hands the connection layer: a `Response`
    whose `response` is bytes, a `FileSpan` (a file's bytes, sent with
    `sendfile`), a `StreamResponse` or a `WaitingResponse`. `formed`: the
    body is final (no filter changes it); `close_connection`: the
    connection ends after it; `error`: the exception a 500 answers (the
    error page filter makes its body)."""

    formed = False
    close_connection = False
    already_sent = False  # written by hand (`hand_written`)
    error: BaseException | None = None

    def __init__(self, response: Any, code: int = 200,
                 ctype: str | None = None,
                 headers: Iterable[tuple[str, str]] = ()) -> None:
        self.response = response
        self.code = code
        self.ctype = ctype
        self.headers = list(headers)

    def length(self) -> int | None:
        """The body's size in bytes (None: not known in advance)."""
        return len(self.response)

    def release(self) -> None:
        """Frees what the answer holds (a descriptor, a generator, a
        file to delete) once it is sent, or when it is not."""


class StreamResponse(Response):
    """An answer whose body is sent as it is made: `chunks` yields bytes
    (a generator is closed when the client goes, so its `finally` runs).
    With a `length` the body is that many bytes; else it is sent chunked
    to an HTTP/1.1 client and ended by closing the connection for an
    HTTP/1.0 one. `waits`: seconds of its time that are waiting by design,
    no slowness for the slow-request log (an event stream's: all of it).
    `on_close` runs once the answer is over, sent or not (a generator
    never started does not run its `finally`)."""

    formed = True
    waits = 0.0

    def __init__(self, chunks: Iterable[bytes], code: int = 200,
                 ctype: str | None = None,
                 headers: Iterable[tuple[str, str]] = (), *,
                 length: int | None = None, waits: float = 0.0,
                 on_close: Callable[[], None] | None = None) -> None:
        super().__init__(b"", code, ctype, headers)
        self.chunks = chunks
        self.size = length
        if not waits and (ctype or "").startswith("text/event-stream"):
            waits = math.inf  # an event stream lasts by design
        self.waits = waits
        self._on_close = on_close

    def length(self) -> int | None:
        return self.size

    def release(self) -> None:
        on_close, self._on_close = self._on_close, None
        try:
            close = getattr(self.chunks, "close", None)
            if close is not None:
                close()
        finally:
            if on_close is not None:
                on_close()


class WaitingResponse(Response):
    """An answer that waits for an event (a job settles for a long-poll,
    a job is queued for a service's `next`): `answer(seconds)` makes it,
    waiting at most `seconds` (0: at once), and returns what a handler
    would (converted as the route's kind says); `seconds` is the client's
    own wait (no slowness). With a `signal` (`waiting.Signal`) the answer
    is parked in the event loop, holding no thread, until the signal
    names one of its `keys` and `ready()`, or `seconds` pass: then
    `answer(0)`. Without one, a thread waits in `answer(seconds)`.
    `on_close` runs once it is over, answered or not (its client went)."""

    kind = "json"
    by_design = True  # its waiting is no slowness (an async handler's is)

    def __init__(self, answer: Callable[[float], Any], seconds: float, *,
                 signal: Any = None, keys: Iterable[Any] = (),
                 ready: Callable[[], bool] | None = None,
                 on_close: Callable[[], None] | None = None) -> None:
        super().__init__(b"", 200)
        self.answer = answer
        self.seconds = seconds
        self.signal = signal
        self.keys = tuple(keys)
        self.ready = ready or (lambda: False)
        self._on_close = on_close

    def release(self) -> None:
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close()


class EventStream(StreamResponse):
    """A stream of events (`text/event-stream`): `first`, then what
    `pending()` returns each time the `signal` names one of its `keys`
    (b"": nothing new; None: the stream ends), and `ping` after
    `ping_every` seconds without a word. It is parked in the event loop
    between events, holding no thread; iterated (`chunks`), it waits on
    the signal on the calling thread."""

    def __init__(self, first: bytes, pending: Callable[[], bytes | None],
                 signal: Any, keys: Iterable[Any], *, ping: bytes,
                 ping_every: float, headers: Iterable[tuple[str, str]] = (),
                 on_close: Callable[[], None] | None = None) -> None:
        self.first, self.pending = first, pending
        self.signal, self.keys = signal, tuple(keys)
        self.ping, self.ping_every = ping, ping_every
        super().__init__(self._waiting_chunks(), 200, "text/event-stream",
                         headers, on_close=on_close)

    def _waiting_chunks(self) -> Iterator[bytes]:
        import threading  # only an iterated stream needs it
        woken = threading.Event()
        keys = set(self.keys)

        def wake(fired: tuple[Any, ...]) -> None:
            if not fired or keys.intersection(fired):
                woken.set()
        self.signal.subscribe(wake)
        try:
            yield self.first
            while True:
                woken.wait(self.ping_every)
                woken.clear()
                data = self.pending()
                if data is None:
                    return
                yield data or self.ping
        finally:
            self.signal.unsubscribe(wake)


def error_response(err: HTTPError) -> Response:
    """The plain-text answer of an `HTTPError`."""
    body, ctype = err.page or (f"{err.message}\n".encode("utf-8"),
                               "text/plain; charset=utf-8")
    response = Response(body, err.code, ctype, err.headers)
    response.close_connection = err.close
    return response


_REASONS = {int(s): s.phrase for s in http.HTTPStatus}


def reason(code: int) -> str:
    """The standard reason phrase of a status code."""
    return _REASONS.get(code, "Unknown")


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
           "Oct", "Nov", "Dec")


def http_date(seconds: float) -> str:
    """An HTTP date (RFC 9110 IMF-fixdate) of a POSIX time:
    `Sun, 06 Nov 1994 08:49:37 GMT`, whatever the locale."""
    t = time.gmtime(seconds)
    return (f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} "
            f"{t.tm_year:04d} {t.tm_hour:02d}:{t.tm_min:02d}:"
            f"{t.tm_sec:02d} GMT")


class _DateCache:
    """`Date` header value, formatted at most once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._value = ""

    def get(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._value = http_date(now)
            self._second = now
        return self._value


_DATE = _DateCache()


class UnsafeHeader(ValueError):
    """A response header name or value that would break the head (a
    control character, or a name that is not an HTTP token)."""


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# RFC 9110 5.5: a field value is VCHAR, SP, HTAB and obs-text; CR and LF
# are counted apart (each line ends in one of each)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_OR_EOL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_GOOD_NAMES: set[str] = set()  # names already checked (bounded)


def _check_name(name: str) -> None:
    if name in _GOOD_NAMES:
        return
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise UnsafeHeader(f"invalid response header name {name!r}")
    if len(_GOOD_NAMES) < 1024:
        _GOOD_NAMES.add(name)


_CHECKED: dict[tuple[tuple[str, str], ...], str] = {}  # fields -> lines
_CHECKED_MAX = 512  # kinds of heads kept (a static file's, a route's...)
_CHECKED_BYTES = 1024  # the longest lines kept


def header_lines(fields: list[tuple[str, str]]) -> str:
    """`Name: value` lines of `fields`, each ending in CRLF. A name that is
    not a token, or a value holding a control character other than tab
    (CR, LF, NUL, VT, ESC, DEL...), raises `UnsafeHeader`: nothing built
    from request data can add a header, end the head early or reach a
    client's terminal. The lines of fields seen before (most answers
    repeat the ones before) are remembered, bounded."""
    key = tuple(fields)
    try:
        return _CHECKED[key]
    except (KeyError, TypeError):  # (TypeError: a value is not hashable)
        pass
    text = _checked_lines(fields)
    if len(text) <= _CHECKED_BYTES:
        if len(_CHECKED) >= _CHECKED_MAX:
            _CHECKED.clear()
        _CHECKED[key] = text
    return text


def _checked_lines(fields: list[tuple[str, str]]) -> str:
    for name, _ in fields:
        _check_name(name)
    text = "".join(f"{name}: {value}\r\n" for name, value in fields)
    if text.count("\n") != len(fields) or text.count("\r") != len(fields) \
            or _CONTROL.search(text):
        bad = next((name for name, value in fields
                    if _CONTROL_OR_EOL.search(str(value))), "?")
        raise UnsafeHeader(
            f"control character in the value of header {bad!r}")
    return text


def response_head(version: str, code: int,
                  headers: Iterable[tuple[str, str]]) -> bytes:
    """Status line, `Server`, `Date` and `headers` as wire bytes; every
    response head is written through here (`UnsafeHeader` as in
    `header_lines`)."""
    text = header_lines(list(headers))
    return (f"{version} {code} {reason(code)}\r\n"
            f"Server: {SERVER_NAME}\r\nDate: {_DATE.get()}\r\n{text}\r\n"
            ).encode("latin-1", "replace")


def _plain(value: Any) -> Any:
    """`value` with NaN and the infinities (anywhere inside) as None, and
    dict keys JSON cannot write (a Timestamp...) made into keys it can."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in plain_keys(value).items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _compact_encoder(default: Callable[[Any], Any]) -> Callable[[Any], str]:
    """`json.dumps(value, separators=(",", ":"), allow_nan=False,
    default=default)`, with the C encoder made once instead of on every
    call (a value that holds itself raises RecursionError instead of
    ValueError). `default` is called only for what the C encoder cannot
    write: plain JSON keeps its speed."""
    encoder = json.JSONEncoder(separators=(",", ":"), allow_nan=False,
                               default=default)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # a Python without the C accelerator
        return encoder.encode
    chunks = make(None, encoder.default, json.encoder.encode_basestring_ascii,
                  None, ":", ",", False, False, False)
    return lambda value: "".join(chunks(value, 0))


class JsonWriter:
    """Compact JSON of a value, `default` (`json_values.recognise` and a
    server's `json_default`) for what JSON has no word for; NaN, Infinity
    and -Infinity (which `JSON.parse` refuses) written as `null`; dict
    keys such as Timestamps or numpy integers as `json_key` writes them.
    (Plain JSON goes through the C encoder alone; a value it refuses for
    a float or a key is made plain first, `_plain`.)"""

    def __init__(self, default: JsonDefault = recognise) -> None:
        self.default = default
        self._encode = _compact_encoder(default)
        self._plain_encode: Callable[[Any], str] | None = None

    def __call__(self, value: Any) -> str:
        try:
            return self._encode(value)
        except ValueError as err:
            if "Out of range float" not in str(err):
                raise
        except TypeError as err:
            if not str(err).startswith("keys must be"):
                raise
        if self._plain_encode is None:  # what `default` makes, plain too
            default = self.default
            self._plain_encode = _compact_encoder(
                lambda item: _plain(default(item)))
        return self._plain_encode(_plain(value))

    def text(self, value: Any) -> str:
        """`self(value)`, but a DataFrame's records column by column
        (`frame_json.py`: fast, exact, and small in memory)."""
        chunks = self._frame_chunks(value)
        return self(value) if chunks is None else "".join(chunks)

    def body(self, value: Any) -> bytes:
        """The UTF-8 body of a JSON answer (`text`)."""
        chunks = self._frame_chunks(value)
        if chunks is None:
            return self(value).encode("utf-8")
        return b"".join(chunk.encode("utf-8") for chunk in chunks)

    def _frame_chunks(self, value: Any) -> Iterator[str] | None:
        """The pieces of a DataFrame's records; None for anything else
        (or a frame `frame_json` leaves to the records path)."""
        return frame_chunks(value, self, json_key) if is_frame(value) \
            else None


JSON = JsonWriter()  # without a server's `json_default`


def to_json(value: Any) -> str:
    """Compact JSON that every browser can parse: NaN, Infinity and
    -Infinity are written as `null`; numpy, pandas, dates, `Decimal`...
    as `json_values.recognise` says."""
    return JSON(value)
