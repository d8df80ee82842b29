"""README.rst and docs/ are the user's contract: their Python examples run
(the snippets of a page, pasted in order before `serve_forever()`, make
one working script), every name they import exists, the settings table
gives the real defaults, and the Sphinx site builds without a warning."""
from __future__ import annotations

import ast
import functools
import glob
import json
import os
import re
import runpy
import signal
import subprocess
import sys
from typing import Any

import pytest

import quick_server
from conftest import get, wait_for
from quick_server import create_server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.rst")
PAGES = [README] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.rst")))

# An RST comment right before a block changes how it is tested:
NOT_RUN = ".. not run in the tests:"  # needs what a test cannot have
RUN_ALONE = ".. run alone in the tests"  # a whole program of its own

BLOCK = re.compile(r"^(?:(\.\. [^\n]*)\n\n)?\.\. code:: python\n\n"
                   r"((?:    .*\n|\n)+)", re.MULTILINE)


def python_blocks(path: str) -> list[tuple[str, str]]:
    """(marker, code) of every Python block of a page."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    return [(marker or "", "\n".join(line[4:] for line in body.splitlines()))
            for marker, body in BLOCK.findall(text)]


def page_id(path: str) -> str:
    return os.path.relpath(path, ROOT)


def test_every_example_is_python_and_uses_existing_names(make_server):
    imported: set[tuple[str, str]] = set()
    used: set[str] = set()
    blocks = [code for path in PAGES for _, code in python_blocks(path)]
    assert len(blocks) >= 40
    for code in blocks:
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.ImportFrom) and node.module and \
                    node.module.startswith("quick_server"):
                imported.update((node.module, alias.name)
                                for alias in node.names)
            elif isinstance(node, ast.Attribute) and \
                    isinstance(node.value, ast.Name) and \
                    node.value.id == "server":
                used.add(node.attr)
    assert {("quick_server", "create_server"), ("quick_server", "msg"),
            ("quick_server", "setup_restart")} <= imported
    assert {"json_post", "json_worker", "cmd", "bind_proxy", "cache",
            "get_token_obj", "link_worker_js", "mirror_worker_js"} <= used
    missing = [f"{module}.{name}" for module, name in imported
               if not hasattr(__import__(module, fromlist=[name]), name)]
    assert not missing
    server = make_server(start=False)
    assert not [name for name in used if not hasattr(server, name)]


PRELUDE = '''\
import sys
from quick_server import create_server, msg
addr, port = "127.0.0.1", 0
server = create_server((addr, port))
server.no_command_loop = True
server.bind_path("/", "www")
server.add_default_white_list()
'''

EPILOGUE = '''
server.auto_restart = False  # a test must not restart itself
print("listening on", server.server_port, flush=True)
try:
    server.serve_forever()
finally:
    server.server_close()
'''


def make_site(folder: Any) -> None:
    www = folder / "www"
    www.mkdir()
    (www / "index.html").write_text("<h1>tour</h1>")
    (folder / "templates").mkdir()
    (folder / "settings.toml").write_text("")


def run_script(folder: Any, code: str) -> tuple[subprocess.Popen, int]:
    """Runs `code` as a script in `folder`; returns it and its port."""
    script = folder / "tour.py"
    script.write_text(code)
    proc = subprocess.Popen(
        [sys.executable, str(script)], cwd=folder, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": ROOT})
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the script prints its port, or dies
    if not line.startswith("listening on"):
        proc.kill()
        raise AssertionError(f"{script} did not start:\n{line}"
                             f"{proc.communicate(timeout=10)[1]}")
    return proc, int(line.split()[-1])


def stop_script(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        err = proc.communicate(timeout=20)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    return err


def snippets(path: str) -> str:
    return "\n".join(code for marker, code in python_blocks(path)
                     if not marker.startswith((NOT_RUN, RUN_ALONE)))


def check_readme(port: int, folder: Any) -> None:
    """What the README's snippets promise, asked of the script they make."""
    from quick_server import rpc_call, worker_request
    status, _, body = get(port, "/json_request", "POST", b'{"a": 1}',
                          {"Content-Type": "application/json"})
    assert (status, json.loads(body)) == (200, {"post": {"a": 1}})
    assert get(port, "/text_request/x")[2] == b"plain text"
    status, headers, body = get(port, "/hello")
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert b"<h1>Hello</h1>" in body  # (and the live-reload script)
    assert get(port, "/user_details", "POST", b"{}")[0] == 401
    status, _, body = get(port, "/user_details", "POST", b"{}",
                          {"Authorization": "Bearer 7f3a"})
    assert status == 200 and b'"ada"' in body
    answer = rpc_call(f"http://127.0.0.1:{port}/api/order",
                      {"item": "apple", "qty": 2}, dict)
    assert answer == {"total": 6}
    assert get(port, "/api/report")[0] == 200
    status, _, body = get(port, "/openapi.json")
    document = json.loads(body)
    assert {"/api/order", "/api/resize"} <= set(document["paths"])
    assert document["paths"]["/api/resize"]["post"]["operationId"] == \
        "resize"
    assert get(port, "/api/docs")[0] == 200
    seen: list[Any] = []
    assert worker_request(f"http://127.0.0.1:{port}/api/resize",
                          {"width": 4, "height": 3},
                          on_progress=seen.append) == {"pixels": 12}
    assert seen[-1] == {"done": 3, "total": 3, "message": "resizing"}
    result = worker_request(f"http://127.0.0.1:{port}/primes", {"n": 100})
    assert result == {"n": 100, "primes": 25}
    assert get(port, "/js/worker.js")[0] == 200
    status, _, script = get(port, "/api.js")
    assert status == 200 and b"$count_primes as count_primes" in script
    assert b"export declare function order(request: OrderRequestInput" in \
        get(port, "/api.d.ts")[2]
    status, _, body = get(port, "/api/weather?city=Oslo")
    assert json.loads(body) == {"city": "Oslo", "sky": "clear"}
    assert worker_request(f"http://127.0.0.1:{port}/slow_sum",
                          {"n": 10}) == {"sum": 45}
    status, _, body = get(port, "/api/visits", "POST",
                          b'{"token": "abc"}')
    assert (status, json.loads(body)) == (200, {"visits": 1})


