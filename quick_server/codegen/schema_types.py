"""From JSON Schema (with quick_server's `x-python-*` keywords) to Python:
the annotation of a schema, and the source of a default value of it."""
from __future__ import annotations

from typing import Any

from .names import TYPE_NAMES, CodegenError, class_name, identifier, \
    literal

SCHEMAS = "#/components/schemas/"
FORMATS = {"date-time": "_datetime.datetime", "date": "_datetime.date",
           "uuid": "_uuid.UUID"}
PARSERS = {"date-time": "_datetime.datetime.fromisoformat",
           "date": "_datetime.date.fromisoformat", "uuid": "_uuid.UUID"}
SCALARS = {"string": "str", "integer": "int", "number": "float",
           "boolean": "bool", "null": "None"}


def is_enum(schema: dict[str, Any]) -> bool:
    return "enum" in schema and "x-python-enum-names" in schema


def is_class(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "object" and "properties" in schema


class Types:
    """The named types of a document (`components/schemas`), and the
    NewTypes its schemas name (`newtypes`: name -> base annotation)."""

    def __init__(self, schemas: dict[str, Any]) -> None:
        self.schemas = schemas
        self.names: dict[str, str] = {}  # schema key -> Python name
        self.newtypes: dict[str, str] = {}

    def key(self, ref: Any) -> str:
        """The schema key a `$ref` names (CodegenError for another)."""
        if not isinstance(ref, str) or not ref.startswith(SCHEMAS) or \
                not isinstance(self.schemas.get(ref[len(SCHEMAS):]), dict):
            raise CodegenError(f"$ref {ref!r:.100} names no schema of "
                               f"components/schemas")
        return ref[len(SCHEMAS):]

    def name(self, key: str) -> str:
        if key not in self.names:
            name = class_name(key)
            if name in self.names.values():
                raise CodegenError(f"two schemas are named {name!r} in "
                                   f"Python: rename a class on the server")
            if name in self.newtypes:
                raise CodegenError(f"{name!r} names a schema and a NewType: "
                                   f"rename one on the server")
            self.names[key] = name
        return self.names[key]

    def annotation(self, schema: Any) -> str:
        """The Python type of `schema`."""
        if not isinstance(schema, dict):
            if schema is True:
                return "_typing.Any"
            raise CodegenError(f"schema {schema!r:.100} has no Python type")
        newtype = schema.get("x-python-newtype")
        if newtype is not None:
            rest = {k: v for k, v in schema.items()
                    if k != "x-python-newtype"}
            return self._newtype(newtype, self.annotation(rest))
        if "$ref" in schema:
            return self.name(self.key(schema["$ref"]))
        for union in ("anyOf", "oneOf"):
            if union in schema:
                return self._union([self.annotation(alt)
                                    for alt in _list(schema[union], union)])
        if "const" in schema:
            return self._literal([schema["const"]], "str")
        if "enum" in schema:
            return self._literal(_list(schema["enum"], "enum"), "str")
        kind = schema.get("type")
        if isinstance(kind, list):
            return self._union([self.annotation({**schema, "type": one})
                                for one in kind])
        if kind == "string":
            return FORMATS.get(schema.get("format"), "str")  # type: ignore
        if kind in SCALARS:
            return SCALARS[kind]
        if kind == "array":
            if "prefixItems" in schema:
                items = [self.annotation(item) for item in
                         _list(schema["prefixItems"], "prefixItems")]
                return f"tuple[{', '.join(items)}]" if items \
                    else "tuple[()]"
            item = self.annotation(schema.get("items", True))
            if schema.get("x-python-type") == "tuple":
                return f"tuple[{item}, ...]"
            return f"list[{item}]"
        if kind == "object":
            value = schema.get("additionalProperties", True)
            return f"dict[str, {self.annotation(value)}]"
        return "_typing.Any"

    def _newtype(self, name: Any, base: str) -> str:
        name = identifier(name, "the NewType")
        if name in TYPE_NAMES or name in self.names.values() or \
                name.startswith("_") or name == "Client":
            raise CodegenError(f"the NewType {name!r} takes a name the "
                               f"generated module needs: rename it")
        if self.newtypes.setdefault(name, base) != base:
            raise CodegenError(f"the NewType {name!r} has two base types "
                               f"({self.newtypes[name]}, {base})")
        return name

    @staticmethod
    def _union(alternatives: list[str]) -> str:
        seen: list[str] = []
        for alt in alternatives:
            if alt not in seen:
                seen.append(alt)
        if "_typing.Any" in seen:
            return "_typing.Any"
        if "None" in seen:  # last: `None | X` is not a type at run time
            seen.remove("None")
            seen.append("None")
        return " | ".join(seen)

    @staticmethod
    def _literal(values: list[Any], base: str) -> str:
        if any(isinstance(v, (float, list, dict)) for v in values):
            return "_typing.Any"  # a Literal holds no float
        return f"_typing.Literal[{', '.join(literal(v) for v in values)}]"

    # -- defaults ----------------------------------------------------------

    def value(self, schema: Any, value: Any) -> str:
        """The source of `value` (a JSON value that fits `schema`) as the
        Python value of its type: a member of an Enum, an instance of a
        dataclass, a tuple, a datetime...; CodegenError when it does not
        fit."""
        if not isinstance(schema, dict):
            return literal(value)
        newtype = schema.get("x-python-newtype")
        if newtype is not None:
            rest = {k: v for k, v in schema.items()
                    if k != "x-python-newtype"}
            return f"{self._newtype(newtype, self.annotation(rest))}(" \
                   f"{self.value(rest, value)})"
        if "$ref" in schema:
            key = self.key(schema["$ref"])
            return self._named(key, self.schemas[key], value)
        for union in ("anyOf", "oneOf"):
            if union in schema:
                for alt in _list(schema[union], union):
                    try:
                        return self.value(alt, value)
                    except CodegenError:
                        pass
                raise _misfit(value)
        if "const" in schema or "enum" in schema:
            choices = [schema["const"]] if "const" in schema \
                else schema["enum"]
            if not any(_same(value, c) for c in choices):
                raise _misfit(value)
            return literal(value)
        kind = schema.get("type")
        if isinstance(kind, list):
            for one in kind:
                try:
                    return self.value({**schema, "type": one}, value)
                except CodegenError:
                    pass
            raise _misfit(value)
        return self._typed(kind, schema, value)

    def _typed(self, kind: Any, schema: dict[str, Any], value: Any) -> str:
        if kind == "string" and isinstance(value, str):
            parser = PARSERS.get(schema.get("format"))  # type: ignore
            return f"{parser}({literal(value)})" if parser else literal(value)
        if kind == "integer" and type(value) is int:
            return literal(value)
        if kind == "number" and type(value) in (int, float):
            return literal(float(value))
        if kind == "boolean" and isinstance(value, bool) or \
                kind == "null" and value is None:
            return literal(value)
        if kind == "array" and isinstance(value, list):
            if "prefixItems" in schema:
                items = _list(schema["prefixItems"], "prefixItems")
                if len(items) != len(value):
                    raise _misfit(value)
                parts = [self.value(s, v) for s, v in zip(items, value)]
            else:
                parts = [self.value(schema.get("items", True), v)
                         for v in value]
            if "prefixItems" in schema or \
                    schema.get("x-python-type") == "tuple":
                return "(" + ", ".join(parts) + ("," if len(parts) == 1
                                                 else "") + ")"
            return "[" + ", ".join(parts) + "]"
        if kind == "object" and isinstance(value, dict):
            inner = schema.get("additionalProperties", True)
            return "{" + ", ".join(f"{literal(k)}: {self.value(inner, v)}"
                                   for k, v in value.items()) + "}"
        if kind is None:
            return literal(value)
        raise _misfit(value)

    def _named(self, key: str, schema: dict[str, Any], value: Any) -> str:
        name = self.name(key)
        if is_enum(schema):
            values = _list(schema["enum"], "enum")
            names = _list(schema["x-python-enum-names"], "enum names")
            for member, member_value in zip(names, values):
                if _same(value, member_value):
                    return f"{name}.{identifier(member, 'the enum member')}"
            raise _misfit(value)
        if is_class(schema) and isinstance(value, dict):
            props = schema["properties"]
            args = []
            for field, item in value.items():
                if field not in props:
                    raise _misfit(value)
                args.append(f"{identifier(field, 'the field')}="
                            f"{self.value(props[field], item)}")
            return f"{name}({', '.join(args)})"
        return self.value({k: v for k, v in schema.items()
                           if k != "title"}, value)


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b or \
        type(a) in (int, float) and type(b) in (int, float) and a == b


def _misfit(value: Any) -> CodegenError:
    return CodegenError(f"the default {value!r:.80} does not fit its type")


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise CodegenError(f"{what} is not a list")
    return value
