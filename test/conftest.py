"""Fixtures: real servers on free loopback ports, and raw HTTP helpers."""
from __future__ import annotations

import atexit
import http.client
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Iterator

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

# what servers keep in the user's cache folder (job stores, the dev
# certificate) goes to a folder of this test run, also for the servers
# the tests start as processes
# (the user's own cache folder keeps what test runs share: TypeScript)
_USER_CACHE = os.environ.get("XDG_CACHE_HOME") or os.path.join(
    os.path.expanduser("~"), ".cache")
_CACHE = tempfile.mkdtemp(prefix="quick-server-test-cache-")
os.environ["XDG_CACHE_HOME"] = _CACHE
atexit.register(shutil.rmtree, _CACHE, True)

from quick_server import QuickServer, create_server  # noqa: E402


def listening_socket(host: str = "127.0.0.1") -> tuple[socket.socket, int]:
    """A socket listening on a free port of `host`, and that port, for a
    server process to adopt (`start_process(args, sock)`): the port is
    never free between the test taking it and the server serving it."""
    sock = socket.create_server((host, 0),
                                backlog=QuickServer.request_queue_size)
    return sock, sock.getsockname()[1]


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port where connections are refused: bound (so no one
    else takes it) but not listening, for the test's duration."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def run_in_thread(server: QuickServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def make_server() -> Iterator[Callable[..., QuickServer]]:
    """Returns `make(**kwargs)`: a started server on 127.0.0.1 (free
    port); `start=False` leaves starting to the test."""
    made: list[tuple[QuickServer, threading.Thread | None]] = []

    def make(start: bool = True, addr: str = "127.0.0.1",
             **kwargs: Any) -> QuickServer:
        server = create_server((addr, 0), **kwargs)
        server.no_command_loop = True
        server.suppress_noise = True
        if start:
            made.append((server, run_in_thread(server)))
        else:
            made.append((server, None))
        return server

    yield make
    for server, thread in made:
        if thread is not None:
            server.shutdown()
            thread.join(10)
        server.server_close()


