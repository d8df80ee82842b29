"""What the server hands the browser as one script: worker.js (jobs) with
the hub that shares a browser's waiting connections among its tabs
(hub.js) and live reload (live-reload.js).

The same text is `link_worker_js`'s and `mirror_worker_js`'s worker.js,
the live-reload script pages get, and the script of the browser's shared
hub at `HUB_PATH` (a SharedWorker: one per browser and server)."""
from __future__ import annotations

import functools
import os
from typing import Any

from .http.responses import Response

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER_JS = os.path.join(HERE, "worker.js")
PARTS = ("hub.js", "live-reload.js")
INCLUDE = "  /* the hub and live reload: hub.js, live-reload.js */\n"
HUB_PATH = "/__quick_server__/worker.js"
JS_TYPE = "text/javascript; charset=utf-8"


@functools.lru_cache(maxsize=None)
def worker_js() -> bytes:
    """worker.js with the hub and live reload put in."""
    with open(WORKER_JS, encoding="utf-8") as handle:
        text = handle.read()
    parts = []
    for name in PARTS:
        with open(os.path.join(HERE, name), encoding="utf-8") as handle:
            parts.append(handle.read())
    if INCLUDE not in text:
        raise RuntimeError(f"{WORKER_JS} lost its include line")
    return text.replace(INCLUDE, "\n".join(parts)).encode("utf-8")


def live_reload_js() -> bytes:
    """The script pages with live reload get: the same, listening."""
    return worker_js() + b"\nglobalThis.quick_server.liveReload();\n"


def script_answer(body: bytes) -> Response:
    return Response(body, 200, JS_TYPE, [("Cache-Control", "no-cache")])


def serve_hub(server: Any) -> None:
    """Serves the hub's script at `HUB_PATH` (once per server)."""
    if "GET" not in server._routes.allowed(HUB_PATH):
        server.add_route("GET", "text", HUB_PATH,
                         lambda req, args: script_answer(worker_js()), 0,
                         exclusive=False)
