"""`server.settings` wired in (18.3): the server's old names, its parts
(`workers`, `limits`, `reloader.live`, the services hub, the command
loop) and its answers read the one settings object; every documented
name can be set before `serve_forever`; settings that do not fit together
stop `serve_forever` before anything starts."""
from __future__ import annotations

import socket

import pytest

from conftest import get, run_in_thread, wait_for
from quick_server.http.livescript import LIVE_STREAM_PATH


def test_the_old_names_and_the_parts_read_the_settings(make_server):
    server = make_server(start=False)
    settings = server.settings
    server.idle_timeout = 5
    assert settings.http.idle_timeout == 5
    settings.log.slow_request = 0.5
    assert server.slow_request == 0.5
    with pytest.raises(TypeError, match=r"^settings\.http\.idle_timeout "
                       r"must be a number of seconds > 0, got 'x'"):
        server.idle_timeout = "x"
    assert server.idle_timeout == 5
    server.limits.head_timeout = 0.3
    assert settings.http.head_timeout == 0.3
    server.workers.max_queue = 3
    assert settings.jobs.max_queue == 3
    server.max_workers = 2
    assert server.workers.max_workers == 2
    assert server.workers.runners.threads.capacity == 2
    server.workers.cancel_grace = 2.0
    assert settings.jobs.cancel_grace == 2.0
    settings.dev.prompt = "$ "
    settings.dev.history_file = None
    assert (server.commands.prompt, server.commands.history_file) == \
        ("$ ", None)
    with pytest.raises(AttributeError, match="did you mean 'max_age'"):
        settings.static.max_agee = 5


def test_live_reload_listeners_can_be_bounded_before_serving(make_server,
                                                             tmp_path):
    """docs/live.rst's `server.reloader.live.max_listeners` was an
    AttributeError until serving started (`live` was None)."""
    server = make_server(start=False)
    server.live_reload = True
    server.reloader.live.max_listeners = 1
    assert server.settings.dev.max_listeners == 1
    run_in_thread(server)
    with socket.create_connection(("127.0.0.1", server.port), 10) as sock:
        sock.sendall(f"GET {LIVE_STREAM_PATH} HTTP/1.1\r\nHost: a\r\n"
                     f"\r\n".encode())
        seen = b""
        while b"event: hello" not in seen:
            chunk = sock.recv(4096)
            assert chunk, seen
            seen += chunk
        status, headers, _ = get(server.port, LIVE_STREAM_PATH)
        assert status == 503 and headers["retry-after"] == "5"
        server.shutdown()  # ends the stream


def test_settings_that_do_not_fit_stop_serve_forever_first(make_server):
    server = make_server(start=False)
    server.max_upload_size = 1000  # < max_file_size: no file fits
    origins = ["http://localhost:3000"]
    server.cross_origin = origins
    origins.append("localhost:4000")  # changed in place: not an origin
    with pytest.raises(ValueError) as err:
        server.serve_forever()
    assert "settings.http.max_upload_size (1000) must be at least " \
        "settings.http.max_file_size" in str(err.value)
    assert "settings.http.cross_origin" in str(err.value)
    assert server._serving is None  # nothing started  # noqa: SLF001
    server.max_upload_size = None
    origins.pop()
    run_in_thread(server)
    assert wait_for(lambda: get(server.port, "/nothing")[0] == 404,
                    what="the server, serving once the settings fit")


def test_max_processes_says_the_pool_is_used_without_making_it(make_server):
    server = make_server(start=False)
    runners = server.workers.runners
    assert not server.settings.is_set("jobs.max_processes")
    server.max_processes = 2
    assert server.settings.jobs.max_processes == 2
    assert server.settings.is_set("jobs.max_processes")
    assert runners._processes is None  # made when serving starts  # noqa


def test_settings_changed_while_serving_apply_to_the_next_request(
        make_server):
    server = make_server()

    @server.json_post("/echo")
    def _echo(req, args):
        return args["post"]

    assert get(server.port, "/echo", "POST", b'{"a": "' + b"x" * 50 + b'"}',
               {"Content-Type": "application/json"})[0] == 200
    server.settings.http.max_body_size = 20
    assert get(server.port, "/echo", "POST", b'{"a": "' + b"x" * 50 + b'"}',
               {"Content-Type": "application/json"})[0] == 413
    origin = {"Origin": "http://localhost:3000"}
    assert "access-control-allow-origin" not in get(
        server.port, "/nothing", headers=origin)[1]
    server.settings.http.cross_origin = ["http://localhost:3000"]
    assert get(server.port, "/nothing", headers=origin)[1][
        "access-control-allow-origin"] == "http://localhost:3000"
    policy = server._cors  # noqa: SLF001
    get(server.port, "/nothing", headers=origin)
    assert server._cors is policy  # parsed once per value  # noqa: SLF001
    server.cross_origin = True
    assert get(server.port, "/nothing", headers=origin)[1][
        "access-control-allow-origin"] == "*"