@pytest.fixture
def www(tmp_path: Any) -> str:
    """A folder to serve, with a secret file next to it."""
    root = tmp_path / "www"
    (root / "sub").mkdir(parents=True)
    (root / "index.html").write_text("<h1>index</h1>")
    (root / "app.js").write_text("console.log(1);")
    (root / "data.json").write_text('{"a": 1}')
    (root / "sub" / "page.html").write_text("sub page")
    (root / "noindex").mkdir()
    (root / "noindex" / "a.txt").write_text("a")
    (root / "secret.key").write_text("SECRET")
    (root / ".hidden.html").write_text("HIDDEN")
    (root / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    (tmp_path / "outside.txt").write_text("OUTSIDE")
    return str(root)


def get(port: int, path: str, method: str = "GET", body: bytes | None = None,
        headers: dict[str, str] | None = None, host: str = "127.0.0.1"
        ) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, \
            data
    finally:
        conn.close()


def raw(port: int, data: bytes, timeout: float = 5.0,
        half_close: bool = False) -> bytes:
    """Sends raw bytes and reads until the server closes (or timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) \
            as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def statuses(response: bytes) -> list[int]:
    """Status codes of every response in a raw byte stream."""
    return [int(code) for code in
            re.findall(rb"HTTP/1\.1 ([0-9]{3}) [A-Za-z]", response)]


def start_process(args: list[str], sock: socket.socket | None = None,
                  stdin_pipe: bool = False, serving: bool = True,
                  **kwargs: Any) -> subprocess.Popen:
    """Starts `python ARGS` and waits until it serves (unless `serving` is
    False: the test then waits for what it needs); its port is
    `proc.port`. The server adopts the listening socket `sock` (from
    `listening_socket()`), handed over as a restart hands its sockets to
    the next process (QUICK_SERVER_FDS); this process's copy is closed.
    Without `sock` (a script under `setup_restart()`, whose supervisor
    would keep a handed socket from its child) the server listens on
    port 0 and prints its URL, from which the port is read. With
    `stdin_pipe` standard input is a pipe (`proc.stdin`) for commands;
    `kwargs` go to Popen."""
    options: dict[str, Any] = {
        "stdin": subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
        "stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, **kwargs}
    if sock is not None:
        options["env"] = {**(options.get("env") or os.environ),
                          "QUICK_SERVER_FDS": str(sock.fileno())}
        options["pass_fds"] = [sock.fileno()]
    try:
        proc = subprocess.Popen([sys.executable] + args, **options)
    finally:
        if sock is not None:
            host, port = sock.getsockname()[:2]
            sock.close()  # the child has its own copy now
    proc.early_output = ""  # type: ignore[attr-defined]
    try:
        if sock is None:
            host, port = "127.0.0.1", _announced_port(proc)
        if serving:
            _wait_serving(proc, host, port)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    proc.port = port  # type: ignore[attr-defined]
    return proc


ANNOUNCED = re.compile(r"http://(?:localhost|127\.0\.0\.1):([0-9]+)/")


def _announced_port(proc: subprocess.Popen) -> int:
    """The port in the first URL the server prints, read before anything
    else reads its output (what it printed so far is kept in
    `proc.early_output`, for `stop_process`)."""
    assert proc.stdout is not None, "the URL is read from stdout"
    fd = proc.stdout.fileno()  # read unbuffered: the rest stays in the pipe
    end = time.monotonic() + 15
    text = ""
    while (found := ANNOUNCED.search(text)) is None:
        left = end - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no URL printed: {text}")
        chunk = os.read(fd, 65536) if select.select(
            [fd], [], [], min(left, 0.2))[0] else None
        if chunk == b"":
            proc.wait(10)
            raise AssertionError(f"exited ({proc.returncode}): {text}")
        text += (chunk or b"").decode(errors="replace")
    proc.early_output = text  # type: ignore[attr-defined]
    return int(found.group(1))


def _check_running(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        out = getattr(proc, "early_output", "") + \
            (proc.communicate()[0] or b"").decode()
        raise AssertionError(out or f"exited with {proc.returncode}")


def _wait_serving(proc: subprocess.Popen, host: str, port: int) -> None:
    """Waits until the server accepted a connection (which sends nothing:
    the server closes it on end of input, logging nothing). With a handed
    socket the kernel accepts connections at once; only then serving
    has begun: signals are handled, the command loop reads."""
    end = time.monotonic() + 15
    with socket.create_connection((host, port), 5) as probe:
        probe.shutdown(socket.SHUT_WR)
        probe.settimeout(0.1)
        while time.monotonic() < end:
            try:
                if not probe.recv(4096):
                    return  # closed by the server
            except socket.timeout:
                _check_running(proc)
            except OSError:  # reset: by the server, or as it died
                _check_running(proc)
                return
    raise AssertionError("the server did not start serving")


def end_process(proc: subprocess.Popen, sig: int = signal.SIGTERM,
                timeout: float = 20.0,
                reader: threading.Thread | None = None) -> int:
    """Sends `sig`, waits `timeout` s for the exit (then kills), joins
    the thread that read the output; the exit code."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if reader is not None:
        reader.join(5)
    return proc.returncode


def stop_process(proc: subprocess.Popen) -> tuple[int, str]:
    """SIGTERM, then the exit code and everything the server printed."""
    proc.send_signal(signal.SIGTERM)
    try:
        out = proc.communicate(timeout=10)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, getattr(proc, "early_output", "") + out


@pytest.fixture(scope="session")
def cert(tmp_path_factory: Any) -> str:
    """A self-signed certificate and key for localhost (one PEM file)."""
    folder = tmp_path_factory.mktemp("cert")
    pem = folder / "localhost.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(pem), "-out", str(pem)], check=True,
                   capture_output=True)
    return str(pem)


def tls_client_context() -> Any:
    """A client context that trusts any certificate (tests only)."""
    import ssl
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def https_get(port: int, path: str = "/", context: Any = None,
              host: str = "127.0.0.1") -> tuple[int, bytes]:
    """GET over HTTPS (by default trusting any certificate): status and
    body."""
    conn = http.client.HTTPSConnection(host, port, timeout=10,
                                       context=context or tls_client_context())
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_for(condition: Callable[[], Any], timeout: float = 10.0,
             what: str = "condition") -> Any:
    """Polls `condition()` until it is truthy (returned) or `timeout`
    seconds pass (AssertionError): a verdict never rests on a sleep."""
    end = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class _PhaseSafeStderr:
    """The log's target in tests. A server thread may log after its test's
    last response reached the test (the request log line is written once
    the response is sent), when pytest has suspended capturing between two
    phases: such a line goes to the stream pytest captured, not the
    terminal (shown with the next phase's output; with -s, the terminal)."""

    def __init__(self) -> None:
        self.captured = sys.stderr

    def _target(self) -> Any:
        if sys.stderr is sys.__stderr__ and not self.captured.closed:
            return self.captured
        return sys.stderr

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()


