"""Pictures and pages that a route's handler returns.

A value with a `savefig` method (a matplotlib `Figure`, a seaborn grid)
answers as the picture it draws: PNG, or SVG for a client whose `Accept`
prefers `image/svg+xml` to `image/png` (`Vary: Accept` says so to
caches); a `Response(figure, ctype=...)` picks the format itself (PDF,
JPEG...). A value with `_repr_html_` (what Jupyter shows: a pandas
Styler, a Plotly or Bokeh figure) answers as an HTML page around the
fragment it writes, which goes in as it is: it is the server's own
output, like any HTML a handler returns. Both are recognised by their
methods: no library is imported here.

Drawing happens on the thread that answers, one picture at a time in
the process: matplotlib is not thread-safe (font and text caches and
`rcParams` are shared by every figure), and drawing holds the GIL
anyway. A drawing that fails is a `RenderError`: a 500, logged."""
from __future__ import annotations

import html
import io
import threading
from typing import Any

from .negotiation import preferred

PNG, SVG = "image/png", "image/svg+xml"
PICTURE_OFFERS = (PNG, SVG)  # PNG unless the client prefers SVG
# the formats `savefig` is asked for, by the Content-Type they answer as
FORMATS = {PNG: "png", SVG: "svg", "application/pdf": "pdf",
           "image/jpeg": "jpeg", "image/webp": "webp",
           "image/tiff": "tiff", "application/postscript": "eps"}
HTML = "text/html; charset=utf-8"
VARY_ACCEPT = ("Vary", "Accept")
PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body>
{fragment}
</body></html>
"""

_DRAWING = threading.Lock()  # one picture at a time (module docstring)

Header = tuple[str, str]


class RenderError(Exception):
    """A picture or page that a handler returned could not be made."""


def is_picture(value: Any) -> bool:
    """Whether `value` draws itself with `savefig(file, format=...)`."""
    return callable(getattr(value, "savefig", None)) and \
        not isinstance(value, type)


def is_page(value: Any) -> bool:
    """Whether `value` writes an HTML fragment with `_repr_html_()`."""
    return callable(getattr(value, "_repr_html_", None)) and \
        not isinstance(value, type)


def picture(value: Any, accept: str | None, ctype: str | None
            ) -> tuple[bytes, str, list[Header]]:
    """(body, Content-Type, headers) of the picture `value` draws: in the
    format of `ctype` when the handler's `Response` names one, else PNG or
    SVG as `accept` prefers (and then `Vary: Accept`)."""
    if ctype is None:
        media = preferred(accept, PICTURE_OFFERS)
        return draw(value, media), media, [VARY_ACCEPT]
    media = ctype.partition(";")[0].strip().lower()
    if media not in FORMATS:
        raise RenderError(
            f"a picture ({type(value).__name__}) cannot answer as "
            f"{ctype!r}: the Content-Type of a picture is one of "
            f"{', '.join(FORMATS)}")
    return draw(value, media), ctype, []


def draw(value: Any, media: str) -> bytes:
    """The bytes of `value.savefig` in the format of `media` (a key of
    FORMATS), the figure's own size and dpi kept."""
    form = FORMATS[media]
    what = f"the {type(value).__name__} returned by the handler"
    buffer = io.BytesIO()
    try:
        with _DRAWING:
            value.savefig(buffer, format=form)
    except Exception as err:  # pylint: disable=broad-except
        raise RenderError(f"drawing {what} as {form.upper()} failed: "
                          f"{type(err).__name__}: {err}") from err
    data = buffer.getvalue()
    if not data:
        raise RenderError(f"{what} drew nothing: its savefig wrote no "
                          f"bytes")
    return data


def page(value: Any) -> bytes | None:
    """The UTF-8 HTML page around the fragment of `value._repr_html_()`;
    None when it has none (it returned None, as Jupyter allows)."""
    try:
        fragment = value._repr_html_()  # pylint: disable=protected-access
    except Exception as err:  # pylint: disable=broad-except
        raise RenderError(
            f"the _repr_html_ of the {type(value).__name__} returned by "
            f"the handler failed: {type(err).__name__}: {err}") from err
    if isinstance(fragment, tuple) and fragment:  # (html, metadata)
        fragment = fragment[0]
    if fragment is None:
        return None
    if not isinstance(fragment, str):
        raise RenderError(
            f"the _repr_html_ of the {type(value).__name__} returned by "
            f"the handler gave a {type(fragment).__name__}, not a str")
    title = html.escape(type(value).__name__)
    return PAGE.format(title=title, fragment=fragment).encode(
        "utf-8", "replace")
