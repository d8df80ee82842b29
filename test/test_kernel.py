"""Serving from a Jupyter notebook, in a real kernel (issue 25): the
cells of README.rst's "From a notebook" run in an ipykernel started by
`jupyter_client` with this interpreter, as a user runs them: the server in
the background, a route re-run with a change answers the new way, the
server cell re-run replaces the server, `stop()` frees the port. In a
kernel, `setup_restart()` is one warning line (the kernel is not started
anew), request lines that succeeded are not printed (a failed one is),
and `serve_forever()` in a cell has no command loop, leaves SIGTERM to
the kernel and stops at the kernel's interrupt.

The kernel imports quick_server from this checkout (PYTHONPATH); this
process never imports ipykernel (its presence turns the notebook
defaults on)."""
from __future__ import annotations

import importlib.util
import json
import os
import queue
import re
import socket
import sys
import time
import urllib.error
import urllib.request
from typing import Any, Iterator

import pytest

from test_docs import NOT_RUN, README, python_blocks

if importlib.util.find_spec("ipykernel") is None:
    pytest.skip("ipykernel is not installed (pip install -e '.[test]')",
                allow_module_level=True)
jupyter_client = pytest.importorskip("jupyter_client")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CELL_TIMEOUT = 30.0  # seconds a cell may take
README_PORT = "8000"  # the port of the README's server cell
# a request line that succeeded, as the log writes one
SUCCEEDED = re.compile(r'"(?:GET|POST) [^"]*" [23]\d\d ')


class Kernel:
    """An ipykernel and a client of it: cells are run as a notebook runs
    them, and everything the kernel prints is kept, cell by cell."""

    def __init__(self, manager: Any) -> None:
        self.manager = manager
        self.client = manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)
        self.printed: list[tuple[str, str]] = []  # (cell's msg_id, text)
        self.errors: dict[str, str] = {}  # msg_id -> the cell's error

    def start(self, code: str) -> str:
        """Starts running `code` as a cell; its msg_id."""
        return str(self.client.execute(code))

    def wait(self, msg_id: str, timeout: float = CELL_TIMEOUT) -> str:
        """Waits for the cell `msg_id` to end; returns what it printed
        (stdout and stderr) and fails on an error in it."""
        deadline = time.monotonic() + timeout
        self._read_until(deadline, lambda msg: (
            msg["msg_type"] == "status" and
            msg["content"]["execution_state"] == "idle" and
            msg["parent_header"].get("msg_id") == msg_id))
        assert msg_id not in self.errors, self.errors[msg_id]
        return self.output(msg_id)

    def run(self, code: str, timeout: float = CELL_TIMEOUT) -> str:
        """Runs `code` as a cell; what it printed."""
        return self.wait(self.start(code), timeout)

    def output(self, msg_id: str) -> str:
        return "".join(text for parent, text in self.printed
                       if parent == msg_id)

    def everything_printed(self, settle: float = 0.5) -> str:
        """All the kernel printed, once it has been quiet for `settle`
        seconds (the output of a server thread may come late)."""
        self._read_until(time.monotonic() + settle, lambda msg: False,
                         quiet=True)
        return "".join(text for _, text in self.printed)

    def _read_until(self, deadline: float, done: Any,
                    quiet: bool = False) -> None:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                if quiet:
                    return
                raise AssertionError("the cell did not end in time; it "
                                     "printed:\n" +
                                     "".join(t for _, t in self.printed))
            try:
                msg = self.client.get_iopub_msg(timeout=min(left, 0.2))
            except queue.Empty:
                continue
            parent = msg["parent_header"].get("msg_id", "")
            content = msg["content"]
            if msg["msg_type"] == "stream":
                self.printed.append((parent, content["text"]))
            elif msg["msg_type"] == "error":
                self.errors[parent] = "\n".join(content["traceback"])
            if done(msg):
                return

    def pid(self) -> int:
        return int(self.run("import os\nprint(os.getpid())").split()[-1])

    def close(self) -> None:
        try:
            self.client.stop_channels()
        finally:
            self.manager.shutdown_kernel(now=True)