@pytest.fixture(autouse=True)
def _log_into_capture() -> None:
    from quick_server import log
    log.set_log_file(_PhaseSafeStderr())  # type: ignore[arg-type]


CHROMIUM = "/usr/bin/chromium"  # Debian's (test/run.sh installs it)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-quic", "--no-first-run",
                 "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """A headless Chromium driven by Playwright, shared by the session."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as play:
        browser = play.chromium.launch(executable_path=CHROMIUM,
                                       args=CHROMIUM_ARGS)
        yield browser
        browser.close()


TYPESCRIPT = "5.9.3"  # the compiler the type-checking tests install


def _install_typescript() -> str:
    """tsc of npm's `typescript` package, installed once into the user's
    cache folder (reused by later runs); a test fails, with what to do,
    when npm cannot install it."""
    folder = os.path.join(_USER_CACHE, "quick_server-test",
                          f"typescript-{TYPESCRIPT}")
    tsc = os.path.join(folder, "node_modules", "typescript", "bin", "tsc")
    if os.path.exists(tsc):
        return tsc
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        pytest.fail("the TypeScript tests need node and npm (test/run.sh "
                    "installs Debian's nodejs and npm)")
    os.makedirs(os.path.dirname(folder), exist_ok=True)
    building = tempfile.mkdtemp(prefix="typescript-", dir=os.path.dirname(
        folder))
    done = subprocess.run(
        [npm, "install", "--prefix", building, "--no-audit", "--no-fund",
         "--no-save", "--loglevel=error", f"typescript@{TYPESCRIPT}"],
        capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        shutil.rmtree(building, True)
        pytest.fail(f"npm could not install typescript@{TYPESCRIPT} (is "
                    f"the npm registry reachable?):\n{done.stderr}")
    try:
        os.rename(building, folder)  # whole, or not at all
    except OSError:  # another run installed it meanwhile
        shutil.rmtree(building, True)
    return tsc


@pytest.fixture(scope="session")
def tsc() -> Callable[..., subprocess.CompletedProcess]:
    """`tsc(folder, *args)`: runs TypeScript's compiler in `folder`
    (`--strict --noEmit` and the files given, or its tsconfig.json)."""
    compiler = _install_typescript()

    def run(folder: Any, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["node", compiler, *args], cwd=str(folder),
                              capture_output=True, text=True, timeout=120,
                              check=False)
    return run


# Part of the server scripts of test_executors and test_dask (defined in
# their __main__, so that pickle and Dask ship them by value): job
# functions whose exception or result pickle cannot rebuild in the server.
UNREBUILDABLE_JOBS = """
SERVER_PID = os.getpid()


class OddError(Exception):
    # as in many libraries: __init__ takes other arguments than .args,
    # so pickle cannot rebuild it (TypeError in pickle.loads)
    def __init__(self, code, detail):
        super().__init__(f"{detail} (code {code})")


def _rebuild():
    if os.getpid() == SERVER_PID:
        raise TypeError("a Fragile cannot be rebuilt in the server")
    return Fragile()


class Fragile:
    def __reduce__(self):
        return (_rebuild, ())


def odd(payload):
    raise OddError(7, "odd failure")


def fragile(payload):
    return Fragile()
"""


class LogLines:
    """What the log writes, as a file would get it (no colours)."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def line(self, request: str) -> str:
        """The log line of `request` (waited for)."""
        return wait_for(lambda: next((line for line in self.text.splitlines()
                                      if f'"{request} HTTP/1.1"' in line),
                                     None), what=f"the line of {request}")


@pytest.fixture
def lines() -> LogLines:
    """The log's lines from here on (the log goes back to stderr after
    the test)."""
    from quick_server import log
    target = LogLines()
    log.set_log_file(target)  # type: ignore[arg-type]
    return target


def pid_alive(pid: int) -> bool:
    """Whether process `pid` runs (Linux; a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        # gone, or gone between the open and the read
        return False
