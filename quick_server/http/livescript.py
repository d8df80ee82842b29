"""The live-reload script tag, and putting it into an HTML page (pages of
a server with `live_reload` on get it; the development tools serve the
script and its event stream)."""
from __future__ import annotations

from typing import Any

from .responses import Response

LIVE_PREFIX = "/__quick_server__/"
LIVE_STREAM_PATH = LIVE_PREFIX + "live-reload"
LIVE_SCRIPT_PATH = LIVE_PREFIX + "live-reload.js"
SCRIPT_TAG = f'<script src="{LIVE_SCRIPT_PATH}"></script>'.encode()


def inject_script(page: bytes) -> bytes:
    """`page` with the live-reload script tag before its last `</body>`
    (else `</html>`, else at its end); unchanged when it has it already."""
    if SCRIPT_TAG in page:
        return page
    lower = page.lower()
    for tag in (b"</body", b"</html"):
        at = lower.rfind(tag)
        if at >= 0:
            return page[:at] + SCRIPT_TAG + page[at:]
    return page + SCRIPT_TAG


def script_filter(req: Any, response: Response) -> Response:
    """The answer filter that gives an HTML page the script while
    `live_reload` is on (a formed answer has it already, or not to be)."""
    if response.formed or response.code != 200 or \
            not req.server.settings.dev.live_reload or \
            not (response.ctype or "").startswith("text/html") or \
            any(name.lower() == "content-encoding"
                for name, _ in response.headers):
        return response
    response.response = inject_script(response.response)
    return response
