"""Blocking standard library clients: `post`, the one rule of `rpc_call`
and `send_files` for errors (`RpcError`), timeouts and retries, and
`worker_request`, a client of the worker protocol. Every answer that
is not what the protocol promises is the client's own error, never a
stray exception of the parser."""
from __future__ import annotations

import email.utils
import http.client
import json
import socket
import ssl
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Iterable, Mapping, TypeVar, overload

from .http.body import decode_json

T = TypeVar("T")
RETRY_STATUSES = (429, 503)
MAX_ERROR_TEXT = 2000


# -- the rule of rpc_call and send_files ----------------------------------

class RpcError(Exception):
    """An rpc call that failed. `status` is the HTTP status of the answer
    (None when none came: refused, timed out, cut off); the message says
    what happened, with the server's own error text. For a request the
    server refused (400), `field` and `expected` name the field."""

    def __init__(self, status: int | None, message: str, *,
                 field: str | None = None, expected: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.expected = expected
        self.retry_after = retry_after


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer (an error for an rpc), not followed: urllib
    would follow a POST with a GET."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def post(url: str, body: bytes | Callable[[], Iterable[bytes]],
         headers: Mapping[str, str], *, timeout: float, retries: int = 2,
         context: ssl.SSLContext | None = None) -> http.client.HTTPResponse:
    """POSTs `body` (bytes, or a function that gives the body anew for
    each try) and returns the open 2xx answer; the caller reads and
    closes it (errors while reading: `transport_error`).

    An error status is an `RpcError` with the server's own text; a
    redirect too (not followed: urllib would repeat a POST as a GET). A
    503 or 429 whose `Retry-After` is at most `timeout` seconds is tried
    again after that wait, at most `retries` times. No answer (refused,
    cut off, or nothing within `timeout` seconds of connecting or of any
    wait for data) is an `RpcError` whose status is None. A header name
    or value with CR, LF or NUL is a ValueError before anything is sent
    (it would forge headers)."""
    check_headers(headers)
    opener = urllib.request.build_opener(
        _NoRedirects, urllib.request.HTTPSHandler(context=context))
    attempt = 0
    while True:
        data = body() if callable(body) else body
        request = urllib.request.Request(url, data, dict(headers),
                                         method="POST")
        try:
            answer: http.client.HTTPResponse = opener.open(
                request, timeout=timeout)
            return answer
        except urllib.error.HTTPError as err:
            error = _status_error(url, err)
        except (OSError, http.client.HTTPException) as err:
            raise transport_error(url, err, timeout) from None
        wait = error.retry_after
        if attempt >= retries or error.status not in RETRY_STATUSES or \
                wait is None or wait > timeout:
            raise error
        attempt += 1
        time.sleep(wait)


def check_headers(headers: Mapping[str, str]) -> None:
    """ValueError for a header name or value with CR, LF or NUL (or a
    name that is empty or has a colon): it would forge headers."""
    for name, value in headers.items():
        if any(ch in f"{name}{value}" for ch in "\r\n\0") or \
                not name or ":" in name:
            raise ValueError(f"header {name!r}: {value!r}: a line break or "
                             f"NUL (or a colon in the name) would forge "
                             f"headers")


def transport_error(url: str, err: BaseException,
                    timeout: float) -> RpcError:
    """The RpcError of a POST that got no (complete) answer: `err` came
    from connecting, sending or reading."""
    reason = err.reason if isinstance(err, urllib.error.URLError) else err
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return RpcError(None, f"POST {url}: no answer within {timeout:g} s "
                              f"(timed out)")
    if isinstance(err, urllib.error.URLError):
        return RpcError(None, f"POST {url}: cannot connect: {reason}")
    return RpcError(None, f"POST {url}: no complete answer: {err!r}")


def _status_error(url: str, err: urllib.error.HTTPError) -> RpcError:
    """The RpcError of an error status, with the server's own text."""
    try:
        data = err.read(MAX_ERROR_TEXT * 4)
    except (OSError, http.client.HTTPException):
        data = b""
    finally:
        err.close()
    return status_error(url, err.code, err.headers, data, err.reason)


