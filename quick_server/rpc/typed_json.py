"""Typed JSON: JSON values checked into Python types and back, and the
JSON Schema (2020-12) of those types; shared by `@server.rpc` and
`rpc_call`.

`codec_of(tp)` compiles a type once into a `Codec`: `decode` turns a parsed
JSON value into an instance of the type, `encode` turns an instance back
into plain JSON values, both raising `ValidationError` (which names the
path, like `items[2].name`, and the expected type). `json_schema(tp)` is
the type's schema document.

Types: dataclasses (nested, recursive), str, int, float, bool, None,
Any / object, list[T], tuple[T, ...], tuple[A, B], dict[str, T], unions
(Optional[T], T | None), Literal, Enum, datetime, date, UUID, NewType and
Annotated. Strict, as JSON Schema reads them: a bool is not an int, an int
is a float, a float is an int only when it is whole (1.0), NaN and the
infinities are no number; an object may not carry fields its dataclass
does not have.

Here types are compiled; the codecs are in `scalar_codecs.py` and
`compound_codecs.py`, what they share in `codec.py` and `schema_defs.py`."""
from __future__ import annotations

import dataclasses
import enum
import threading
import types
import typing
from typing import Any, Literal, Union

from .codec import MISSING, Codec
from .compound_codecs import (DataclassCodec, DictCodec, Field,
                              FixedTupleCodec, ListCodec, NewTypeCodec,
                              OptionalCodec, TupleCodec, UnionCodec)
from .scalar_codecs import SCALARS, EnumCodec, LiteralCodec
from .schema_defs import DIALECT, Definitions


def json_schema(tp: Any) -> dict[str, Any]:
    """The JSON Schema document (2020-12) of type `tp`."""
    defs = Definitions()
    root = codec_of(tp).schema(defs)
    doc: dict[str, Any] = {"$schema": DIALECT, **root}
    if defs.defs:
        doc["$defs"] = defs.defs
    return doc


_CODECS: dict[Any, Codec] = {}
_COMPILING = threading.Lock()


def codec_of(tp: Any) -> Codec:
    """The codec of type `tp`, compiled once; TypeError for a type that
    has no JSON form (the message names the field)."""
    try:
        return _CODECS[tp]
    except KeyError:
        pass
    except TypeError:  # an unhashable annotation
        return _Compiler().compile(tp)
    with _COMPILING:
        compiler = _Compiler()
        codec = compiler.compile(tp)
        _CODECS.update(compiler.dataclasses)
        _CODECS[tp] = codec
        return codec


class _Compiler:
    """Turns one type (and the types inside it) into codecs."""

    def __init__(self) -> None:
        # dataclasses compiled in this run, also while their fields are
        # compiled (a dataclass may contain itself)
        self.dataclasses: dict[type, DataclassCodec] = {}

    def compile(self, tp: Any) -> Codec:
        scalar = SCALARS.get(tp) if _hashable(tp) else None
        if scalar is not None:
            return scalar
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return self._dataclass(tp)
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return _CODECS.get(tp) or EnumCodec(tp)
        if hasattr(tp, "__supertype__"):  # NewType
            return NewTypeCodec(getattr(tp, "__name__", "NewType"),
                                self.compile(tp.__supertype__))
        return self._generic(tp)

    def _generic(self, tp: Any) -> Codec:
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin is typing.Annotated:
            return self.compile(args[0])
        if origin is Literal:
            return LiteralCodec(args)
        if origin is Union or origin is types.UnionType:
            return self._union(args)
        if tp is list or origin is list:
            return ListCodec(self.compile(args[0] if args else Any))
        if tp is tuple or origin is tuple:
            if not args or (len(args) == 2 and args[1] is Ellipsis):
                return TupleCodec(self.compile(args[0] if args else Any))
            return FixedTupleCodec([self.compile(arg) for arg in args])
        if tp is dict or origin is dict:
            if args and args[0] is not str:
                raise TypeError(f"dict keys must be str in JSON, not "
                                f"{_type_name(args[0])}")
            return DictCodec(self.compile(args[1] if args else Any))
        raise TypeError(f"{_type_name(tp)} has no JSON form here (use "
                        f"dataclasses, str, int, float, bool, list, tuple, "
                        f"dict[str, ...], Optional, Literal, Enum, datetime,"
                        f" date, UUID or Any)")

    def _union(self, args: tuple[Any, ...]) -> Codec:
        others = [arg for arg in args if arg is not type(None)]
        if len(others) == 1 and len(args) == 2:
            return OptionalCodec(self.compile(others[0]))
        return UnionCodec([self.compile(arg) for arg in args])

    def _dataclass(self, cls: type) -> Codec:
        known = _CODECS.get(cls) or self.dataclasses.get(cls)
        if known is not None:
            return known
        codec = DataclassCodec(cls)
        self.dataclasses[cls] = codec
        try:
            hints = typing.get_type_hints(cls, include_extras=True)
        except Exception as err:  # pylint: disable=broad-except
            raise TypeError(f"cannot resolve the annotations of "
                            f"{cls.__qualname__}: {err}") from None
        fields = []
        for field in dataclasses.fields(cls):
            if not field.init:
                continue
            try:
                field_codec = self.compile(hints[field.name])
            except TypeError as err:
                raise TypeError(f"{cls.__qualname__}.{field.name}: {err}"
                                ) from None
            has_default = field.default is not dataclasses.MISSING
            factory: Any = field.default_factory
            has_factory = factory is not dataclasses.MISSING
            fields.append(Field(
                field.name, field_codec, not (has_default or has_factory),
                field.default if has_default else MISSING,
                field.metadata.get("description"),
                factory if has_factory else None))
        codec.set_fields(fields)
        return codec


def _hashable(tp: Any) -> bool:
    try:
        hash(tp)
    except TypeError:
        return False
    return True


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__qualname__
    return repr(tp).replace("typing.", "")
