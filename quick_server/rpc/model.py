"""The contract model: one typed route of a server as data, read by
everything that checks, describes or calls it (the rpc and typed worker
routes, their JSON Schema, the OpenAPI document, the contracts page and
the generated clients).

A `TypedRoute` is the function's request type (a dataclass) and response
type, compiled into codecs (`typed_json`), with its kind, path, name and
description. `kind` says how it is called: "rpc" (POST the request,
the answer is the response) or "worker" (the worker protocol: the request
is the payload of a `start`, the response is the job's result). The
schemas of a route come from its codecs; `walk` visits the codecs inside
a type for a generator that reads them directly."""
from __future__ import annotations

import inspect
import keyword
import types
import typing
from typing import Any, Callable, Iterator, Union

from ..http.files import FileResponse
from .codec import Codec, ValidationError
from .compound_codecs import (DataclassCodec, DictCodec, FixedTupleCodec,
                              ListCodec, NewTypeCodec, OptionalCodec,
                              UnionCodec)
from .schema_defs import DIALECT, Definitions
from .typed_json import codec_of

RPC, WORKER = "rpc", "worker"
KINDS = (RPC, WORKER)

FILE_SCHEMA = {"title": "file", "description": "a file download: the "
               "answer's body is the file, not JSON (Content-Disposition "
               "names it)"}


class TypedRoute:
    """One typed route: `fn(request: Req) -> Resp` at `path`.

    - `kind`: "rpc" or "worker" (module docstring);
    - `name`: the function's name (or the one given at registration): the
      OpenAPI `operationId` and the name of the generated clients'
      functions; an identifier, unique among a server's typed routes;
    - `description`: the function's docstring (None without one);
    - `request_type`, `request`: the request dataclass and its codec;
    - `response_type`, `response`: the response type without
      `FileResponse`, and its codec (both None when the answer is only
      ever a file);
    - `files`: whether the answer may be a file (`FileResponse` in the
      return annotation).

    TypeError when `fn` does not take one dataclass argument, has no
    return annotation, or uses a type with no JSON form."""

    kind = RPC
    file_schema: dict[str, Any] = FILE_SCHEMA  # a file answer's schema

    def __init__(self, path: str, fn: Callable[..., Any],
                 name: str | None = None) -> None:
        self.path = path
        self.fn = fn
        qualname = getattr(fn, "__qualname__", repr(fn))
        self.request_type, response_type = _signature(fn, qualname,
                                                      self.kind)
        self.name = route_name(fn, name, f"{self.kind} {path}")
        self.files, rest = _without_files(response_type)
        self.response_type: Any = None if rest is _NOTHING else rest
        try:
            self.request: Codec = codec_of(self.request_type)
            self.response: Codec | None = None if rest is _NOTHING \
                else codec_of(rest)
        except TypeError as err:
            raise TypeError(f"{self.kind} {path} ({qualname}): {err}"
                            ) from None
        self.description = inspect.getdoc(fn)
        self._document = self._own_document()

    # -- schemas -----------------------------------------------------------

    def response_schema(self, defs: Definitions) -> dict[str, Any]:
        """The answer's schema, its named types in `defs` (a file answer
        is `file_schema`, an alternative when JSON may come too)."""
        parts = [] if self.response is None else [self.response.schema(defs)]
        if self.files:
            parts.append(dict(self.file_schema))
        return parts[0] if len(parts) == 1 else {"anyOf": parts}

    def entry(self, defs: Definitions) -> dict[str, Any]:
        """The route in a document of many (`contracts_document`): kind,
        name, description, request and response schemas."""
        res: dict[str, Any] = {"kind": self.kind, "name": self.name,
                               "request": self.request.schema(defs),
                               "response": self.response_schema(defs)}
        if self.description:
            res["description"] = self.description
        return res

    def _own_document(self) -> dict[str, Any]:
        entry = self.entry(Definitions())  # names as in a document alone
        for part in ("request", "response"):
            defs = Definitions()
            schema = self.request.schema(defs) if part == "request" \
                else self.response_schema(defs)
            entry[part] = {"$schema": DIALECT, **schema}
            if defs.defs:
                entry[part]["$defs"] = defs.defs
        return entry

    def describe(self, req: Any, args: Any) -> Any:
        """The `GET path` route: the contract, its request and response
        each a JSON Schema document of its own."""
        return self._document

    # -- answers -----------------------------------------------------------

    def encode_answer(self, value: Any) -> Any:
        """`value` as JSON values of the response type; ValidationError
        when it does not fit (a route that only answers files has none)."""
        if self.response is None:
            raise ValidationError("FileResponse", f"expected FileResponse, "
                                  f"got {type(value).__qualname__}")
        return self.response.encode(value)

    def wrong_answer(self, err: ValidationError, what: str = "answer"
                     ) -> str:
        """What the function must return instead of a value that does not
        fit (`err`): a dict where a dataclass belongs is the usual
        mistake, named as such."""
        name = getattr(self.fn, "__qualname__", "?").rpartition(
            "<locals>.")[2]
        told = err.describe(what)
        cls = err.expected.removesuffix(" (an object)")
        where = f"{self.kind} {self.path}"
        if cls == err.expected or \
                not err.problem.startswith(f"expected {err.expected}, got "
                                           f"dict"):
            return f"{where}: the {what} of {name} is not its declared " \
                   f"type: {told}"
        an = "an" if cls[:1].lower() in "aeiou" else "a"
        if not err.path:
            return f"{where}: {name} returned a dict: return {an} {cls} " \
                   f"instance, not a dict ({told})"
        return f"{where}: {name} returned a dict at {err.path}: put {an} " \
               f"{cls} instance there, not a dict ({told})"


