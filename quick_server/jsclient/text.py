"""What generated JavaScript and TypeScript may hold of the server's text:
string literals as JSON, comments that no text can end early, and names
that are plain identifiers."""
from __future__ import annotations

import json
import math
import re
from typing import Any

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# words no function or type of the client may be called (ECMAScript's
# reserved words, also those of strict mode and modules, and the names
# the language keeps for itself)
JS_RESERVED = frozenset("""
    arguments await break case catch class const continue debugger default
    delete do else enum eval export extends false finally for function if
    implements import in instanceof interface let new null package private
    protected public return static super switch this throw true try typeof
    var void while with yield undefined NaN Infinity
    """.split())

# type names TypeScript keeps, or that the client's declarations use (its
# own types among them): a type of the contracts called so would hide them
TS_RESERVED_TYPES = JS_RESERVED | frozenset("""
    any unknown never object string number boolean symbol bigint
    Array ReadonlyArray Record Partial Required Readonly Pick Omit Exclude
    Extract NonNullable ReturnType Promise PromiseLike Error Blob URL
    AbortSignal Object String Number Boolean Date Map Set JSON Function
    Response Request Headers RequestInit DOMException globalThis
    Progress WorkerErrorKind WorkerError RpcError RpcOptions
    WorkerCallOptions ClientOptions
    """.split())


def js_string(text: str) -> str:
    """A JavaScript (and TypeScript) string literal: JSON, ASCII only, so
    no line separator or quote of `text` can end it, with `*/` and `@`
    escaped too (the same string), so that it may stand in a comment."""
    return json.dumps(text, ensure_ascii=True).replace(
        "*/", "*\\/").replace("@", "\\u0040")


def js_literal(value: Any) -> str | None:
    """A JSON scalar as a TypeScript literal type (None when it has
    none: a number that is not finite, a list, an object)."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, str):
        return js_string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return None


def property_name(name: str) -> str:
    """A property name as written in a TypeScript type: bare when it is a
    plain identifier, else quoted."""
    return name if IDENTIFIER.match(name) else js_string(name)


def comment_text(text: str) -> str:
    """Text for a `/** ... */` comment: `*/` cannot end it, and an `@`
    that would start a JSDoc tag (a line's first word, or after a space)
    is the full-width one, so that no docstring adds a type to the
    client."""
    text = text.replace("*/", "*\\/")
    return re.sub(r"(^|\s)@", "\\1\uff20", text)


def doc_comment(lines: list[str], indent: str = "") -> str:
    """A `/** ... */` comment of `lines`, each made of `comment_text` and
    the generator's own words, or nothing when they are empty."""
    body = [line.rstrip() for text in lines
            for line in text.splitlines() or [""]]
    while body and not body[-1]:
        body.pop()
    while body and not body[0]:
        body.pop(0)
    if not body:
        return ""
    if len(body) == 1:
        return f"{indent}/** {body[0].strip()} */\n"
    inner = "".join(f"{indent} *{' ' + line if line else ''}\n"
                    for line in body)
    return f"{indent}/**\n{inner}{indent} */\n"


def type_name(name: str) -> str:
    """A `$defs` name as a TypeScript identifier: characters other than
    letters, digits and `_` become `_` (`module.Outer.Inner` ->
    `module_Outer_Inner`); a name TypeScript keeps gets `_` appended."""
    res = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not res or res[0].isdigit():
        res = "_" + res
    while res in TS_RESERVED_TYPES:
        res += "_"
    return res
