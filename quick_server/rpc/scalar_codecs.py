"""Codecs of single JSON values: Any, the scalars (str, int, float, bool,
None), values sent as formatted strings (datetime, date, UUID), Enum and
Literal; `SCALARS` maps each plain type to its codec."""
from __future__ import annotations

import datetime
import enum
import json
import math
import uuid
from typing import Any, Callable

from .codec import MISSING, Codec, wrong
from .schema_defs import Definitions, own_doc


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
        raise wrong(self, value)

    def encode(self, value: Any) -> Any:
        if isinstance(value, str):
            return value
        raise wrong(self, value, python=True)


class BoolCodec(_Scalar):
    name, json_type = "bool", "boolean"

    def decode(self, value: Any) -> Any:
        if value is True or value is False:
            return value
        raise wrong(self, value)

    encode = decode


class IntCodec(_Scalar):
    name, json_type = "int", "integer"

    def decode(self, value: Any) -> Any:
        kind = type(value)
        if kind is int and value.bit_length() <= MAX_INT_BITS:
            return value
        if kind is float and value.is_integer():
            return int(value)
        raise wrong(self, value)

    def encode(self, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return int(value)
        raise wrong(self, value, python=True)


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
        raise wrong(self, value)

    def encode(self, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, float) and math.isfinite(value):
            return float(value)
        raise wrong(self, value, python=True)

    @property
    def expected(self) -> str:
        return "float (a finite number)"


class NoneCodec(_Scalar):
    name, json_type = "None", "null"

    def decode(self, value: Any) -> Any:
        if value is None:
            return None
        raise wrong(self, value)

    encode = decode


class TextFormCodec(Codec):
    """A value sent as a string of a JSON Schema `format` (ISO 8601 dates
    and times, UUIDs)."""

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
        raise wrong(self, value)

    def encode(self, value: Any) -> Any:
        if isinstance(value, self.cls) and not (
                self.exclude and isinstance(value, self.exclude)):
            return value.isoformat() if hasattr(value, "isoformat") \
                else str(value)
        raise wrong(self, value, python=True)

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
        return MISSING
    return table.get(_json_key(value), MISSING)



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
        if member is MISSING:
            raise wrong(self, value)
        return member

    def encode(self, value: Any) -> Any:
        if isinstance(value, self.cls):
            return value.value
        raise wrong(self, value, python=True)

    def schema(self, defs: Definitions) -> dict[str, Any]:
        def build() -> dict[str, Any]:
            res: dict[str, Any] = {"title": self.name, "enum": self.values}
            doc = own_doc(self.cls)
            if doc:
                res["description"] = doc
            # what JSON Schema loses: the members' names, and an Enum that
            # is also an int or a str (IntEnum, StrEnum)
            res["x-python-enum-names"] = [member.name for member in self.cls]
            for base in (int, str):
                if issubclass(self.cls, base):
                    res["x-python-enum-type"] = base.__name__
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
        if found is MISSING:
            raise wrong(self, value)
        return found

    def encode(self, value: Any) -> Any:
        plain = value.value if isinstance(value, enum.Enum) else value
        found = _find(self.choices, plain)
        if found is MISSING or type(found) is not type(value):
            raise wrong(self, value, python=True)
        return plain

    def schema(self, defs: Definitions) -> dict[str, Any]:
        if len(self.json_values) == 1:
            return {"const": self.json_values[0]}
        return {"enum": list(self.json_values)}


SCALARS: dict[Any, Codec] = {
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
