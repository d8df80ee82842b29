"""Typed RPC: routes whose request and response are dataclasses, checked
on the way in and out and described by JSON Schema at their URL, and
`rpc_call`, the standard library client that returns the typed answer.

`@server.rpc("/api/hello")` on `def hello(request: HelloRequest) ->
HelloResponse` answers `POST /api/hello` (a JSON body) and, at the same
path, `GET` with its contract (`model.TypedRoute`: `{"kind", "name",
"description", "request": <JSON Schema>, "response": <JSON Schema>}`).
A body that does not fit the request type is a 400 whose JSON says where
and what was expected; an answer that does not fit the response type is a
500 (`RpcAnswerError`, shown like any handler error) that says what to
return. Types and their rules are in `typed_json.py`."""
from __future__ import annotations

import http.client
import ssl
import types
import typing
from typing import Any, Mapping, TypeVar

from ..http.body import decode_json
from ..client import RpcError, post, transport_error
from ..http.files import FileResponse
from ..http.responses import HTTPError, Response, to_json
from .codec import Codec, ValidationError
from .model import RPC, TypedRoute
from .typed_json import codec_of

T = TypeVar("T")


# -- the server side -------------------------------------------------------

class RpcAnswerError(TypeError):
    """A typed function returned a value that is not its declared
    response type: a bug in the function, answered with a 500 (an rpc),
    or the job's error (a typed worker)."""


class Contract(TypedRoute):
    """An rpc: `fn` takes one argument annotated with a dataclass and is
    annotated with its return type (which may allow a `FileResponse`);
    TypeError at registration otherwise, or when a type has no JSON
    form."""

    kind = RPC

    def answer(self, req: Any, args: Any) -> Any:
        """The POST route: the request checked, `fn` called, its answer
        checked and encoded."""
        ctype = (req.headers.get("content-type") or "").split(";")[0]
        ctype = ctype.strip().lower()
        if ctype and ctype != "application/json" and \
                not ctype.endswith("+json"):
            raise HTTPError(415, "rpc requests are JSON (Content-Type: "
                                 "application/json)")
        try:
            request = self.request.decode(args["post"])
        except ValidationError as err:
            return Response({"error": err.describe("request"),
                             "field": err.path, "expected": err.expected},
                            400)
        result = self.fn(request)
        if isinstance(result, types.CoroutineType):  # an `async def` rpc
            return self._encoded_when_done(result)
        return self._encoded(result)

    async def _encoded_when_done(self, result: Any) -> Any:
        return self._encoded(await result)

    def _encoded(self, result: Any) -> Any:
        """The function's answer, checked and encoded."""
        if self.files and isinstance(result, FileResponse):
            return result
        try:
            return self.encode_answer(result)
        except ValidationError as err:
            if isinstance(result, FileResponse):
                result.release()
            raise RpcAnswerError(self.wrong_answer(err)) from None


# -- the client --------------------------------------------------------------

def rpc_call(url: str, request: object, response_type: type[T],
             timeout: float = 10.0, retries: int = 2, *,
             headers: Mapping[str, str] | None = None,
             context: ssl.SSLContext | None = None) -> T:
    """POSTs `request` (a dataclass instance, or plain JSON values) to the
    rpc at `url` and returns its answer as a `response_type` instance
    (`bytes`: the raw body, such as a file).

    `timeout` bounds connecting and each wait for data, in seconds. A 503
    or 429 with a `Retry-After` of at most `timeout` seconds is tried again
    after that wait, at most `retries` times. Raises `RpcError` for an
    error status, no answer, or an answer that is not JSON (nested more
    than 100 deep included) or does not fit `response_type`;
    `ValidationError` (a ValueError) when `request` does not fit its own
    dataclass, a ValueError for a header with CR, LF or NUL (the rule of
    `client.post`)."""
    kind = type(request)
    body = to_json(codec_of(kind).encode(request)
                   if hasattr(kind, "__dataclass_fields__") else request)
    want = None if response_type is bytes else codec_of(response_type)
    sent_headers = {"Content-Type": "application/json",
                    "Accept": "application/json", **(headers or {})}
    answer = post(url, body.encode("utf-8"), sent_headers,
                  timeout=timeout, retries=retries, context=context)
    with answer:
        try:
            status, data = answer.status, answer.read()
        except (OSError, http.client.HTTPException) as err:
            raise transport_error(url, err, timeout) from None
    if want is None:
        return typing.cast(T, data)
    return typing.cast(T, decode_answer(url, status, data, want))


def decode_answer(url: str, status: int, data: bytes, want: Codec) -> Any:
    try:
        value = decode_json(data) if data.strip() else None
    except ValueError as err:
        raise RpcError(status, f"POST {url}: the answer is not JSON "
                               f"({err}): {data[:200]!r}") from None
    try:
        return want.decode(value)
    except ValidationError as err:
        raise RpcError(status, f"POST {url}: the answer does not fit "
                               f"{want.name}: {err.describe('answer')}",
                       field=err.path, expected=err.expected) from None
