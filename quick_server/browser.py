"""What the server hands the browser: worker.js (jobs) with the hub that
shares a browser's waiting connections among its tabs (hub.js) and live
reload (live-reload.js), as a classic script and as an ES module.

The JavaScript sources are parts put together here: a template (worker.js,
the classic script; worker.mjs, the ES module) names the parts it takes in
an include line, `/* include: a.js, b.js */`, which is replaced by their
text. The protocol's core (worker-core.js: start, long-polls, cargo,
retries, stop, progress) is one such part, taken in by both forms of
worker.js and by the typed clients of `jsclient` (`js_parts`): one text,
not copies.

The classic script is `link_worker_js`'s worker.js, the live-reload script
pages get, and the script of the browser's shared hub at `HUB_PATH` (a
SharedWorker: one per browser and server); the ES module is served beside
it and is what `mirror_worker_js` writes, with its declarations
(worker.d.ts, which takes in worker-core.d.ts the same way)."""
from __future__ import annotations

import functools
import os
import re
from typing import Any

from .http.responses import Response

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER_JS = os.path.join(HERE, "worker.js")
HUB_PATH = "/__quick_server__/worker.js"
JS_TYPE = "text/javascript; charset=utf-8"
TS_TYPE = "application/typescript; charset=utf-8"
INCLUDE = re.compile(r"^[ \t]*/\* include: ([\w., -]+) \*/\n", re.MULTILINE)


@functools.lru_cache(maxsize=None)
def js_source(name: str) -> str:
    """The text of one of the package's JavaScript (or declaration)
    files, with the parts its include lines name put in."""
    with open(os.path.join(HERE, name), encoding="utf-8") as handle:
        text = handle.read()
    return INCLUDE.sub(lambda found: js_parts(*found.group(1).split(", ")),
                       text)


def js_parts(*names: str) -> str:
    return "\n".join(js_source(name) for name in names)


@functools.lru_cache(maxsize=None)
def worker_js() -> bytes:
    """worker.js, the classic script, with the core, the hub and live
    reload put in."""
    return js_source("worker.js").encode("utf-8")


@functools.lru_cache(maxsize=None)
def worker_module() -> bytes:
    """worker.mjs: the same client as an ES module with the named exports
    Worker, WorkerError and liveReload."""
    return js_source("worker.mjs").encode("utf-8")


@functools.lru_cache(maxsize=None)
def worker_dts() -> bytes:
    """worker.d.ts: the TypeScript declarations of the ES module."""
    return js_source("worker.d.ts").encode("utf-8")


def live_reload_js() -> bytes:
    """The script pages with live reload get: the same, listening."""
    return worker_js() + b"\nglobalThis.quick_server.liveReload();\n"


def script_answer(body: bytes, ctype: str = JS_TYPE) -> Response:
    return Response(body, 200, ctype, [("Cache-Control", "no-cache")])


def sibling_paths(path: str) -> tuple[str, str]:
    """Where the ES module and its declarations go beside the classic
    script at `path` (a URL path or a file): worker.js -> (worker.mjs,
    worker.d.ts)."""
    stem = path[:-3] if path.endswith(".js") else path
    return stem + ".mjs", stem + ".d.ts"


def declarations_path(path: str) -> str:
    """Where TypeScript looks for the declarations of the module at
    `path`: x.js -> x.d.ts, x.mjs -> x.d.mts, x.cjs -> x.d.cts."""
    for ext, dts in ((".js", ".d.ts"), (".mjs", ".d.mts"),
                     (".cjs", ".d.cts")):
        if path.endswith(ext):
            return path[:-len(ext)] + dts
    return path + ".d.ts"


def write_if_changed(target: str, data: bytes) -> bool:
    """Writes `data` to the file `target` (making its folder) unless it
    holds them already; whether it wrote."""
    try:
        with open(target, "rb") as handle:
            if handle.read() == data:
                return False
    except OSError:
        pass
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    with open(target, "wb") as handle:
        handle.write(data)
    return True


def serve_hub(server: Any) -> None:
    """Serves the hub's script at `HUB_PATH` (once per server)."""
    if "GET" not in server._routes.allowed(HUB_PATH):
        server.add_route("GET", "text", HUB_PATH,
                         lambda req, args: script_answer(worker_js()), 0,
                         exclusive=False)
