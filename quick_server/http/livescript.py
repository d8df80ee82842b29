"""The live-reload script tag, and putting it into an HTML page (pages of
a server with `live_reload` on get it; the development tools serve the
script and its event stream)."""
from __future__ import annotations

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
