"""Pictures and pages from routes (issue 25): a matplotlib Figure answers
as PNG, or SVG for a client that prefers it; a value with `_repr_html_`
as an HTML page; a DataFrame on a json route stays JSON; `html_get`; a
figure that fails to draw is a 500 and the server goes on. Real servers
on loopback."""
from __future__ import annotations

import asyncio
import http.client
import json
import struct
import threading
from typing import Any

import pytest

from conftest import run_in_thread, wait_for
from quick_server import Response, WorkerError, create_server, \
    worker_request

matplotlib = pytest.importorskip("matplotlib")
pd = pytest.importorskip("pandas")
from matplotlib.figure import Figure  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SIZE, DPI = (3, 2), 40  # inches, dots per inch: 120 x 80 pixels


def figure() -> Figure:
    """A figure made without pyplot (thread-safe, nothing accumulates)."""
    fig = Figure(figsize=SIZE, dpi=DPI)
    fig.add_subplot().plot([1, 3, 2])
    return fig


class Fragment:
    """Anything Jupyter shows as HTML."""

    def _repr_html_(self) -> str:
        return "<p class='x'>a <b>fragment</b> &amp; more</p>"


class NoHtml:
    """`_repr_html_` may say it has nothing (None)."""

    def _repr_html_(self) -> None:
        return None

    def __str__(self) -> str:
        return "plain me"


class BrokenFigure:
    def savefig(self, file: Any, **kwargs: Any) -> None:
        raise ValueError("no room on the canvas")


def styled() -> Any:
    """A pandas Styler (it needs jinja2), else a plain class with HTML:
    the same test either way, never a skip."""
    frame = pd.DataFrame({"a": [1, 2]})
    try:
        import jinja2  # noqa: F401
    except ImportError:
        return Fragment()
    return frame.style.highlight_max()


@pytest.fixture(scope="module")
def server():
    srv = create_server(("127.0.0.1", 0), parallel=True)
    srv.no_command_loop = True
    srv.suppress_noise = True
    get_fig = lambda req, args: figure()  # noqa: E731
    srv.add_json_get_mask("/fig", get_fig)
    srv.add_text_get_mask("/text/fig", get_fig)
    srv.add_html_get_mask("/html/fig", get_fig)
    srv.add_json_get_mask("/pdf", lambda req, args: Response(
        figure(), 201, "application/pdf", [("X-Made", "here")]))
    srv.add_json_get_mask("/csv", lambda req, args: Response(
        figure(), ctype="text/csv"))
    srv.add_json_get_mask("/broken", lambda req, args: BrokenFigure())
    srv.add_json_get_mask("/nested", lambda req, args: {"fig": figure()})
    srv.add_json_get_mask("/fragment", lambda req, args: Fragment())
    srv.add_text_get_mask("/text/fragment", lambda req, args: Fragment())
    srv.add_html_get_mask("/html/fragment", lambda req, args: Fragment())
    srv.add_json_get_mask("/styled", lambda req, args: styled())
    srv.add_json_get_mask("/frame", lambda req, args: pd.DataFrame(
        {"a": [1, 2], "b": ["x", None]}))
    srv.add_text_get_mask("/text/frame", lambda req, args: pd.DataFrame(
        {"a": [1, 2]}))
    srv.add_json_get_mask("/nohtml", lambda req, args: NoHtml())
    srv.add_text_get_mask("/text/nohtml", lambda req, args: NoHtml())
    srv.add_json_get_mask("/named", lambda req, args: type(
        "<i>x</i>", (), {"_repr_html_": lambda self: "<p>ok</p>"})())
    srv.add_html_get_mask("/page", lambda req, args: "<h1>héllo</h1>")
    srv.add_html_post_mask("/page", lambda req, args: f"<p>{len(args['post'])}"
                                                      f"</p>")
    srv.add_html_get_mask("/bytes", lambda req, args: b"<h1>raw</h1>")
    srv.add_html_get_mask("/number", lambda req, args: 42)

    async def later(req: Any, args: Any) -> Figure:
        await asyncio.sleep(0)
        return figure()
    srv.add_html_get_mask("/async/fig", later)
    srv.json_worker("/work", executor="thread")(lambda payload: figure())
    thread = run_in_thread(srv)
    yield srv
    srv.shutdown()
    thread.join(10)
    srv.server_close()


