"""The text of `api.js` (an ES module) and `api.d.ts` (its TypeScript
declarations) for a list of client functions.

A function has a kind, which says how it is called: "rpc" (`callRpc`:
POST the request, the answer object) or "worker" (`callWorker`: a job of
the worker protocol, through the protocol's core shared with worker.js,
with progress and cancel). A new kind of contract plugs in as one more
`Kind`.

api.js keeps the client's machinery (the core, the hub, api-client.js) in
a closure: its module scope holds only that closure (`$$qs`), the
functions (`$name`, exported under their names) and JSDoc typedefs, so no
function's name can hide a global the machinery uses (a function called
`fetch` is fine)."""
from __future__ import annotations

import dataclasses
from typing import Any

from ..browser import js_parts
from .text import comment_text, doc_comment, js_string
from .typescript import Types


@dataclasses.dataclass(frozen=True)
class Kind:
    """How a kind of function is called: its argument, its options type,
    the machinery's call, and a word for its comment."""
    param: str
    options: str
    call: str
    what: str


KINDS = {
    "rpc": Kind("request", "RpcOptions", "callRpc", "rpc"),
    "worker": Kind("payload", "WorkerCallOptions", "callWorker", "worker"),
}


@dataclasses.dataclass(frozen=True)
class ClientFunction:
    """One exported function: `kind` (a key of KINDS), its `name`, the
    route's `path`, the Python docstring, and the JSON Schemas of what
    it takes and answers (None: any JSON, as a plain json_worker's)."""
    kind: str
    name: str
    path: str
    description: str | None
    request: Any
    response: Any


OWN_TYPES = """\
/**
 * @typedef {Object} Progress
 * @property {number} done
 * @property {number | null} total - null: unknown
 * @property {string | null} message
 */
/**
 * @typedef {Object} ClientOptions
 * @property {string | URL | null} [baseUrl] - the server
 * @property {Record<string, string>} [headers] - extra request headers
 * @property {number} [wait] - seconds the server may hold a poll
 */
/**
 * @typedef {Object} RpcOptions
 * @property {string | URL} [baseUrl] - the server, for this call
 * @property {Record<string, string>} [headers] - extra headers
 * @property {AbortSignal} [signal] - aborts the call
 */
/**
 * @typedef {Object} WorkerCallOptions
 * @property {string | URL} [baseUrl] - the server, for this job
 * @property {Record<string, string>} [headers] - extra headers
 * @property {AbortSignal} [signal] - cancels the job
 * @property {(progress: Progress) => void} [onProgress] - its progress
 * @property {number} [wait] - seconds the server may hold a poll
 */

"""

# TypeScript reads the JSDoc types of api.js (checkJs, without api.d.ts)
# but checks none of its machinery, which is not typed for --strict
NOCHECK = "// @ts-nocheck\n"

HEADER = """\
{nocheck}// The typed {what} of a quick_server, generated from its contracts
// by {source}.
// Do not edit: the server writes it anew when a contract changes. One
// async function per rpc route and worker (docs/js-client.rst), built on
// the protocol's core of quick_server's worker client.
"""


def _about(fn: ClientFunction) -> list[str]:
    lines = [comment_text(fn.description)] if fn.description else []
    what = KINDS[fn.kind].what
    return lines + ([""] if lines else []) + \
        [comment_text(f"The {what} at {js_string(fn.path)}.")]


def generate_js(functions: list[ClientFunction], defs: dict[str, Any],
                default_base: str, source: str) -> str:
    """api.js. `default_base`: a JavaScript expression, the server's URL
    when no call names one (the generator's own text, never the
    server's); `source`: who generated it, for the header."""
    types = Types(defs, [fn.request for fn in functions])
    out = [HEADER.format(nocheck=NOCHECK, what="client",
                         source=comment_text(source)), "\n",
           "const $$qs = (function (defaultBase) {\n  'use strict';\n\n",
           "  // the URL this module was loaded from (the hub's server)\n",
           "  const SCRIPT_BASE = import.meta.url;\n\n",
           js_parts("worker-core.js", "hub.js", "api-client.js"),
           "\n  return { callRpc, callWorker, configureClient, RpcError,"
           " WorkerError };\n",
           f"}})({default_base});\n\n",
           "export const configureClient = $$qs.configureClient;\n",
           "export const RpcError = $$qs.RpcError;\n",
           "export const WorkerError = $$qs.WorkerError;\n\n",
           OWN_TYPES, types.jsdoc()]
    for fn in functions:
        kind = KINDS[fn.kind]
        takes = types.expr(fn.request, True) if fn.request is not None \
            else "unknown"
        gives = types.expr(fn.response, False) if fn.response is not None \
            else "unknown"
        files = "Blob" in gives.split(" | ")
        lines = _about(fn) + [
            f"@param {{{takes}}} {kind.param}",
            f"@param {{{kind.options}}} [options]",
            f"@returns {{Promise<{gives}>}}"]
        args = f"{kind.param}, options"
        extra = ", true" if files else ""
        out.append(doc_comment(lines))
        out.append(f"const ${fn.name} = async function {fn.name}({args}) "
                   f"{{\n  return $$qs.{kind.call}({js_string(fn.path)}, "
                   f"{args}{extra});\n}};\n\n")
    if functions:
        exports = ", ".join(f"${fn.name} as {fn.name}" for fn in functions)
        out.append(f"export {{ {exports} }};\n")
    return "".join(out)


def generate_dts(functions: list[ClientFunction], defs: dict[str, Any],
                 source: str) -> str:
    """api.d.ts: the declarations of api.js."""
    types = Types(defs, [fn.request for fn in functions])
    out = [HEADER.format(nocheck="", what="client's declarations",
                         source=comment_text(source)), "\n",
        js_parts("worker-core.d.ts", "api-client.d.ts"), "\n",
        types.declarations()]
    for fn in functions:
        kind = KINDS[fn.kind]
        takes = types.expr(fn.request, True) if fn.request is not None \
            else "unknown"
        gives = types.expr(fn.response, False) if fn.response is not None \
            else "unknown"
        out.append(doc_comment(_about(fn)))
        out.append(f"export declare function {fn.name}({kind.param}: "
                   f"{takes}, options?: {kind.options}): "
                   f"Promise<{gives}>;\n\n")
    return "".join(out)