def check_files(port: int, folder: Any) -> None:
    """The file job of docs/files.rst: an upload turned into a file by a
    job process, saved by send_files."""
    from quick_server import send_files
    (folder / "notes.txt").write_text("hello\nfile job\n")
    (folder / "got").mkdir()
    answer = send_files(f"http://127.0.0.1:{port}/api/upper",
                        files={"file": str(folder / "notes.txt")},
                        save_to=str(folder / "got"), timeout=60)
    assert answer.status == 200
    assert os.path.basename(answer.path) == "upper-notes.txt"
    with open(answer.path, encoding="utf-8") as handle:
        assert handle.read() == "HELLO\nFILE JOB\n"


CHECKS = {"README.rst": check_readme, "docs/files.rst": check_files}


RUNNABLE = [path for path in PAGES if snippets(path).strip()]


@pytest.mark.parametrize("path", RUNNABLE, ids=page_id)
def test_the_snippets_of_a_page_make_one_working_script(path, tmp_path):
    code = snippets(path)
    make_site(tmp_path)
    proc, port = run_script(tmp_path, PRELUDE + code + EPILOGUE)
    try:
        assert get(port, "/")[0] == 200
        check = CHECKS.get(page_id(path))
        if check is not None:
            check(port, tmp_path)
    finally:
        stop_script(proc)


def test_most_pages_have_snippets_that_run():
    """Only pages of prose and reference have nothing to run."""
    assert len(RUNNABLE) >= 10, [page_id(path) for path in RUNNABLE]


@pytest.mark.parametrize(
    "path,index",
    [(path, index) for path in PAGES
     for index, (marker, _) in enumerate(python_blocks(path))
     if marker.startswith(RUN_ALONE)],
    ids=lambda value: page_id(value) if isinstance(value, str) else
    str(value))
def test_whole_programs_of_the_docs_run(path, index, tmp_path):
    make_site(tmp_path)
    code = python_blocks(path)[index][1]
    (tmp_path / "alone.py").write_text(code)
    done = subprocess.run([sys.executable, "alone.py"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": ROOT})
    assert done.returncode == 0, done.stderr
    assert "serving on port" in done.stdout


SETTINGS = os.path.join(ROOT, "docs", "settings.rst")


def settings_table(part: int) -> str:
    """The text of the settings page before (0) or after (1) the command
    line's table."""
    with open(SETTINGS, encoding="utf-8") as handle:
        return handle.read().split("\nCommand line\n", 1)[part]


def test_the_settings_table_gives_every_default():
    server = create_server(("127.0.0.1", 0))
    server.server_close()
    text = settings_table(0)
    rows = re.findall(r"^   \* - ``(.*)``\n     - ``(.*)``$",
                      text, re.MULTILINE)
    assert len(rows) >= 30
    for attr, default in rows:
        value: Any = server
        for part in attr.split("."):
            value = getattr(value, part)
        expected = eval(default, {"os": os, "sys": sys})  # noqa: S307
        assert value == expected, (attr, value, expected)
    # the last column: the old names, read on the server too
    old = re.findall(r"^   \* - ``(.*)``\n(?:     - .*\n(?:       .*\n)*){2}"
                     r"     -(.*)$", text, re.MULTILINE)
    assert [name for name, _ in old] == [name for name, _ in rows]
    aliases = {alias: name for name, names in old
               for alias in re.findall(r"``([\w.]+)``", names)}
    assert len(aliases) >= 40 and "limits.max_line" in aliases
    for alias, name in aliases.items():
        assert functools.reduce(getattr, alias.split("."), server) == \
            functools.reduce(getattr, name.split("."), server), alias


def test_the_command_line_table_lists_every_option():
    documented = set(re.findall(r"``(-[-\w]+)", settings_table(1)))
    helped = subprocess.run(
        [sys.executable, "-m", "quick_server", "--help"], capture_output=True,
        text=True, timeout=30, env={**os.environ, "PYTHONPATH": ROOT},
        check=True).stdout
    listed = helped.split("options:", 1)[1]
    options = {
        flag for line in listed.splitlines() if line.startswith("  -")
        for flag in re.findall(r"(?<![\w-])(--?[a-z][-a-z]*)",
                               line.split("  ", 2)[1])}
    assert options == documented


def test_the_sphinx_site_builds_without_a_warning(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-q",
         "-b", "html", os.path.join(ROOT, "docs"), str(tmp_path)],
        capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "api.html").exists()
    api = (tmp_path / "api.html").read_text(encoding="utf-8")
    assert "create_server" in api and "rpc_call" in api


def test_a_broken_reference_fails_the_build(tmp_path):
    """The build above would catch one: a page with a reference to a page
    that does not exist fails."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "conf.py").write_text("project = 'x'\n")
    (docs / "index.rst").write_text("X\n=\n\nSee :doc:`nowhere`.\n")
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-E", "-q", "-b", "html",
         str(docs), str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "nowhere" in done.stderr