def ask(server: Any, path: str, accept: str | None = None,
        method: str = "GET", body: bytes | None = None
        ) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers (as sent: a list, names lowercased) and body."""
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1],
                                      timeout=20)
    try:
        headers = {} if accept is None else {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, [(k.lower(), v) for k, v in resp.getheaders()], \
            resp.read()
    finally:
        conn.close()


def field(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in headers if key == name), None)


def varies(headers: list[tuple[str, str]]) -> set[str]:
    return {item.strip().lower() for key, value in headers if key == "vary"
            for item in value.split(",")}


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (no imaging library)."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("path", ["/fig", "/text/fig", "/html/fig"])
def test_a_figure_answers_as_png_of_its_size(server, path):
    code, headers, body = ask(server, path)
    assert code == 200, body
    assert field(headers, "content-type") == "image/png"
    assert png_size(body) == (SIZE[0] * DPI, SIZE[1] * DPI)
    assert "accept" in varies(headers)


def test_svg_for_a_client_that_prefers_it(server):
    code, headers, body = ask(server, "/fig", "image/svg+xml")
    assert code == 200
    assert field(headers, "content-type") == "image/svg+xml"
    assert b"<svg" in body and b'width="216pt"' in body  # 3 in * 72 pt
    assert "accept" in varies(headers)


@pytest.mark.parametrize("accept, media", [
    ("image/png;q=0.5, image/svg+xml", "image/svg+xml"),
    ("image/svg+xml;q=0.5, image/png", "image/png"),
    ("image/*", "image/png"),
    ("*/*", "image/png"),
    ("image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
     "image/png"),  # Chrome's <img>: svg and png equal, png first
    ("text/html", "image/png"),  # neither: the default, not a 406
])
def test_q_values_choose_the_format(server, accept, media):
    code, headers, body = ask(server, "/text/fig", accept)
    assert (code, field(headers, "content-type")) == (200, media)
    assert body.startswith(PNG_SIGNATURE) == (media == "image/png")


def test_a_response_names_the_format_and_keeps_its_code(server):
    code, headers, body = ask(server, "/pdf", "image/svg+xml")
    assert (code, field(headers, "content-type")) == (201, "application/pdf")
    assert body.startswith(b"%PDF") and field(headers, "x-made") == "here"
    assert "accept" not in varies(headers)  # the handler chose
    assert ask(server, "/csv")[0] == 500  # no picture is a CSV


def test_an_async_handler_figure(server):
    code, headers, body = ask(server, "/async/fig")
    assert (code, field(headers, "content-type")) == (200, "image/png")
    assert png_size(body) == (120, 80)


def test_a_figure_that_fails_to_draw_is_a_500_and_serving_goes_on(
        server, lines):
    code, headers, body = ask(server, "/broken", "application/json")
    assert code == 500
    assert json.loads(body)["type"] == "RenderError"  # a local client
    assert "no room on the canvas" in json.loads(body)["error"]
    wait_for(lambda: "drawing the BrokenFigure returned by the handler "
                     "as PNG failed: ValueError: no room on the canvas"
             in lines.text)
    code, _, body = ask(server, "/fig")
    assert code == 200 and body.startswith(PNG_SIGNATURE)


def test_a_figure_inside_data_is_a_500_that_says_why(server, lines):
    assert ask(server, "/nested")[0] == 500
    wait_for(lambda: "a picture (it has savefig) answers as PNG or SVG "
                     "only when a route's handler returns it itself"
             in lines.text)


def test_a_worker_that_returns_a_figure_fails_clearly(server):
    url = f"http://127.0.0.1:{server.server_address[1]}/work"
    with pytest.raises(WorkerError) as err:
        worker_request(url, {})
    assert "a picture (it has savefig)" in str(err.value.error_message)


def test_figures_drawn_at_once_are_all_whole(server):
    sizes: list[Any] = []

    def fetch(accept: str) -> None:
        code, headers, body = ask(server, "/fig", accept)
        sizes.append(png_size(body) if accept == "image/png"
                     else body.rstrip().endswith(b"</svg>"))
    threads = [threading.Thread(target=fetch, args=(accept,))
               for accept in ["image/png", "image/svg+xml"] * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(map(str, sizes)) == sorted(
        ["(120, 80)"] * 4 + ["True"] * 4)


@pytest.mark.parametrize("path", ["/fragment", "/text/fragment",
                                  "/html/fragment"])
def test_a_value_with_repr_html_answers_as_a_page(server, path):
    code, headers, body = ask(server, path)
    assert code == 200
    assert field(headers, "content-type") == "text/html; charset=utf-8"
    assert body.startswith(b"<!DOCTYPE html>")
    assert b'<meta charset="utf-8">' in body
    # the fragment is the server's own HTML: as it is, not escaped
    assert b"<p class='x'>a <b>fragment</b> &amp; more</p>" in body
    assert body.rstrip().endswith(b"</body></html>")


def test_a_styler_answers_as_its_table(server):
    code, headers, body = ask(server, "/styled")
    assert (code, field(headers, "content-type")) == (
        200, "text/html; charset=utf-8")
    assert (b"fragment" if isinstance(styled(), Fragment) else
            b"<table") in body


def test_the_page_title_is_escaped(server):
    body = ask(server, "/named")[2]
    assert b"<title>&lt;i&gt;x&lt;/i&gt;</title>" in body
    assert b"<p>ok</p>" in body


def test_a_dataframe_on_a_json_route_stays_json(server):
    code, headers, body = ask(server, "/frame", "text/html")
    assert field(headers, "content-type") == "application/json"
    assert json.loads(body) == [{"a": 1, "b": "x"}, {"a": 2, "b": None}]


def test_a_dataframe_on_a_text_route_is_its_html_table(server):
    code, headers, body = ask(server, "/text/frame")
    assert field(headers, "content-type") == "text/html; charset=utf-8"
    assert b"<table" in body


def test_repr_html_that_says_none(server):
    code, _, body = ask(server, "/nohtml")  # JSON cannot, HTML has none
    assert code == 500 and b"its _repr_html_ returned None" in body, body
    code, headers, body = ask(server, "/text/nohtml")
    assert (code, body) == (200, b"plain me")
    assert field(headers, "content-type") == "text/plain; charset=utf-8"


def test_json_default_comes_before_a_page(make_server):
    srv = make_server()
    srv.json_default = lambda value: {"html": True} \
        if isinstance(value, Fragment) else str(value)
    srv.add_json_get_mask("/f", lambda req, args: Fragment())
    srv.add_json_get_mask("/fig", lambda req, args: figure())
    code, headers, body = ask(srv, "/f")
    assert json.loads(body) == {"html": True}
    # a picture is never data: not even a catch-all json_default takes it
    code, headers, body = ask(srv, "/fig")
    assert body.startswith(PNG_SIGNATURE)


def test_html_routes(server):
    code, headers, body = ask(server, "/page")
    assert (code, body) == (200, "<h1>héllo</h1>".encode())
    assert field(headers, "content-type") == "text/html; charset=utf-8"
    code, headers, body = ask(server, "/page", method="POST",
                              body=b'{"a": 1, "b": 2}')
    assert (code, body) == (200, b"<p>2</p>")
    code, headers, body = ask(server, "/bytes")
    assert (body, field(headers, "content-type")) == (
        b"<h1>raw</h1>", "text/html")
    assert ask(server, "/number")[2] == b"42"
