"""A `"process"` job function redefined in a later notebook cell takes
effect for the next job (`interactive`; issue 25). The functions are
defined in `__main__`, as a kernel's cells define them, and run in the
server's real job processes."""
from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from quick_server import create_server, worker_request
from quick_server.jobs.following import pid_alive
from quick_server.jobs.main_definitions import Definitions
from quick_server.jobs.processes import ProcessPool
from conftest import wait_for

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"),
                                reason="the 'process' executor forks")

NAMES = ("qs_test_pjob", "qs_test_helper", "qs_test_other")


def cell(code: str) -> None:
    """Runs `code` in `__main__`, as a notebook cell runs."""
    exec(code, vars(sys.modules["__main__"]))  # pylint: disable=exec-used


def main_fn(name: str) -> Any:
    return getattr(sys.modules["__main__"], name)


@pytest.fixture
def notebook() -> Iterator[None]:
    yield
    main = sys.modules["__main__"]
    for name in NAMES:
        if hasattr(main, name):
            delattr(main, name)


@pytest.fixture
def server(notebook: None) -> Iterator[Any]:
    made = create_server(("127.0.0.1", 0))
    made.suppress_noise = True
    made.interactive = True
    yield made
    made.stop()
    made.server_close()


def register(server: Any) -> None:
    """The worker cell: `@server.json_worker(...)` over `qs_test_pjob`."""
    server.json_worker("/pjob", executor="process")(main_fn("qs_test_pjob"))


HELPER_AND_JOB = ("def qs_test_helper():\n    return 1\n"
                  "def qs_test_pjob(args):\n    return qs_test_helper()\n")


def serve(server: Any) -> str:
    """Registers the worker, serves in the background; the worker's URL."""
    register(server)
    server.start_background()
    return f"http://127.0.0.1:{server.port}/pjob"


def test_a_redefined_job_function_runs_its_new_code(server: Any) -> None:
    cell("def qs_test_pjob(args):\n"
         "    return ['v1', __import__('os').getpid()]\n")
    register(server)
    server.start_background()
    url = f"http://127.0.0.1:{server.port}/pjob"
    first, pid = worker_request(url, {})
    assert first == "v1" and pid != os.getpid()

    # the cell is edited and run again: the next job runs the new code
    cell("def qs_test_pjob(args):\n"
         "    return ['v2', __import__('os').getpid()]\n")
    register(server)
    assert worker_request(url, {})[0] == "v2"
    assert worker_request(url, {})[0] == "v2"  # and the one after


def test_a_redefined_helper_takes_effect_without_registering_again(
        server: Any) -> None:
    cell(HELPER_AND_JOB)
    url = serve(server)
    assert worker_request(url, {}) == 1
    cell("def qs_test_helper():\n    return 2\n")  # only the helper's cell
    assert worker_request(url, {}) == 2


def test_without_interactive_the_processes_keep_the_code_they_forked_with(
        server: Any) -> None:
    server.interactive = False  # a script: the template is never renewed
    cell(HELPER_AND_JOB)
    url = serve(server)
    assert worker_request(url, {}) == 1
    cell("def qs_test_helper():\n    return 2\n")
    assert worker_request(url, {}) == 1


def test_a_running_job_finishes_under_its_old_template(notebook: None) -> None:
    """A renewal while a job runs: the job ends with its result, idle
    processes of the old template end, and its template ends after the
    job (no process is left behind)."""
    cell("def qs_test_pjob(gate):\n"
         "    import socket\n"
         "    with socket.create_connection(('127.0.0.1', gate)) as s:\n"
         "        s.recv(1)\n"
         "    return 'old'\n")
    pool = ProcessPool(2)
    pool.follow_main = lambda: True
    gate = socket.socket()
    gate.bind(("127.0.0.1", 0))
    gate.listen(1)
    results: list[Any] = []
    done = threading.Event()

    def on_done(outcome: Any) -> None:
        results.append(outcome)
        done.set()
    try:
        process, _ = pool.run(main_fn("qs_test_pjob"),
                              (gate.getsockname()[1],),
                              lambda p: None, on_done)
        conn, _ = gate.accept()  # the job runs
        old_template = process.template
        cell("def qs_test_pjob(gate):\n    return 'new'\n")
        second = threading.Event()
        new_results: list[Any] = []

        def on_new(outcome: Any) -> None:
            new_results.append(outcome)
            second.set()
        new_process, _ = pool.run(main_fn("qs_test_pjob"), (0,),
                                  lambda p: None, on_new)
        assert new_process.template != old_template  # a new template
        assert second.wait(10) and new_results == [("done", "new")]
        conn.sendall(b"x")  # the old job may finish now
        conn.close()
        assert done.wait(10) and results == [("done", "old")]
        # its process is not reused, and its template ends after it and
        # is reaped (no zombie waits for the next renewal)
        wait_for(lambda: not pid_alive(old_template),
                 what="the old template")
    finally:
        gate.close()
        pool.close()


def test_definitions_see_new_and_redefined_functions_and_classes(
        notebook: None) -> None:
    cell("def qs_test_helper():\n    return 1\n")
    known = Definitions()
    assert not known.changed()
    cell("qs_test_other = 5\n")  # data does not count
    assert not known.changed()
    cell("class qs_test_other:\n    pass\n")  # a new class does
    assert known.changed()
    known = Definitions()
    cell("def qs_test_helper():\n    return 2\n")  # a redefinition does
    assert known.changed()


def test_a_job_started_while_another_renews_the_template(
        notebook: None) -> None:
    """A job that checked for changes and found the template ready, while
    a redefinition made another job renew it (`_control` None for a
    moment), starts in a process of the new template (it once failed
    with an empty AssertionError)."""
    cell("def qs_test_pjob(x):\n    return x\n")
    pool = ProcessPool(2)
    pool.follow_main = lambda: True
    pool.start()
    in_renewal, b_placed = threading.Event(), threading.Event()
    real_reap, real_start = pool._reap_retired, pool.start
    outcomes: list[Any] = []

    def reap(wait: float) -> None:  # inside renew, after `_control = None`
        in_renewal.set()
        b_placed.wait(5)
        real_reap(wait)

    def start(renewing: bool = False) -> None:
        real_start(renewing)
        if threading.current_thread().name == "job-b" and \
                not in_renewal.is_set():  # B is past start(): A renews now
            cell("def qs_test_pjob(x):\n    return -x\n")
            threading.Thread(target=pool.run, args=(
                main_fn("qs_test_pjob"), (1,), lambda p: None,
                outcomes.append)).start()
            in_renewal.wait(5)

    pool._reap_retired = reap  # type: ignore[method-assign]
    pool.start = start  # type: ignore[method-assign]
    failed: list[BaseException] = []

    def job_b() -> None:
        try:
            pool.run(main_fn("qs_test_pjob"), (2,), lambda p: None,
                     outcomes.append)
        except BaseException as exc:  # pylint: disable=broad-except
            failed.append(exc)
        finally:
            b_placed.set()
    try:
        thread = threading.Thread(target=job_b, name="job-b")
        thread.start()
        thread.join(10)
        assert not failed
        wait_for(lambda: len(outcomes) == 2, what="both jobs")
        assert sorted(outcomes) == [("done", -2), ("done", -1)]
    finally:
        pool.close()
