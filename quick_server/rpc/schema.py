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
does not have."""
from __future__ import annotations

import dataclasses
import datetime
import difflib
import enum
import json
import math
import re
import reprlib
import threading
import types
import typing
import uuid
from typing import Any, Callable, Literal, Union

DIALECT = "https://json-schema.org/draft/2020-12/schema"


class ValidationError(ValueError):
    """A value that does not fit its type: `path` locates it (`items[2].name`,
    empty for the value itself), `expected` names the type wanted and
    `problem` says what is wrong."""

    def __init__(self, expected: str, problem: str) -> None:
        super().__init__(problem)
        self.expected = expected
        self.problem = problem
        self._segments: list[str] = []  # innermost first

    def inside(self, segment: str) -> ValidationError:
        """Records that the value sat at `segment` (`.name`, `[2]`) of its
        container; returns the error, to be raised again."""
        self._segments.append(segment)
        return self

    @property
    def path(self) -> str:
        return "".join(reversed(self._segments)).removeprefix(".")

    def describe(self, root: str) -> str:
        """The message, with `root` naming the value at the top."""
        return f"{self.path or root}: {self.problem}"

    def __str__(self) -> str:
        return self.describe("value")


def _shown(value: Any) -> str:
    """A short description of a JSON value for an error message."""
    if value is None:
        return "null"
    if value is True or value is False:
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, (int, float)):
        text = repr(value)
        return "number " + (text if len(text) <= 40 else text[:40] + "...")
    if isinstance(value, str):
        shown = json.dumps(value[:40])
        return f"string {shown}{'...' if len(value) > 40 else ''}"
    if isinstance(value, list):
        return f"array of {len(value)} item{'' if len(value) == 1 else 's'}"
    if isinstance(value, dict):
        return "object"
    return type(value).__qualname__


def _wrong(codec: Codec, value: Any, python: bool = False
           ) -> ValidationError:
    """The value is not of the codec's type (`python`: a Python value on
    its way out, described as Python, not as JSON)."""
    shown = f"{type(value).__qualname__} {reprlib.repr(value)}" if python \
        else _shown(value)
    return ValidationError(codec.expected,
                           f"expected {codec.expected}, got {shown}")


class Codec:
    """How values of one type travel as JSON."""

    name = "?"  # the type as written in Python

    @property
    def expected(self) -> str:
        """The type as an error message names it."""
        return self.name

    def decode(self, value: Any) -> Any:
        """A parsed JSON value as an instance of the type."""
        raise NotImplementedError

    def encode(self, value: Any) -> Any:
        """An instance of the type as plain JSON values."""
        raise NotImplementedError

    def schema(self, defs: Definitions) -> dict[str, Any]:
        """The JSON Schema of the type; named types go into `defs`."""
        raise NotImplementedError


class AnyCodec(Codec):
    name = "Any"

    def decode(self, value: Any) -> Any:
        return value

    def encode(self, value: Any) -> Any:
        return value

    def schema(self, defs: Definitions) -> dict[str, Any]:
        return {}


class _Scalar(Codec):
    json_type = ""

    def schema(self, defs: Definitions) -> dict[str, Any]:
        return {"type": self.json_type}


class StrCodec(_Scalar):
    name, json_type = "str", "string"

    def decode(self, value: Any) -> Any:
        if type(value) is str:
            return value
        raise _wrong(self, value)

    def encode(self, value: Any) -> Any:
        if isinstance(value, str):
            return value
        raise _wrong(self, value, python=True)


class BoolCodec(_Scalar):
    name, json_type = "bool", "boolean"

    def decode(self, value: Any) -> Any:
        if value is True or value is False:
            return value
        raise _wrong(self, value)

    encode = decode


class IntCodec(_Scalar):
    name, json_type = "int", "integer"

    def decode(self, value: Any) -> Any:
        kind = type(value)
        if kind is int and value.bit_length() <= MAX_INT_BITS:
            return value
        if kind is float and value.is_integer():
            return int(value)
        raise _wrong(self, value)

    def encode(self, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return int(value)
        raise _wrong(self, value, python=True)


MAX_INT_BITS = 3000  # about 900 digits: what a client sends is bounded, so
# that the handler's arithmetic on it stays printable (Python refuses to
# write an int of more than 4300 digits)


class FloatCodec(_Scalar):
    name, json_type = "float", "number"

    def decode(self, value: Any) -> Any:
        kind = type(value)
        if kind is float and math.isfinite(value):
            return value
        if kind is int:
            try:
                return float(value)
            except OverflowError:
                pass
        raise _wrong(self, value)

    def encode(self, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, float) and math.isfinite(value):
            return float(value)
        raise _wrong(self, value, python=True)

    @property
    def expected(self) -> str:
        return "float (a finite number)"


class NoneCodec(_Scalar):
    name, json_type = "None", "null"

    def decode(self, value: Any) -> Any:
        if value is None:
            return None
        raise _wrong(self, value)

    encode = decode


class TextFormCodec(_Scalar):
    """A value sent as a string of a JSON Schema `format` (ISO 8601 dates
    and times, UUIDs)."""
    json_type = "string"

    def __init__(self, cls: type, fmt: str, parse: Callable[[str], Any],
                 exclude: type | None = None) -> None:
        self.cls, self.format, self.parse = cls, fmt, parse
        self.exclude = exclude  # a subclass that is another type (datetime)
        self.name = cls.__name__

    @property
    def expected(self) -> str:
        return f"{self.name} (a string of format {self.format})"

    def decode(self, value: Any) -> Any:
        if type(value) is str:
            try:
                return self.parse(value)
            except ValueError:
                pass
        raise _wrong(self, value)

    def encode(self, value: Any) -> Any:
        if isinstance(value, self.cls) and not (
                self.exclude and isinstance(value, self.exclude)):
            return value.isoformat() if hasattr(value, "isoformat") \
                else str(value)
        raise _wrong(self, value, python=True)

    def schema(self, defs: Definitions) -> dict[str, Any]:
        return {"type": "string", "format": self.format}


def _parse_datetime(text: str) -> datetime.datetime:
    if text.endswith(("Z", "z")):  # fromisoformat knows "Z" only from 3.11
        text = text[:-1] + "+00:00"
    return datetime.datetime.fromisoformat(text)


def _json_key(value: Any) -> tuple[bool, Any]:
    """A lookup key for a JSON scalar that keeps `true` apart from 1."""
    return (isinstance(value, bool), value)


def _find(table: dict[tuple[bool, Any], Any], value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return _MISSING
    return table.get(_json_key(value), _MISSING)


_MISSING = object()


def _short_list(values: list[Any]) -> str:
    shown = ", ".join(json.dumps(v) for v in values[:10])
    return shown + (", ..." if len(values) > 10 else "")


class EnumCodec(Codec):
    """An Enum travels as its value."""

    def __init__(self, cls: type[enum.Enum]) -> None:
        self.cls = cls
        self.name = cls.__name__
        self.values = [member.value for member in cls]
        for value in self.values:
            if not isinstance(value, (str, int, float, bool)) and \
                    value is not None:
                raise TypeError(f"enum {cls.__name__}: the value {value!r} "
                                f"is not a JSON string, number or boolean")
        self.members = {_json_key(m.value): m for m in cls}

    @property
    def expected(self) -> str:
        return f"{self.name} (one of {_short_list(self.values)})"

    def decode(self, value: Any) -> Any:
        member = _find(self.members, value)
        if member is _MISSING:
            raise _wrong(self, value)
        return member

    def encode(self, value: Any) -> Any:
        if isinstance(value, self.cls):
            return value.value
        raise _wrong(self, value, python=True)

    def schema(self, defs: Definitions) -> dict[str, Any]:
        def build() -> dict[str, Any]:
            res: dict[str, Any] = {"title": self.name, "enum": self.values}
            doc = _own_doc(self.cls)
            if doc:
                res["description"] = doc
            return res
        return defs.ref(self.cls, build)


class LiteralCodec(Codec):
    def __init__(self, values: tuple[Any, ...]) -> None:
        self.choices: dict[tuple[bool, Any], Any] = {}
        for value in values:
            plain = value.value if isinstance(value, enum.Enum) else value
            if not isinstance(plain, (str, int, float, bool)) and \
                    plain is not None:
                raise TypeError(f"Literal value {value!r} is not a JSON "
                                f"string, number, boolean or null")
            self.choices[_json_key(plain)] = value
        self.json_values = [key[1] for key in self.choices]
        self.name = f"Literal[{', '.join(repr(v) for v in values)}]"

    @property
    def expected(self) -> str:
        return f"one of {_short_list(self.json_values)}"

    def decode(self, value: Any) -> Any:
        found = _find(self.choices, value)
        if found is _MISSING:
            raise _wrong(self, value)
        return found

    def encode(self, value: Any) -> Any:
        plain = value.value if isinstance(value, enum.Enum) else value
        found = _find(self.choices, plain)
        if found is _MISSING or type(found) is not type(value):
            raise _wrong(self, value, python=True)
        return plain

    def schema(self, defs: Definitions) -> dict[str, Any]:
        if len(self.json_values) == 1:
            return {"const": self.json_values[0]}
        return {"enum": list(self.json_values)}


class OptionalCodec(Codec):
    """`T | None`: null, or a T (whose errors keep their depth)."""

    def __init__(self, inner: Codec) -> None:
        self.inner = inner
        self.name = f"{inner.name} | None"

    @property
    def expected(self) -> str:
        return f"{self.inner.expected} or null"

    def decode(self, value: Any) -> Any:
        if value is None:
            return None
        try:
            return self.inner.decode(value)
        except ValidationError as err:
            raise self._widened(err, value) from None

    def encode(self, value: Any) -> Any:
        if value is None:
            return None
        try:
            return self.inner.encode(value)
        except ValidationError as err:
            raise self._widened(err, value) from None

    def _widened(self, err: ValidationError, value: Any) -> ValidationError:
        """An error about the value itself names `T or null`."""
        if err.path:
            return err
        return ValidationError(
            self.expected, err.problem.replace(
                f"expected {self.inner.expected}",
                f"expected {self.expected}", 1))

    def schema(self, defs: Definitions) -> dict[str, Any]:
        return {"anyOf": [self.inner.schema(defs), {"type": "null"}]}


class UnionCodec(Codec):
    """The first alternative that accepts the value, in the order
    written."""

    def __init__(self, alternatives: list[Codec]) -> None:
        self.alternatives = alternatives
        self.name = " | ".join(alt.name for alt in alternatives)

    def decode(self, value: Any) -> Any:
        return self._first(value, [a.decode for a in self.alternatives])

    def encode(self, value: Any) -> Any:
        return self._first(value, [a.encode for a in self.alternatives])

    def _first(self, value: Any, ways: list[Callable[[Any], Any]]) -> Any:
        errors = []
        for way in ways:
            try:
                return way(value)
            except ValidationError as err:
                errors.append(err)
        # the alternative that got deepest into the value says most
        deepest = max(errors, key=lambda err: len(err._segments))
        if deepest.path:
            raise deepest
        raise _wrong(self, value)

    def schema(self, defs: Definitions) -> dict[str, Any]:
        return {"anyOf": [alt.schema(defs) for alt in self.alternatives]}


def _each(convert: Callable[[Any], Any], items: Any, index: bool) -> None:
    """Finds the item that `convert` refuses and raises its error with
    the item's place (only called once converting all of them failed)."""
    pairs = enumerate(items) if index else items.items()
    for key, item in pairs:
        try:
            convert(item)
        except ValidationError as err:
            raise err.inside(f"[{key}]" if index
                             else f"[{json.dumps(key)}]") from None


