"""The contracts as a page to read (`bind_openapi(..., page=path)`): each
rpc and typed worker with its description, request and answer, then every
dataclass and Enum they use, as Python names them. One small HTML page,
no script, no external asset; every value is escaped here, where the page
is written."""
from __future__ import annotations

import enum
import html
import json
from typing import Any

from .codec import MISSING, Codec
from .compound_codecs import DataclassCodec, factory_name
from .model import RPC, TypedRoute, walk
from .scalar_codecs import EnumCodec
from .schema_defs import own_doc

STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:60em;margin:2em auto;
padding:0 1em;color:#222}
h1{margin-bottom:0}code,pre{font:13px ui-monospace,monospace}
section{border-top:1px solid #ddd;padding:.3em 0}
.kind{font-size:12px;background:#eef;border-radius:3px;padding:1px 5px}
table{border-collapse:collapse}td,th{text-align:left;padding:2px 10px 2px
0;vertical-align:top}pre{white-space:pre-wrap;margin:.3em 0}
.muted{color:#777}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def contract_page(routes: list[TypedRoute], *, title: str, version: str,
                  description: str | None, document: str,
                  services: str | None) -> str:
    """The page of `routes` (`document`: the path of the OpenAPI JSON;
    `services`: the services API's prefix, when bound)."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'>"
             f"<title>{_e(title)}</title><style>{STYLE}</style></head>"
             f"<body><h1>{_e(title)}</h1><p class='muted'>version "
             f"{_e(version)} &middot; <a href='{_e(document)}'>OpenAPI "
             f"document</a></p>"]
    if description:
        parts.append(f"<pre>{_e(description)}</pre>")
    if not routes:
        parts.append("<p>No typed routes yet.</p>")
    named: dict[int, Codec] = {}
    for route in routes:
        parts.append(_route(route))
        for codec in [route.request] + ([] if route.response is None
                                        else [route.response]):
            for inner in walk(codec):
                if isinstance(inner, (DataclassCodec, EnumCodec)):
                    named.setdefault(id(inner), inner)
    if named:
        parts.append("<h2>Types</h2>")
        parts.extend(_type(codec) for codec in named.values())
    if services is not None:
        parts.append(f"<h2>Services</h2><p>The services API is bound under "
                     f"<code>{_e(services)}</code> (every call with "
                     f"<code>Authorization: Bearer &lt;key&gt;</code>).</p>")
    parts.append("</body></html>")
    return "".join(parts)


def _route(route: TypedRoute) -> str:
    answer = [] if route.response is None else [_type_ref(route.response)]
    if route.files:
        answer.append("a file")
    how = "POST the request, get the answer" if route.kind == RPC else \
        "the worker protocol: start a job with the request as payload, " \
        "follow its progress, get the result"
    res = [f"<section id='{_e(route.name)}'><h3><code>{_e(route.name)}"
           f"</code> <span class='kind'>{_e(route.kind)}</span></h3>"
           f"<p><code>POST {_e(route.path)}</code> <span class='muted'>"
           f"({_e(how)})</span></p>"]
    if route.description:
        res.append(f"<pre>{_e(route.description)}</pre>")
    what = "answer" if route.kind == RPC else "result"
    res.append(f"<table><tr><th>request</th><td>"
               f"{_type_ref(route.request)}</td></tr><tr><th>{what}</th>"
               f"<td>{' or '.join(answer)}</td></tr></table></section>")
    return "".join(res)


def _type_ref(codec: Codec) -> str:
    """A type's name, linked to its entry when it has one."""
    if isinstance(codec, (DataclassCodec, EnumCodec)):
        return f"<a href='#type-{_e(codec.name)}'><code>{_e(codec.name)}" \
               f"</code></a>"
    return f"<code>{_e(codec.name)}</code>"


def _type(codec: Codec) -> str:
    head = f"<section id='type-{_e(codec.name)}'><h3><code>" \
           f"{_e(codec.name)}</code></h3>"
    doc = own_doc(codec.cls) if isinstance(
        codec, (DataclassCodec, EnumCodec)) else None
    if doc:
        head += f"<pre>{_e(doc)}</pre>"
    rows = []
    if isinstance(codec, EnumCodec):
        for member in codec.cls:
            rows.append(f"<tr><td><code>{_e(member.name)}</code></td><td>"
                        f"<code>{_e(json.dumps(member.value))}</code></td>"
                        f"</tr>")
    elif isinstance(codec, DataclassCodec):
        for field in codec.fields:
            if field.required:
                default = "required"
            elif field.factory is not None:
                default = f"default: {factory_name(field.factory)}()"
            elif isinstance(field.default, enum.Enum):
                default = f"default: {type(field.default).__name__}." \
                          f"{field.default.name}"
            elif field.default is not MISSING:
                default = f"default: {field.default!r}"
            else:
                default = ""
            rows.append(f"<tr><td><code>{_e(field.name)}</code></td>"
                        f"<td><code>{_e(field.codec.name)}</code></td>"
                        f"<td class='muted'>{_e(default)}</td>"
                        f"<td>{_e(field.description or '')}</td></tr>")
    return f"{head}<table>{''.join(rows)}</table></section>"
