"""Testing a server's routes in-process: `TestClient(server)` and
`load_script(path)`.

The client hands each request to the server's `dispatch` in the calling
thread: no socket, no port, no `serve_forever`. What a route, a static file, an rpc or a worker answers
is exactly what a browser would get (status, headers, body).

    from quick_server.testing import TestClient, load_script

    server = load_script("app.py")  # serve_forever() returns at once
    client = TestClient(server)
    assert client.get("/api/ping").json() == {"pong": True}
"""
from __future__ import annotations

import contextlib
import http.client
import io
import json as json_module
import os
import sys
import threading
import types
from http.cookies import SimpleCookie
from typing import Any, Iterator, Mapping, TypeVar
from urllib.parse import urlencode

from .client import (WorkerError, job_http_error, run_job, status_error,
                     typed_job)
from .http.body import decode_json
from .http.sending import NO_BODY_CODES
from .http.dispatch import dispatch, resolve
from .http.errorpage import PLAIN
from .http.file_answers import FileSpan
from .http.request import Request
from .http.responses import (Response, StreamResponse, UnsafeHeader,
                             WaitingResponse, reason, response_head, to_json)
from .http.wire import Body, Headers, RequestHead
from .multipart_client import FileSpec, multipart_body
from .rpc.contracts import decode_answer
from .rpc.typed_json import codec_of
from .server import QuickServer

T = TypeVar("T")
CLIENT_ADDRESS = ("127.0.0.1", 50000)  # a client on this machine

__all__ = ["TestClient", "TestResponse", "load_script"]


def _body_of(response: Response) -> bytes:
    """All of an answer's body: its bytes, or its file's span."""
    if isinstance(response, FileSpan):
        return os.pread(response.fd, response.end - response.start,
                        response.start)
    return bytes(response.response)


