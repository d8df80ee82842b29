"""Codecs of values made of values: `T | None` and other unions, lists,
tuples, `dict[str, T]` and dataclasses; an error inside names the item or
field where it sits."""
from __future__ import annotations

import dataclasses
import difflib
import json
from typing import Any, Callable

from .codec import (MISSING, Codec, ValidationError, describe_json,
                    wrong)
from .schema_defs import Definitions, own_doc


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
        raise wrong(self, value)

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
    def __init__(self, item: Codec) -> None:
        self.item = item
        self.name = f"list[{item.name}]"

    def decode(self, value: Any) -> Any:
        if type(value) is not list:
            raise wrong(self, value)
        decode = self.item.decode
        try:
            return [decode(item) for item in value]
        except ValidationError:
            _each(decode, value, True)
            raise

    def encode(self, value: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            raise wrong(self, value, python=True)
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
        super().__init__(item)
        self.name = f"tuple[{item.name}, ...]"

    def decode(self, value: Any) -> Any:
        return tuple(super().decode(value))

    def schema(self, defs: Definitions) -> dict[str, Any]:
        return {**super().schema(defs), "x-python-type": "tuple"}


class FixedTupleCodec(Codec):
    """`tuple[A, B]`: an array of exactly those items."""

    def __init__(self, items: list[Codec]) -> None:
        self.items = items
        self.name = f"tuple[{', '.join(item.name for item in items)}]"

    def _convert(self, value: Any, kind: tuple[type, ...],
                 decoding: bool) -> list[Any]:
        items: Any = value  # not narrowed to `object` by the isinstance
        if not isinstance(value, kind) or len(items) != len(self.items):
            raise wrong(self, value, python=not decoding)
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
                "maxItems": len(self.items), "x-python-type": "tuple"}


class NewTypeCodec(Codec):
    """A `NewType`: its base type's values, the name kept in the schema
    (`x-python-newtype`)."""

    def __init__(self, name: str, inner: Codec) -> None:
        self.name, self.inner = name, inner

    @property
    def expected(self) -> str:
        return self.inner.expected

    def decode(self, value: Any) -> Any:
        return self.inner.decode(value)

    def encode(self, value: Any) -> Any:
        return self.inner.encode(value)

    def schema(self, defs: Definitions) -> dict[str, Any]:
        return {**self.inner.schema(defs), "x-python-newtype": self.name}


class DictCodec(Codec):
    """`dict[str, T]`: an object of T values."""

    def __init__(self, value: Codec) -> None:
        self.value = value
        self.name = f"dict[str, {value.name}]"

    def decode(self, value: Any) -> Any:
        if type(value) is not dict:
            raise wrong(self, value)
        decode = self.value.decode
        try:
            return {key: decode(item) for key, item in value.items()}
        except ValidationError:
            _each(decode, value, False)
            raise

    def encode(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise wrong(self, value, python=True)
        for key in value:
            if not isinstance(key, str):
                raise ValidationError("str", f"expected str keys, got "
                                             f"{describe_json(key)}")
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
class Field:
    """A dataclass field as it travels: `default` is MISSING without one,
    `factory` its `default_factory` (or None)."""
    name: str
    codec: Codec
    required: bool
    default: Any
    description: str | None
    factory: Callable[[], Any] | None = None


# default factories whose value is the same on every call: their value is
# the field's `default` in the schema
PLAIN_FACTORIES = (list, dict, tuple, str, int, float, bool)


def factory_name(factory: Callable[[], Any]) -> str:
    """How the schema names a default factory: a builtin by its name,
    anything else as `module.qualname`."""
    name = getattr(factory, "__qualname__", None) or repr(factory)
    module = getattr(factory, "__module__", None)
    return name if module in (None, "builtins") else f"{module}.{name}"


class DataclassCodec(Codec):
    """A dataclass travels as an object of its `init` fields; fields with
    defaults may be left out, others may not be added. A `__post_init__`
    that raises ValueError refuses the object with its message."""

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.name = cls.__name__
        self.fields: list[Field] = []  # filled in by the compiler
        self.names: frozenset[str] = frozenset()
        self._decoders: list[tuple[str, Callable[[Any], Any], bool]] = []

    def set_fields(self, fields: list[Field]) -> None:
        self.fields = fields
        self.names = frozenset(f.name for f in fields)
        self._decoders = [(f.name, f.codec.decode, f.required)
                          for f in fields]

    @property
    def expected(self) -> str:
        return f"{self.name} (an object)"

    def decode(self, value: Any) -> Any:
        if type(value) is not dict:
            raise wrong(self, value)
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
            raise wrong(self, value, python=True)
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
        doc = own_doc(self.cls)
        if doc:
            res["description"] = doc
        properties = {}
        for field in self.fields:
            prop = dict(field.codec.schema(defs))
            if field.description:
                prop["description"] = field.description
            default = field.default
            if field.factory is not None:
                prop["x-python-default-factory"] = \
                    factory_name(field.factory)
                if field.factory in PLAIN_FACTORIES:
                    default = field.factory()
            if default is not MISSING:
                try:
                    prop["default"] = field.codec.encode(default)
                except ValidationError:
                    pass
            properties[field.name] = prop
        res["properties"] = properties
        res["required"] = [f.name for f in self.fields if f.required]
        res["additionalProperties"] = False
        return res