def contracts_document(routes: list[TypedRoute]) -> dict[str, Any]:
    """Every route in one JSON Schema document: `contracts` maps each
    path to its `entry`, whose schemas share `$defs`."""
    defs = Definitions()
    entries = {route.path: route.entry(defs) for route in routes}
    doc: dict[str, Any] = {"$schema": DIALECT, "contracts": entries}
    if defs.defs:
        doc["$defs"] = defs.defs
    return doc


def check_names(route: TypedRoute, routes: list[TypedRoute]) -> None:
    """ValueError when another of a server's typed routes has `route`'s
    name (names must be unique: the clients' functions are named so)."""
    for other in routes:
        if other.name == route.name and other.path != route.path:
            raise ValueError(
                f"{route.kind} {route.path}: the name {route.name!r} is "
                f"taken by {other.kind} {other.path} (it names the "
                f"operationId and the clients' functions): rename the "
                f"function or pass name=\"...\" to the decorator")


def walk(codec: Codec) -> Iterator[Codec]:
    """`codec` and every codec inside it, each once (a recursive
    dataclass is visited once), outer first."""
    seen: set[int] = set()
    todo = [codec]
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        todo.extend(reversed(inner_codecs(item)))


def inner_codecs(codec: Codec) -> list[Codec]:
    """The codecs directly inside `codec` (its items, fields,
    alternatives)."""
    if isinstance(codec, DataclassCodec):
        return [field.codec for field in codec.fields]
    if isinstance(codec, (OptionalCodec, NewTypeCodec)):
        return [codec.inner]
    if isinstance(codec, UnionCodec):
        return list(codec.alternatives)
    if isinstance(codec, ListCodec):
        return [codec.item]
    if isinstance(codec, FixedTupleCodec):
        return list(codec.items)
    if isinstance(codec, DictCodec):
        return [codec.value]
    return []


def route_name(fn: Callable[..., Any], name: str | None, where: str) -> str:
    """The route's name: `name`, else the function's; ValueError when it
    is no identifier (or a Python keyword)."""
    given = name if name is not None else getattr(fn, "__name__", None)
    if not isinstance(given, str) or not given.isidentifier() or \
            keyword.iskeyword(given):
        raise ValueError(f"{where}: {given!r} cannot name it (the "
                         f"clients' functions are named so): pass "
                         f"name=\"...\", an identifier")
    return given


def _signature(fn: Callable[..., Any], name: str, kind: str
               ) -> tuple[Any, Any]:
    """The request and response types of a typed route's function."""
    what = f"{kind} function {name}"
    try:
        params = list(inspect.signature(fn).parameters.values())
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as err:  # pylint: disable=broad-except
        raise TypeError(f"{what}: cannot read its annotations: {err}"
                        ) from None
    required = [p for p in params if p.default is inspect.Parameter.empty
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if len(params) < 1 or len(required) > 1 or \
            params[0].kind not in (params[0].POSITIONAL_ONLY,
                                   params[0].POSITIONAL_OR_KEYWORD):
        raise TypeError(f"{what} must take one argument, the request")
    request_type = hints.get(params[0].name)
    if not (isinstance(request_type, type) and
            hasattr(request_type, "__dataclass_fields__")):
        raise TypeError(f"{what}: annotate its argument with a dataclass "
                        f"(got {request_type!r})")
    if "return" not in hints:
        raise TypeError(f"{what}: annotate its return type")
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