def status_error(url: str, code: int, headers: Any, data: bytes,
                 reason: str = "") -> RpcError:
    """The RpcError of an answer with error status `code`, from its
    headers and (the start of) its body: the server's own text."""
    field = expected = None
    text = data.decode("utf-8", "replace").strip()
    try:
        found = decode_json(data)
    except ValueError:
        found = None
    if isinstance(found, dict) and isinstance(found.get("error"), str):
        text = found["error"]
        field, expected = found.get("field"), found.get("expected")
    if code in (301, 302, 303, 307, 308):
        text = f"redirected to {headers.get('Location')!r}"
    text = text[:MAX_ERROR_TEXT] or reason or ""
    return RpcError(code, f"POST {url}: HTTP {code}: {text}",
                    field=field if isinstance(field, str) else None,
                    expected=expected if isinstance(expected, str) else None,
                    retry_after=_retry_after(headers.get("Retry-After")))


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a `Retry-After` (seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


# -- the worker protocol -----------------------------------------------------

class WorkerError(Exception):
    """A worker request failed; `status` is the HTTP status (or `None`
    when the server cancelled the job or the connection failed), as
    `RpcError.status`; `status_code` is its older name. When the job
    itself raised, `error_type` and `error_message` are the type name and
    message of its exception. For a payload a typed worker refused (400),
    or a result that does not fit `result_type`, `field` and `expected`
    name the field, as `RpcError`'s do."""

    def __init__(self, message: str, status: int | None = None,
                 error_type: str | None = None,
                 error_message: str | None = None, *,
                 field: str | None = None,
                 expected: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.error_message = error_message
        self.field = field
        self.expected = expected

    @property
    def status_code(self) -> int | None:
        """`status` by its older name, kept for code that reads it."""
        return self.status


def job_http_error(code: int, text: str) -> WorkerError:
    """The error of an HTTP error answer; a failed job's answer is JSON
    with its exception's type and message."""
    try:
        error = decode_json(text.encode("utf-8"))
    except ValueError:
        return WorkerError(f"HTTP {code}: {text}", code)
    found = error.get("error") if isinstance(error, dict) else None
    if isinstance(found, str):  # a typed worker's refused payload
        field, expected = error.get("field"), error.get("expected")
        return WorkerError(
            f"HTTP {code}: {found}", code,
            field=field if isinstance(field, str) else None,
            expected=expected if isinstance(expected, str) else None)
    if not isinstance(found, dict) or "type" not in found or \
            "message" not in found:
        return WorkerError(f"HTTP {code}: {text}", code)
    kind, message = str(found["type"]), str(found["message"])
    return WorkerError(f"the job failed: {kind}: {message}", code, kind,
                       message)


RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0, 4.0)
# a full job queue (503), or what a development proxy answers while the
# server restarts or is down (502, 503, 504): worth asking again
TRANSIENT_STATUSES = (502, 503, 504)


def _post_once(url: str, obj: dict[str, Any], timeout: float,
               headers: Mapping[str, str],
               context: ssl.SSLContext | None) -> dict[str, Any]:
    data = json.dumps(obj).encode("utf-8")
    request = urllib.request.Request(
        url, data=data, method="POST",
        headers={**headers, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout,
                                context=context) as resp:
        answer = decode_json(resp.read())
    if not isinstance(answer, dict):
        raise ValueError(f"an object was expected, got {answer!r:.100}")
    return answer


def _post(url: str, obj: dict[str, Any], timeout: float,
          headers: Mapping[str, str] | None = None,
          context: ssl.SSLContext | None = None) -> dict[str, Any]:
    """POSTs one protocol request. A 502, 503 or 504 (a full queue, a
    restarting server behind a proxy) is retried after its Retry-After or
    a growing pause; a failed connection too, except for a `start` that
    may have reached the server (`get` and `cargo` can be repeated)."""
    delays = iter(RETRY_DELAYS)
    while True:
        try:
            return _post_once(url, obj, timeout, headers or {}, context)
        except urllib.error.HTTPError as err:
            text = err.read().decode("utf-8", "replace").strip()
            delay = next(delays, None)
            if err.code not in TRANSIENT_STATUSES or delay is None:
                raise job_http_error(err.code, text) from None
            retry_after = err.headers.get("Retry-After", "")
            if retry_after.isdigit():
                delay = min(float(retry_after), 30.0)
        except (OSError, http.client.HTTPException) as err:  # cut off too
            reason = getattr(err, "reason", err)
            repeatable = obj.get("action") != "start" or \
                isinstance(reason, ConnectionRefusedError)
            delay = next(delays, None) if repeatable else None
            if delay is None:
                raise WorkerError(f"worker request failed: {err}") from None
        except ValueError as err:
            raise WorkerError(f"worker answer is not a protocol object: "
                              f"{err}") from None
        time.sleep(delay)


ProgressF = Callable[[dict[str, Any]], None]


@overload
def worker_request(url: str, payload: Any, *, wait: float = 25.0,
                   timeout: float | None = None,
                   on_progress: ProgressF | None = None,
                   result_type: None = None,
                   headers: Mapping[str, str] | None = None,
                   context: ssl.SSLContext | None = None) -> Any: ...


@overload
def worker_request(url: str, payload: Any, *, wait: float = 25.0,
                   timeout: float | None = None,
                   on_progress: ProgressF | None = None,
                   result_type: type[T],
                   headers: Mapping[str, str] | None = None,
                   context: ssl.SSLContext | None = None) -> T: ...


def worker_request(url: str, payload: Any, *, wait: float = 25.0,
                   timeout: float | None = None,
                   on_progress: ProgressF | None = None,
                   result_type: type[T] | None = None,
                   headers: Mapping[str, str] | None = None,
                   context: ssl.SSLContext | None = None) -> Any:
    """Runs a job at the worker `url` and returns its decoded result.

    Long-polls with `wait` seconds per request (a poll also returns when
    the job reports progress: `on_progress(progress)` then gets the
    `{"done", "total", "message"}` object); gives up (stopping the job)
    after `timeout` seconds when given. A job that raised is a
    `WorkerError` with `error_type` and `error_message`.

    For a typed worker (`rpc_worker`): `payload` may be a dataclass
    instance (checked against its type before it is sent: a
    `ValidationError`), and `result_type` (any type of the rpc rules)
    returns the result as that type (a `WorkerError` naming the `field`
    when it does not fit; a refused payload is one too, with `status`
    400). `headers` go with every request (a ValueError for CR, LF or NUL
    in one), `context` is the `ssl.SSLContext` for HTTPS."""
    sent = dict(headers or {})
    check_headers(sent)
    payload, typed = typed_job(payload, result_type)
    return typed(url, run_job(
        lambda obj, seconds: _post(url, obj, seconds, sent, context),
        payload, wait=wait, timeout=timeout, on_progress=on_progress))


def typed_job(payload: Any, result_type: Any
              ) -> tuple[Any, Callable[[str, Any], Any]]:
    """What `worker_request` sends for `payload` (a dataclass as its
    JSON, checked first: ValidationError), and what makes a result
    `result_type`'s (`typed(url, result)`; WorkerError naming the field
    when it does not fit; None: the JSON as it is). TypeError for a type
    with no JSON form, before any job."""
    if result_type is None and \
            not hasattr(type(payload), "__dataclass_fields__"):
        return payload, lambda url, result: result
    from .rpc.codec import ValidationError
    from .rpc.typed_json import codec_of
    if hasattr(type(payload), "__dataclass_fields__"):
        payload = codec_of(type(payload)).encode(payload)
    if result_type is None:
        return payload, lambda url, result: result
    want = codec_of(result_type)

    def typed(url: str, result: Any) -> Any:
        try:
            return want.decode(result)
        except ValidationError as err:
            raise WorkerError(f"{url}: the result does not fit {want.name}: "
                              f"{err.describe('result')}", field=err.path,
                              expected=err.expected) from None
    return payload, typed


Send = Callable[[dict[str, Any], float], dict[str, Any]]


def run_job(send: Send, payload: Any, *, wait: float = 25.0,
            timeout: float | None = None,
            on_progress: Callable[[dict[str, Any]], None] | None = None
            ) -> Any:
    """The client's side of the worker protocol, whatever carries it:
    `send(request, seconds)` answers one protocol request (a dict) or
    raises `WorkerError`; as `worker_request` says."""
    deadline = None if timeout is None else time.monotonic() + timeout
    per_request = wait + 30.0
    res = send({"action": "start", "payload": payload}, per_request)
    token = res.get("token")
    seen: Any = None
    try:
        while True:
            progress = res.get("progress")
            if on_progress is not None and progress is not None and \
                    progress != seen:
                seen = progress
                on_progress(progress)
            if _field(res, "done", bool):
                break
            if not _field(res, "continue", bool):
                raise WorkerError("the server cancelled the job")
            hold = wait
            if deadline is not None:
                hold = min(wait, deadline - time.monotonic())
                if hold <= 0:
                    raise WorkerError("timed out waiting for the job")
            res = send({"action": "get", "token": token, "wait": hold},
                       per_request)
        token = None
        if _field(res, "continue", bool):
            text = "".join(
                _field(send({"action": "cargo", "token": key}, per_request),
                       "result", str)
                for key in _field(res, "result", list))
        else:
            text = _field(res, "result", str)
        try:
            return decode_json(text.encode("utf-8", "surrogatepass"))
        except ValueError as err:
            raise WorkerError(f"the job's result is not JSON: {err}") \
                from None
    finally:
        if token is not None:
            try:
                send({"action": "stop", "token": token}, 5.0)
            except WorkerError:
                pass


def _field(answer: dict[str, Any], key: str,
           kind: type | tuple[type, ...]) -> Any:
    """`answer[key]`, which the protocol says is a `kind`; WorkerError
    when the answer is malformed."""
    value = answer.get(key)
    if not isinstance(value, kind):
        raise WorkerError(f"malformed worker answer: {key!r} is "
                          f"{value!r:.100}")
    return value
