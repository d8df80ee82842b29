"""Typed RPC: routes whose request and response are dataclasses, checked
on the way in and out and described by JSON Schema at their URL, and
`rpc_call`, the standard library client that returns the typed answer.

`@server.rpc("/api/hello")` on `def hello(request: HelloRequest) ->
HelloResponse` answers `POST /api/hello` (a JSON body) and, at the same
path, `GET` with `{"request": <JSON Schema>, "response": <JSON Schema>}`.
A body that does not fit the request type is a 400 whose JSON says where
and what was expected; an answer that does not fit the response type is a
500 (`RpcAnswerError`, shown like any handler error) that says what to
return. Types and their rules are in `typed_json.py`."""
from __future__ import annotations

import http.client
import inspect
import ssl
import types
import typing
from typing import Any, Callable, Mapping, TypeVar, Union

from ..http.body import decode_json
from ..client import RpcError, post, transport_error
from ..http.files import FileResponse
from ..http.responses import HTTPError, Response, to_json
from .codec import Codec, ValidationError
from .schema_defs import DIALECT, Definitions
from .typed_json import codec_of, json_schema

T = TypeVar("T")

FILE_SCHEMA = {"title": "file", "description": "a file download: the "
               "answer's body is the file, not JSON (Content-Disposition "
               "names it)"}


# -- the server side -------------------------------------------------------

class RpcAnswerError(TypeError):
    """An rpc function returned a value that is not its declared response
    type: a bug in the function, answered with a 500."""


class Contract:
    """An rpc function with the codecs of its request and response types.

    `fn` takes one argument annotated with a dataclass and is annotated
    with its return type (which may allow a `FileResponse`); TypeError at
    registration otherwise, or when a type has no JSON form."""

    def __init__(self, path: str, fn: Callable[[Any], Any]) -> None:
        self.path = path
        self.fn = fn
        name = getattr(fn, "__qualname__", repr(fn))
        request_type, response_type = _signature(fn, name)
        try:
            self.request: Codec = codec_of(request_type)
            self.sends_files, rest = _without_files(response_type)
            self.response: Codec | None = \
                None if rest is _NOTHING else codec_of(rest)
        except TypeError as err:
            raise TypeError(f"rpc {path} ({name}): {err}") from None
        self.description = inspect.getdoc(fn)
        self.document = {"request": json_schema(request_type),
                         "response": self._response_schema(None)}

    def _response_schema(self, defs: Definitions | None) -> dict[str, Any]:
        """The response's schema: a document of its own, or (with `defs`)
        a part of a larger document."""
        own = Definitions() if defs is None else defs
        parts = [] if self.response is None else [self.response.schema(own)]
        if self.sends_files:
            parts.append(dict(FILE_SCHEMA))
        res: dict[str, Any] = parts[0] if len(parts) == 1 \
            else {"anyOf": parts}
        if defs is None:
            res = {"$schema": DIALECT, **res}
            if own.defs:
                res["$defs"] = own.defs
        return res

    def entry(self, defs: Definitions) -> dict[str, Any]:
        """This contract within `contracts_document`."""
        res: dict[str, Any] = {"request": self.request.schema(defs),
                               "response": self._response_schema(defs)}
        if self.description:
            res["description"] = self.description
        return res

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
        if self.sends_files and isinstance(result, FileResponse):
            return result
        try:
            if self.response is None:
                raise ValidationError("FileResponse",
                                      f"expected FileResponse, got "
                                      f"{type(result).__qualname__}")
            return self.response.encode(result)
        except ValidationError as err:
            if isinstance(result, FileResponse):
                result.release()
            raise RpcAnswerError(self._wrong_answer(err)) from None

    def _wrong_answer(self, err: ValidationError) -> str:
        """What the function must return instead: a dict where a
        dataclass belongs is the usual mistake, named as such."""
        name = getattr(self.fn, "__qualname__", "?").rpartition(
            "<locals>.")[2]
        told = err.describe("answer")
        cls = err.expected.removesuffix(" (an object)")
        if cls == err.expected or \
                not err.problem.startswith(f"expected {err.expected}, got "
                                           f"dict"):
            return f"rpc {self.path}: the answer of {name} is not its " \
                   f"declared type: {told}"
        an = "an" if cls[:1].lower() in "aeiou" else "a"
        if not err.path:
            return f"rpc {self.path}: {name} returned a dict: return {an} " \
                   f"{cls} instance, not a dict ({told})"
        return f"rpc {self.path}: {name} returned a dict at {err.path}: " \
               f"put {an} {cls} instance there, not a dict ({told})"

    def describe(self, req: Any, args: Any) -> Any:
        """The GET route: the contract's JSON Schema document."""
        return self.document


def contracts_document(contracts: list[Contract]) -> dict[str, Any]:
    """Every contract in one JSON Schema document: `contracts` maps each
    path to its request and response schemas, which share `$defs`."""
    defs = Definitions()
    entries = {c.path: c.entry(defs) for c in contracts}
    doc: dict[str, Any] = {"$schema": DIALECT, "contracts": entries}
    if defs.defs:
        doc["$defs"] = defs.defs
    return doc


def _signature(fn: Callable[[Any], Any], name: str) -> tuple[Any, Any]:
    """The request and response types of an rpc function."""
    try:
        params = list(inspect.signature(fn).parameters.values())
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as err:  # pylint: disable=broad-except
        raise TypeError(f"rpc function {name}: cannot read its "
                        f"annotations: {err}") from None
    required = [p for p in params if p.default is inspect.Parameter.empty
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if len(params) < 1 or len(required) > 1 or \
            params[0].kind not in (params[0].POSITIONAL_ONLY,
                                   params[0].POSITIONAL_OR_KEYWORD):
        raise TypeError(f"rpc function {name} must take one argument, "
                        f"the request")
    request_type = hints.get(params[0].name)
    if not (isinstance(request_type, type) and
            hasattr(request_type, "__dataclass_fields__")):
        raise TypeError(f"rpc function {name}: annotate its argument with "
                        f"a dataclass (got {request_type!r})")
    if "return" not in hints:
        raise TypeError(f"rpc function {name}: annotate its return type")
    return request_type, hints["return"]


_NOTHING = object()


def _without_files(tp: Any) -> tuple[bool, Any]:
    """Whether `tp` allows a FileResponse, and `tp` without it
    (`_NOTHING` when it is FileResponse alone)."""
    if tp is FileResponse:
        return True, _NOTHING
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        args = typing.get_args(tp)
        rest = tuple(arg for arg in args if arg is not FileResponse)
        if len(rest) < len(args):
            return True, rest[0] if len(rest) == 1 else Union[rest]
    return False, tp


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
