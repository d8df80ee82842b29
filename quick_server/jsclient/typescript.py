"""JSON Schema (the contracts' documents) as TypeScript types, written as
declarations (`api.d.ts`) and as JSDoc typedefs (`api.js`).

Every named type of the document (`$defs`: dataclasses, enums) becomes a
named type. A dataclass is two when a request may leave fields out: `Line`
is what the server sends (every field is there), `LineInput` what it
takes (a field with a default is optional); a type that holds one with an
input form has one too. Types:

    {}                              unknown
    string (any format)             string
    integer, number                 number
    boolean, null                   boolean, null
    const, enum                     a union of literals: "a" | 1 | null
    anyOf                           A | B
    array (items)                   T[]
    array (prefixItems)             [A, B]
    object (additionalProperties)   Record<string, T>
    $ref                            the named type
    a file answer                   Blob
"""
from __future__ import annotations

import json
from typing import Any, Iterator

from ..rpc.model import FILE_SCHEMA
from .text import (IDENTIFIER, TS_RESERVED_TYPES, comment_text, doc_comment,
                   js_literal, property_name, type_name)

DEFS = "#/$defs/"


def _refs(schema: Any) -> Iterator[str]:
    """The `$defs` names a schema refers to, anywhere in it."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(DEFS):
            yield ref[len(DEFS):]
        for value in schema.values():
            yield from _refs(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _refs(value)


def _union(parts: list[str]) -> str:
    unique = list(dict.fromkeys(parts))
    if "unknown" in unique:
        return "unknown"
    if not unique:
        return "never"
    return " | ".join(unique)


def _array_of(item: str) -> str:
    return f"{item}[]" if IDENTIFIER.match(item) else f"Array<{item}>"


class Types:
    """The named types of one document's `$defs` in TypeScript."""

    def __init__(self, defs: dict[str, Any], requests: list[Any]) -> None:
        """`requests`: the schemas of what the functions take (the types
        they reach may have an input form)."""
        self.defs = defs
        self.names: dict[str, str] = {}
        taken: set[str] = set()
        for key in defs:
            self.names[key] = self._free(type_name(key), taken)
        self.inputs: dict[str, str] = {}  # the types with an input form
        reached = self._reached(requests)
        for key in self._with_input_form():
            if key in reached:
                self.inputs[key] = self._free(self.names[key] + "Input",
                                              taken)

    def _reached(self, schemas: list[Any]) -> set[str]:
        """The `$defs` names that `schemas` refer to, also through
        others."""
        todo = [key for schema in schemas for key in _refs(schema)]
        seen: set[str] = set()
        while todo:
            key = todo.pop()
            if key not in seen and key in self.defs:
                seen.add(key)
                todo.extend(_refs(self.defs[key]))
        return seen

    @staticmethod
    def _free(name: str, taken: set[str]) -> str:
        while name in taken or name in TS_RESERVED_TYPES:
            name += "_"
        taken.add(name)
        return name

    def _with_input_form(self) -> list[str]:
        """The dataclasses with a field a request may leave out, and the
        types that hold one of them."""
        differs = {key for key, schema in self.defs.items()
                   if isinstance(schema, dict) and
                   isinstance(schema.get("properties"), dict) and
                   set(schema["properties"]) - set(schema.get("required",
                                                              ()))}
        grown = True
        while grown:
            grown = False
            for key, schema in self.defs.items():
                if key not in differs and differs & set(_refs(schema)):
                    differs.add(key)
                    grown = True
        return [key for key in self.defs if key in differs]

    # -- type expressions --------------------------------------------------

    def expr(self, schema: Any, inputs: bool) -> str:
        """The TypeScript type of `schema`: as a request holds it
        (`inputs`), or as an answer does."""
        if schema is False:
            return "never"
        if not isinstance(schema, dict):
            return "unknown"
        if schema == FILE_SCHEMA:
            return "Blob"
        ref = schema.get("$ref")
        if isinstance(ref, str):
            key = ref[len(DEFS):] if ref.startswith(DEFS) else None
            if key not in self.names:
                return "unknown"
            return self.inputs[key] if inputs and key in self.inputs \
                else self.names[key]
        if "const" in schema:
            return js_literal(schema["const"]) or "unknown"
        if isinstance(schema.get("enum"), list):
            literals = [js_literal(value) for value in schema["enum"]]
            return _union([lit or "unknown" for lit in literals])
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list):
                return _union([self.expr(part, inputs)
                               for part in schema[key]])
        kind = schema.get("type")
        if isinstance(kind, list):
            return _union([self._typed(schema, each, inputs)
                           for each in kind])
        return self._typed(schema, kind, inputs)

    def _typed(self, schema: dict[str, Any], kind: Any, inputs: bool) -> str:
        simple = {"string": "string", "integer": "number",
                  "number": "number", "boolean": "boolean", "null": "null"}
        if isinstance(kind, str) and kind in simple:
            return simple[kind]
        if kind == "array":
            prefix = schema.get("prefixItems")
            if isinstance(prefix, list):
                items = [self.expr(part, inputs) for part in prefix]
                if schema.get("items") is not False:
                    rest = self.expr(schema.get("items", {}), inputs)
                    items.append(f"...{_array_of(rest)}")
                return f"[{', '.join(items)}]"
            return _array_of(self.expr(schema.get("items", {}), inputs))
        if kind == "object":
            props = schema.get("properties")
            if isinstance(props, dict) and props:
                return self._object_literal(schema, inputs)
            more = schema.get("additionalProperties", True)
            return f"Record<string, {self.expr(more, inputs)}>"
        return "unknown"

    def _fields(self, schema: dict[str, Any], inputs: bool
                ) -> list[tuple[str, str, bool, list[str]]]:
        """(name, type, optional, comment lines) of an object's fields."""
        required = set(schema.get("required", ()))
        res = []
        for name, prop in schema["properties"].items():
            notes = []
            if isinstance(prop, dict):
                if isinstance(prop.get("description"), str):
                    notes.append(comment_text(prop["description"]))
                if "default" in prop:
                    default = json.dumps(prop["default"], ensure_ascii=True)
                    notes.append(f"(default: {comment_text(default)})")
            res.append((name, self.expr(prop, inputs),
                        inputs and name not in required, notes))
        return res

    def _object_literal(self, schema: dict[str, Any], inputs: bool) -> str:
        fields = [f"{property_name(name)}{'?' if optional else ''}: {tp}"
                  for name, tp, optional, _ in self._fields(schema, inputs)]
        return "{ " + "; ".join(fields) + " }"

    # -- declarations ------------------------------------------------------

    def _forms(self) -> Iterator[tuple[str, dict[str, Any], bool]]:
        """(TypeScript name, schema, input form) of every named type."""
        for key, schema in self.defs.items():
            schema = schema if isinstance(schema, dict) else {}
            yield self.names[key], schema, False
            if key in self.inputs:
                yield self.inputs[key], schema, True

    @staticmethod
    def _about(schema: dict[str, Any], inputs: bool) -> list[str]:
        lines = []
        if isinstance(schema.get("description"), str):
            lines.append(comment_text(schema["description"]))
        if inputs:
            lines.append("(as a request holds it: fields with a default "
                         "may be left out)")
        return lines

    def declarations(self) -> str:
        """The named types as TypeScript declarations."""
        out = []
        for name, schema, inputs in self._forms():
            out.append(doc_comment(self._about(schema, inputs)))
            if isinstance(schema.get("properties"), dict) and \
                    schema.get("type") == "object":
                out.append(f"export interface {name} {{\n")
                for field, tp, optional, notes in self._fields(schema,
                                                               inputs):
                    out.append(doc_comment(notes, "  "))
                    out.append(f"  {property_name(field)}"
                               f"{'?' if optional else ''}: {tp};\n")
                out.append("}\n\n")
            else:
                out.append(f"export type {name} = "
                           f"{self.expr(schema, inputs)};\n\n")
        return "".join(out)

    def jsdoc(self) -> str:
        """The named types as JSDoc typedefs."""
        out = []
        for name, schema, inputs in self._forms():
            lines = self._about(schema, inputs)
            props = schema.get("properties")
            if isinstance(props, dict) and schema.get("type") == "object" \
                    and all(IDENTIFIER.match(field) for field in props):
                lines.append(f"@typedef {{Object}} {name}")
                for field, tp, optional, notes in self._fields(schema,
                                                               inputs):
                    shown = f"[{field}]" if optional else field
                    note = " ".join(notes)
                    lines.append(f"@property {{{tp}}} {shown}"
                                 f"{' - ' + note if note else ''}")
            else:
                lines.append(f"@typedef {{{self.expr(schema, inputs)}}} "
                             f"{name}")
            out.append(doc_comment(lines) + "\n")
        return "".join(out)