class ListCodec(Codec):
    def __init__(self, item: Codec, name: str = "list") -> None:
        self.item = item
        self.name = f"{name}[{item.name}]"

    def decode(self, value: Any) -> Any:
        if type(value) is not list:
            raise _wrong(self, value)
        decode = self.item.decode
        try:
            return [decode(item) for item in value]
        except ValidationError:
            _each(decode, value, True)
            raise

    def encode(self, value: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            raise _wrong(self, value, python=True)
        encode = self.item.encode
        try:
            return [encode(item) for item in value]
        except ValidationError:
            _each(encode, value, True)
            raise

    def schema(self, defs: Definitions) -> dict[str, Any]:
        return {"type": "array", "items": self.item.schema(defs)}


class TupleCodec(ListCodec):
    """`tuple[T, ...]`: an array of T, as a tuple."""

    def __init__(self, item: Codec) -> None:
        super().__init__(item, "tuple")
        self.name = f"tuple[{item.name}, ...]"

    def decode(self, value: Any) -> Any:
        return tuple(super().decode(value))


class FixedTupleCodec(Codec):
    """`tuple[A, B]`: an array of exactly those items."""

    def __init__(self, items: list[Codec]) -> None:
        self.items = items
        self.name = f"tuple[{', '.join(item.name for item in items)}]"

    def _convert(self, value: Any, kind: tuple[type, ...],
                 decoding: bool) -> list[Any]:
        items: Any = value  # not narrowed to `object` by the isinstance
        if not isinstance(value, kind) or len(items) != len(self.items):
            raise _wrong(self, value, python=not decoding)
        res = []
        for index, (codec, item) in enumerate(zip(self.items, items)):
            try:
                res.append(codec.decode(item) if decoding
                           else codec.encode(item))
            except ValidationError as err:
                raise err.inside(f"[{index}]") from None
        return res

    def decode(self, value: Any) -> Any:
        return tuple(self._convert(value, (list,), True))

    def encode(self, value: Any) -> Any:
        return self._convert(value, (list, tuple), False)

    def schema(self, defs: Definitions) -> dict[str, Any]:
        return {"type": "array",
                "prefixItems": [item.schema(defs) for item in self.items],
                "items": False, "minItems": len(self.items),
                "maxItems": len(self.items)}


class DictCodec(Codec):
    """`dict[str, T]`: an object of T values."""

    def __init__(self, value: Codec) -> None:
        self.value = value
        self.name = f"dict[str, {value.name}]"

    def decode(self, value: Any) -> Any:
        if type(value) is not dict:
            raise _wrong(self, value)
        decode = self.value.decode
        try:
            return {key: decode(item) for key, item in value.items()}
        except ValidationError:
            _each(decode, value, False)
            raise

    def encode(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise _wrong(self, value, python=True)
        for key in value:
            if not isinstance(key, str):
                raise ValidationError("str", f"expected str keys, got "
                                             f"{_shown(key)}")
        encode = self.value.encode
        try:
            return {key: encode(item) for key, item in value.items()}
        except ValidationError:
            _each(encode, value, False)
            raise

    def schema(self, defs: Definitions) -> dict[str, Any]:
        return {"type": "object",
                "additionalProperties": self.value.schema(defs)}


@dataclasses.dataclass
class _Field:
    name: str
    codec: Codec
    required: bool
    default: Any
    description: str | None


class DataclassCodec(Codec):
    """A dataclass travels as an object of its `init` fields; fields with
    defaults may be left out, others may not be added. A `__post_init__`
    that raises ValueError refuses the object with its message."""

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.name = cls.__name__
        self.fields: list[_Field] = []  # filled in by the compiler
        self.names: frozenset[str] = frozenset()
        self._decoders: list[tuple[str, Callable[[Any], Any], bool]] = []

    def set_fields(self, fields: list[_Field]) -> None:
        self.fields = fields
        self.names = frozenset(f.name for f in fields)
        self._decoders = [(f.name, f.codec.decode, f.required)
                          for f in fields]

    @property
    def expected(self) -> str:
        return f"{self.name} (an object)"

    def decode(self, value: Any) -> Any:
        if type(value) is not dict:
            raise _wrong(self, value)
        if not value.keys() <= self.names:
            raise self._unknown(value)
        kwargs = {}
        for name, decode, required in self._decoders:
            if name in value:
                try:
                    kwargs[name] = decode(value[name])
                except ValidationError as err:
                    raise err.inside("." + name) from None
            elif required:
                raise self._missing(name)
        try:
            return self.cls(**kwargs)
        except ValidationError:
            raise
        except ValueError as err:  # refused by __post_init__
            raise ValidationError(self.expected, str(err)) from None

    def _unknown(self, value: dict[str, Any]) -> ValidationError:
        name = min(key for key in value if key not in self.names)
        close = difflib.get_close_matches(name, sorted(self.names), 1)
        hint = f"; did you mean {close[0]!r}?" if close else \
            f"; {self.name} has {', '.join(sorted(self.names)) or 'none'}"
        return ValidationError("no such field", "unknown field" + hint) \
            .inside("." + name)

    def _missing(self, name: str) -> ValidationError:
        codec = next(f.codec for f in self.fields if f.name == name)
        return ValidationError(codec.expected, f"required field missing "
                                               f"(expected {codec.expected})"
                               ).inside("." + name)

    def encode(self, value: Any) -> Any:
        if not isinstance(value, self.cls):
            raise _wrong(self, value, python=True)
        res = {}
        for field in self.fields:
            try:
                res[field.name] = field.codec.encode(getattr(value,
                                                             field.name))
            except ValidationError as err:
                raise err.inside("." + field.name) from None
        return res

    def schema(self, defs: Definitions) -> dict[str, Any]:
        return defs.ref(self.cls, lambda: self._object_schema(defs))

    def _object_schema(self, defs: Definitions) -> dict[str, Any]:
        res: dict[str, Any] = {"title": self.name, "type": "object"}
        doc = _own_doc(self.cls)
        if doc:
            res["description"] = doc
        properties = {}
        for field in self.fields:
            prop = dict(field.codec.schema(defs))
            if field.description:
                prop["description"] = field.description
            if field.default is not _MISSING:
                try:
                    prop["default"] = field.codec.encode(field.default)
                except ValidationError:
                    pass
            properties[field.name] = prop
        res["properties"] = properties
        res["required"] = [f.name for f in self.fields if f.required]
        res["additionalProperties"] = False
        return res


def _own_doc(cls: type) -> str | None:
    """A class's docstring, unless it is the one dataclass or Enum made."""
    doc = cls.__doc__
    if not doc or doc.startswith(cls.__name__ + "(") or \
            doc == "An enumeration.":
        return None
    return " ".join(doc.split())


class Definitions:
    """The `$defs` of one schema document: one entry per named type
    (dataclass, Enum), named after the class (qualified when two classes
    share a name)."""

    def __init__(self) -> None:
        self.defs: dict[str, dict[str, Any]] = {}
        self._names: dict[type, str] = {}

    def ref(self, cls: type, build: Callable[[], dict[str, Any]]
            ) -> dict[str, Any]:
        name = self._names.get(cls)
        if name is None:
            name = self._free_name(cls)
            self._names[cls] = name
            self.defs[name] = {}  # taken while built: types may recurse
            self.defs[name] = build()
        return {"$ref": f"#/$defs/{name}"}

    def _free_name(self, cls: type) -> str:
        for name in (cls.__name__, f"{cls.__module__}.{cls.__qualname__}"):
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
            if name not in self.defs:
                return name
        count = 2
        while f"{name}_{count}" in self.defs:
            count += 1
        return f"{name}_{count}"


def json_schema(tp: Any) -> dict[str, Any]:
    """The JSON Schema document (2020-12) of type `tp`."""
    defs = Definitions()
    root = codec_of(tp).schema(defs)
    doc: dict[str, Any] = {"$schema": DIALECT, **root}
    if defs.defs:
        doc["$defs"] = defs.defs
    return doc


# -- compiling types -----------------------------------------------------------

_SCALARS: dict[Any, Codec] = {
    str: StrCodec(), int: IntCodec(), float: FloatCodec(),
    bool: BoolCodec(), type(None): NoneCodec(), None: NoneCodec(),
    Any: AnyCodec(), object: AnyCodec(),
    datetime.datetime: TextFormCodec(datetime.datetime, "date-time",
                                     _parse_datetime),
    datetime.date: TextFormCodec(datetime.date, "date",
                                 datetime.date.fromisoformat,
                                 exclude=datetime.datetime),
    uuid.UUID: TextFormCodec(uuid.UUID, "uuid", uuid.UUID),
}
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
        scalar = _SCALARS.get(tp) if _hashable(tp) else None
        if scalar is not None:
            return scalar
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return self._dataclass(tp)
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return _CODECS.get(tp) or EnumCodec(tp)
        if hasattr(tp, "__supertype__"):  # NewType
            return self.compile(tp.__supertype__)
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
            has_factory = field.default_factory is not dataclasses.MISSING
            fields.append(_Field(
                field.name, field_codec, not (has_default or has_factory),
                field.default if has_default else _MISSING,
                field.metadata.get("description")))
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