@pytest.fixture
def kernel(tmp_path) -> Iterator[Kernel]:
    """A kernel of this interpreter (its own kernel spec, in `tmp_path`)
    that imports quick_server from this checkout; shut down by its
    manager whatever the test did."""
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    spec = tmp_path / "kernels" / "quick-server-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher",
                 "-f", "{connection_file}"],
        "display_name": "quick_server test", "language": "python"}))
    manager = KernelManager(
        kernel_name="quick-server-test",
        kernel_spec_manager=KernelSpecManager(
            kernel_dirs=[str(tmp_path / "kernels")]),
        connection_file=str(tmp_path / "connection.json"))
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("QUICK_SERVER_")}
    env.update(PYTHONPATH=os.pathsep.join(
        [ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p]),
        IPYTHONDIR=str(tmp_path / "ipython"), NO_COLOR="1")
    work = tmp_path / "work"
    work.mkdir()
    manager.start_kernel(cwd=str(work), env=env)
    try:
        started = Kernel(manager)
    except BaseException:
        manager.shutdown_kernel(now=True)
        raise
    try:
        assert started.run("import quick_server\n"
                           "print(quick_server.__file__)").strip() == \
            os.path.join(ROOT, "quick_server", "__init__.py")
        yield started
    finally:
        started.close()


def get(port: int, path: str) -> tuple[int, Any]:
    """Status and JSON answer of GET `path` (127.0.0.1 only)."""
    status, _, body = fetch(port, path)
    return status, json.loads(body) if status == 200 else None


def fetch(port: int, path: str) -> tuple[int, str, bytes]:
    """Status, Content-Type and body of GET `path` (127.0.0.1 only)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}",
                                    timeout=10) as answer:
            return answer.status, answer.headers["Content-Type"], \
                answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], b""


def port_is_free(port: int) -> bool:
    """Nothing accepts on `port`, and it can be bound again."""
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
    return True


def notebook_cells() -> list[str]:
    """The cells of README.rst's "From a notebook", in order."""
    cells = [code for marker, code in python_blocks(README)
             if marker.startswith(NOT_RUN) and "test_kernel.py" in marker]
    assert len(cells) == 5, cells  # server, route, DataFrame, figure, stop
    return cells


def test_the_readme_notebook_in_a_kernel(kernel):
    server_cell, route_cell, frame_cell, figure_cell, stop_cell = \
        notebook_cells()
    assert README_PORT in server_cell and "/api/hello" in route_cell
    pid = kernel.pid()

    # (port 0 the first time; the port it got when the cell runs again)
    said = kernel.run(server_cell.replace(README_PORT, "0"))
    port = int(re.fullmatch(r"serving on http://127\.0\.0\.1:(\d+)/\n",
                            said)[1])
    server_cell = server_cell.replace(README_PORT, str(port))
    kernel.run(route_cell)
    assert get(port, "/api/hello") == (200, {"greeting": "hello"})
    # the route's cell edited and run again: the new answer, one line
    said = kernel.run(route_cell.replace('"hello"', '"hi there"'))
    assert said.count("\n") == 1 and "replaced route GET /api/hello" in said
    assert get(port, "/api/hello") == (200, {"greeting": "hi there"})
    kernel.run(frame_cell)
    status, records = get(port, "/api/sales")
    assert status == 200 and records[0] == {"city": "Oslo", "units": 3}
    kernel.run(figure_cell)
    status, ctype, png = fetch(port, "/sales.png")
    assert (status, ctype, png[:8]) == (200, "image/png", b"\x89PNG\r\n\x1a\n")

    # the server cell run again: a new server on the port, without routes
    said = kernel.run("first = server\n" + server_cell)
    assert f"replacing the server on 127.0.0.1:{port}" in said
    assert kernel.run("print(first.socket.fileno(), server is first)"
                      ).split() == ["-1", "False"]
    assert get(port, "/api/hello")[0] == 404
    kernel.run(route_cell)
    assert get(port, "/api/hello") == (200, {"greeting": "hello"})

    # setup_restart: one warning line, and the same kernel goes on
    said = kernel.run("from quick_server import setup_restart\n"
                      "setup_restart()\n")
    assert said.count("\n") == 1, said
    assert "setup_restart() does nothing in a Jupyter kernel" in said
    assert kernel.pid() == pid and kernel.manager.is_alive()

    # a request that failed is logged; its line is written before the
    # answer to the next request on that connection
    said = kernel.run(
        "import http.client\n"
        f"connection = http.client.HTTPConnection('127.0.0.1', {port})\n"
        "for path in ('/nowhere', '/api/hello'):\n"
        "    connection.request('GET', path)\n"
        "    connection.getresponse().read()\n"
        "connection.close()\n")
    assert '"GET /nowhere HTTP/1.1" 404' in kernel.everything_printed()

    kernel.run(stop_cell)
    assert port_is_free(port)
    printed = kernel.everything_printed()
    assert not SUCCEEDED.search(printed), printed  # 8 requests succeeded
    assert "Traceback" not in printed and "SIGTERM" not in printed


