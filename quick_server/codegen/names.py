"""What of an OpenAPI document lands in generated code, made safe: names
checked to be identifiers (a `CodegenError` saying which and why),
values written as Python literals, texts as docstrings that cannot end
early."""
from __future__ import annotations

import keyword
import math
import re
from typing import Any


class CodegenError(ValueError):
    """The document cannot be made into a client: a name that is not a
    Python identifier, a type or default that has no Python form, or a
    document that is not an OpenAPI document of quick_server's."""


# names of the generated module's own (its imports and its class); a name
# from the document may not take them
MODULE_NAMES = frozenset({
    "annotations", "_dataclasses", "_datetime", "_enum", "_ssl", "_typing",
    "_uuid", "_quick_server", "Client"})
# the builtins the generated annotations use: a class or field named so
# would hide them
TYPE_NAMES = frozenset({"str", "int", "float", "bool", "list", "dict",
                        "tuple", "bytes", "object", "None"})


def identifier(name: Any, what: str) -> str:
    """`name` when it is an ASCII Python identifier that is no keyword;
    else a CodegenError naming `what` it is."""
    if not isinstance(name, str):
        raise CodegenError(f"{what} {name!r:.80} is not a string")
    if not name.isascii() or not name.isidentifier():
        raise CodegenError(f"{what} {name!r:.80} is not a Python "
                           f"identifier: rename it on the server")
    if keyword.iskeyword(name):
        raise CodegenError(f"{what} {name!r} is a Python keyword: rename "
                           f"it on the server")
    return name


NAME_CHARS = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")


def class_name(key: Any) -> str:
    """The Python name of the schema `components/schemas/key`: the key
    (the class's name), with `.` and `-` as `_` (a qualified name, given
    when two classes share a name)."""
    if not isinstance(key, str) or not NAME_CHARS.match(key):
        return identifier(key, "the schema name")  # raises
    name = identifier(key.replace(".", "_").replace("-", "_"),
                      "the schema name")
    if name in MODULE_NAMES or name in TYPE_NAMES:
        raise CodegenError(f"the schema name {key!r} is a name the "
                           f"generated module needs: rename the class on "
                           f"the server")
    return name


def literal(value: Any) -> str:
    """The Python source of a JSON value (finite numbers only)."""
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CodegenError(f"{value!r} has no JSON form")
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(str(k))}: {literal(v)}"
                               for k, v in value.items()) + "}"
    raise CodegenError(f"{value!r:.80} is not a JSON value")


def docstring(text: str, indent: str) -> str:
    """`text` as a docstring at `indent`: triple quoted, with every quote
    that another quote follows (and a last one) escaped, so that no
    `\"\"\"` of the text ends it; `repr` for a text with characters a
    source file should not hold."""
    text = text.strip()
    if not all(line.isprintable() for line in text.split("\n")):
        return indent + repr(text)
    text = text.replace("\\", "\\\\")
    text = re.sub(r'"(?=")|"\Z', r'\\"', text)
    lines = text.split("\n")
    body = "\n".join([lines[0]] + [indent + line if line else ""
                                   for line in lines[1:]])
    if len(lines) > 1:
        body += "\n" + indent
    return f'{indent}"""{body}"""'