class _Answer:
    """What `http.client.HTTPResponse` reads an answer from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, mode: str = "rb", buffering: int = -1) -> Any:
        return io.BufferedReader(io.BytesIO(self._data))


class TestResponse:
    """An answer: `status_code`, `headers` (case-insensitive), `content`
    (bytes), `text`, `json()` and `iter_content()`, as requests and httpx
    name them. A streamed answer (`StreamResponse`) is read as it comes:
    `iter_content()` yields its chunks as the server makes them (an event
    stream never ends: stop reading and `close()`), `content` waits for
    all of it."""

    __test__ = False  # not a pytest test class

    def __init__(self, status_code: int, reason: str,
                 headers: http.client.HTTPMessage,
                 content: bytes | None = None, *,
                 chunks: Iterator[bytes] | None = None) -> None:
        self.status_code = status_code
        self.reason = reason
        self.headers = headers
        self._content = content
        self._chunks = chunks

    @property
    def content(self) -> bytes:
        if self._content is None:
            self._content = b"".join(self._chunks or ())
            self._chunks = None
        return self._content

    @property
    def text(self) -> str:
        charset = self.headers.get_content_charset() or "utf-8"
        return self.content.decode(charset, "replace")

    def json(self) -> Any:
        return json_module.loads(self.content)

    def iter_content(self, chunk_size: int = 65536) -> Iterator[bytes]:
        """The body in pieces of at most `chunk_size` bytes (a stream's
        as they come)."""
        if self._content is None and self._chunks is not None:
            for chunk in self._chunks:
                for start in range(0, len(chunk), chunk_size):
                    yield chunk[start:start + chunk_size]
            return
        for start in range(0, len(self.content), chunk_size):
            yield self.content[start:start + chunk_size]

    def close(self) -> None:
        """Ends a streamed answer not read to its end (the server's side
        of it is released)."""
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()

    def __repr__(self) -> str:
        return f"<TestResponse {self.status_code} {self.reason}>"


def _parsed(raw: bytes, method: str) -> TestResponse:
    """The answer in `raw` wire bytes (one written by hand)."""
    answer = http.client.HTTPResponse(
        _Answer(raw), method=method)  # type: ignore[arg-type]
    answer.begin()
    return TestResponse(answer.status, answer.reason, answer.msg,
                        answer.read())


def _streamed(stream: StreamResponse) -> Iterator[bytes]:
    try:
        yield from stream.chunks
    finally:
        stream.release()


class TestClient:
    """Sends requests to `server` in-process (see the module's docstring).
    Cookies the server sets are kept and sent with later requests. Jobs
    of `"process"` workers need the job processes: call
    `server.start_job_processes()` (or use `load_script`) before any
    other thread starts."""

    __test__ = False  # not a pytest test class

    def __init__(self, server: QuickServer, *,
                 headers: Mapping[str, str] | None = None) -> None:
        self.server = server
        self.headers = dict(headers or {})
        self.cookies: SimpleCookie = SimpleCookie()
        self._lock = threading.Lock()  # the cookie jar

    def request(self, method: str, path: str, *,
                headers: Mapping[str, str] | None = None,
                json: Any = None, data: Mapping[str, Any] | None = None,
                files: Mapping[str, FileSpec] | None = None,
                content: bytes | None = None) -> TestResponse:
        """One request; the body is `json` (JSON), `data` (a form, with
        `files` multipart as `send_files` sends it) or `content`."""
        sent = {"Host": "testserver", **self.headers, **(headers or {})}
        body = b""
        if json is not None:
            body = to_json(json).encode("utf-8")
            sent.setdefault("Content-Type", "application/json")
        elif files:
            content_type, parts = multipart_body(data, files)
            body = b"".join(parts.chunks())
            sent["Content-Type"] = content_type
        elif data is not None:
            body = urlencode(data).encode("ascii")
            sent.setdefault("Content-Type",
                            "application/x-www-form-urlencoded")
        elif content is not None:
            body = content
        with self._lock:
            jar = "; ".join(f"{key}={morsel.value}"
                            for key, morsel in self.cookies.items())
        if jar:
            sent["Cookie"] = jar
        if body or method in ("POST", "PUT", "PATCH"):
            sent["Content-Length"] = str(len(body))
        head = RequestHead(method, path, "HTTP/1.1",
                           Headers(list(sent.items())))
        written = bytearray()  # an answer written by hand
        request = Request(self.server, head, CLIENT_ADDRESS,
                          Body(io.BufferedReader(io.BytesIO(body)),
                               len(body)), writer=written.extend)
        response = self._answer(request, written)
        with self._lock:
            for cookie in response.headers.get_all("Set-Cookie") or ():
                self.cookies.load(cookie)
        return response

    def _answer(self, request: Request, written: bytearray) -> TestResponse:
        """`dispatch`'s answer to `request`, as the wire would carry it."""
        server = self.server
        response: Response | None = None
        try:
            response = dispatch(server, request)
            if isinstance(response, WaitingResponse):
                response = resolve(server, request, response,
                                   response.seconds)
            if response.already_sent:
                return _parsed(bytes(written), request.command)
            code = response.code
            length = None if code in NO_BODY_CODES else response.length()
            fields = [] if length is None else [("Content-Length",
                                                 str(length))]
            if response.ctype is not None:
                fields.insert(0, ("Content-Type", response.ctype))
            try:
                head = response_head("HTTP/1.1", code,
                                     fields + response.headers)
            except UnsafeHeader:
                body, ctype = PLAIN  # as the connection layer answers
                return _parsed(response_head("HTTP/1.1", 500, [
                    ("Content-Type", ctype),
                    ("Content-Length", str(len(body)))]) + body,
                    request.command)
            headers = http.client.parse_headers(
                io.BytesIO(head.split(b"\r\n", 1)[1]))
            with_body = request.command != "HEAD" and \
                code not in NO_BODY_CODES
            if isinstance(response, StreamResponse) and with_body:
                stream, response = response, None  # released once read
                return TestResponse(code, reason(code), headers,
                                    chunks=_streamed(stream))
            return TestResponse(code, reason(code), headers,
                                _body_of(response) if with_body else b"")
        finally:
            if response is not None:
                response.release()
            for upload in request.files.values():
                upload.close()

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("GET", path, **kwargs)

    def head(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("HEAD", path, **kwargs)

    def options(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("OPTIONS", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("DELETE", path, **kwargs)

    def rpc(self, path: str, request: object, response_type: type[T]) -> T:
        """Calls the rpc at `path` as `rpc_call` does: the answer as a
        `response_type` instance (`bytes`: the raw body); an error status
        or an answer that does not fit is an `RpcError`."""
        kind = type(request)
        body = (codec_of(kind).encode(request)
                if hasattr(kind, "__dataclass_fields__") else request)
        answer = self.post(path, json=body,
                           headers={"Accept": "application/json"})
        if answer.status_code >= 300:
            raise status_error(path, answer.status_code, answer.headers,
                               answer.content, answer.reason)
        if response_type is bytes:
            return answer.content  # type: ignore[return-value]
        return decode_answer(path, answer.status_code, answer.content,
                             codec_of(response_type))  # type: ignore

    def run_worker(self, path: str, payload: Any, *, wait: float = 25.0,
                   timeout: float | None = None,
                   result_type: Any = None) -> Any:
        """Runs a job at the worker `path` as `worker_request` does and
        returns its result (a dataclass payload is sent as its JSON;
        `result_type`: the result as that type); a job that raised is a
        `WorkerError`."""
        payload, typed = typed_job(payload, result_type)
        def send(request: dict[str, Any], seconds: float) -> dict[str, Any]:
            answer = self.post(path, json=request)
            if answer.status_code != 200:
                raise job_http_error(answer.status_code, answer.text)
            try:
                reply = decode_json(answer.content)
            except ValueError as err:
                raise WorkerError(f"worker answer is not JSON: {err}") \
                    from None
            if not isinstance(reply, dict):
                raise WorkerError("worker answer is not a protocol object")
            return reply
        return typed(path, run_job(send, payload, wait=wait,
                                   timeout=timeout))


@contextlib.contextmanager
def _patched(obj: Any, name: str, value: Any) -> Iterator[None]:
    """`obj.name` is `value` for the block; then what it was (an
    inherited one is not left behind as `obj`'s own)."""
    own = vars(obj)
    had, old = name in own, own.get(name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        if had:
            setattr(obj, name, old)
        else:
            delattr(obj, name)


def _run_as_module(script: str) -> None:
    """Runs `script` as a module of its own name in `sys.modules`, so
    that its functions pickle by reference (jobs of "process" workers)."""
    stem = os.path.splitext(os.path.basename(script))[0]
    name = "_quick_server_script_" + "".join(
        char if char.isalnum() else "_" for char in stem)
    module = types.ModuleType(name)
    module.__file__ = script
    sys.modules[name] = module
    with open(script, "rb") as handle:
        code = compile(handle.read(), script, "exec")
    exec(code, module.__dict__)  # pylint: disable=exec-used


def load_script(path: str | os.PathLike[str],
                argv: list[str] | None = None) -> QuickServer:
    """Runs the server script at `path` (written as README.rst shows: no
    `__main__` guard, `serve_forever()` at its end) and returns the
    server it configured, for a `TestClient`. While it runs,
    `serve_forever()` only forks the job processes (as serving would) and
    returns at once, the server binds no port, `server_close()` and
    `setup_restart()` do nothing, the working folder is the script's
    folder and `sys.argv` is `[path] + argv`. The script runs as a module
    named after it (not `__main__`: its functions must pickle for job
    processes), so a `__main__` guard's block does not run; the server it
    made is returned all the same."""
    import quick_server
    script = os.path.abspath(os.fspath(path))
    made: list[QuickServer] = []
    served: list[QuickServer] = []

    def no_bind(self: QuickServer) -> None:
        made.append(self)
        self.server_name, self.server_port = "127.0.0.1", 0

    def serve(self: QuickServer, *args: Any, **kwargs: Any) -> None:
        served.append(self)
        self._start_job_processes()  # pylint: disable=protected-access

    folder, old_argv = os.getcwd(), sys.argv
    with contextlib.ExitStack() as stack:
        stack.enter_context(_patched(QuickServer, "server_bind", no_bind))
        stack.enter_context(_patched(QuickServer, "server_activate",
                                     lambda self: None))
        stack.enter_context(_patched(QuickServer, "serve_forever", serve))
        stack.enter_context(_patched(QuickServer, "server_close",
                                     lambda self: None))
        stack.enter_context(_patched(quick_server, "setup_restart",
                                     lambda *args, **kwargs: None))
        try:
            os.chdir(os.path.dirname(script))
            sys.argv = [script] + list(argv or [])
            _run_as_module(script)
        finally:
            os.chdir(folder)
            sys.argv = old_argv
    if not (served or made):
        raise RuntimeError(f"{script} made no server")
    return (served or made)[-1]