def test_serving_in_a_cell_stops_at_the_kernel_interrupt(kernel):
    said = kernel.run(
        "import signal, threading\n"
        "from quick_server import create_server\n"
        "server = create_server(('127.0.0.1', 0))\n"
        "@server.json_get('/inside')\n"
        "def inside(req, args):\n"
        "    return {'sigterm': repr(signal.getsignal(signal.SIGTERM)),\n"
        "            'threads': [t.name for t in threading.enumerate()]}\n"
        "print(server.server_port)\n"
        "print(repr(signal.getsignal(signal.SIGTERM)))\n")
    port_line, sigterm = said.splitlines()
    port = int(port_line)
    serving = kernel.start("server.serve_forever()\n"
                           "print('served')\n")
    deadline = time.monotonic() + CELL_TIMEOUT
    while True:  # until the cell serves
        try:
            status, inside = get(port, "/inside")
            break
        except OSError:
            assert time.monotonic() < deadline, kernel.everything_printed()
            time.sleep(0.02)
    assert status == 200
    assert inside["sigterm"] == sigterm  # the kernel's own, untouched
    assert "command-loop" not in inside["threads"]
    kernel.manager.interrupt_kernel()  # the notebook's stop button
    said = kernel.wait(serving)  # no KeyboardInterrupt in the cell
    assert said.startswith("served\n") or "\nserved\n" in said, said
    assert port_is_free(port)
    assert kernel.run("print(repr(signal.getsignal(signal.SIGTERM)))"
                      ).strip() == sigterm
    printed = kernel.everything_printed()
    assert "SIGTERM" not in printed.replace(sigterm, "")
    assert not SUCCEEDED.search(printed), printed


def test_restarting_in_a_kernel_only_stops_the_server(kernel):
    pid = kernel.pid()
    said = kernel.run(
        "from quick_server import create_server\n"
        "server = create_server(('127.0.0.1', 0))\n"
        "server.auto_restart = True\n"
        "server.start_background()\n"
        "print(server.server_port)\n")
    *lines, port_line = said.splitlines()
    assert [line for line in lines if "auto_restart" in line] == lines
    assert len(lines) == 1 and "is off in a Jupyter kernel" in lines[0]
    port = int(port_line)
    said = kernel.run("server.stop('restart')  # as the restart command\n"
                      "from quick_server.dev import restart\n"
                      "print(restart._RESTART.is_set())\n")
    assert "no restart in a Jupyter kernel, the server stops" in said
    assert said.endswith("False\n")  # nothing restarts at exit
    assert port_is_free(port)
    assert kernel.pid() == pid and kernel.manager.is_alive()


def test_a_process_worker_redefined_in_a_cell_runs_its_new_code(kernel):
    """The job processes are forked from the kernel; a worker cell edited
    and run again, or a helper's cell alone, takes effect for the next
    job, and no fork notice is printed."""
    said = kernel.run(
        "from quick_server import create_server, worker_request\n"
        "server = create_server(('127.0.0.1', 0))\n"
        "server.start_background()\n"
        "url = f'http://127.0.0.1:{server.server_port}/pjob'\n"
        "def scale():\n"
        "    return 10\n")
    assert said == "", said
    worker_cell = ("@server.json_worker('/pjob', executor='process')\n"
                   "def pjob(args):\n"
                   "    import os\n"
                   "    return ['{0}', args['x'] * scale(), os.getpid()]\n")
    kernel.run(worker_cell.format("v1"))
    first = kernel.run("print(worker_request(url, {'x': 1}))")
    assert first.startswith("['v1', 10, "), first
    assert "replaced worker /pjob" in kernel.run(worker_cell.format("v2"))
    assert kernel.run("print(worker_request(url, {'x': 1})[:2])"
                      ) == "['v2', 10]\n"
    kernel.run("def scale():\n    return 100\n")  # a helper's cell alone
    assert kernel.run("print(worker_request(url, {'x': 1})[:2])"
                      ) == "['v2', 100]\n"
    kernel.run("server.stop()")
    printed = kernel.everything_printed()
    assert "forking" not in printed and "Traceback" not in printed, printed
