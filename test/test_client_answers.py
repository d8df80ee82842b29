"""Malformed answers to the Python clients (16.11): whatever a server
answers (nesting too deep for the parser, the wrong shape, a result that
is not JSON), `worker_request` raises `WorkerError` and `rpc_call`
raises `RpcError`, never a `RecursionError`, `KeyError` or `TypeError`."""
from __future__ import annotations

import json
import pytest

from conftest import run_in_thread
from quick_server import (Response, RpcError, WorkerError, rpc_call,
                          worker_request)

DEEP = "[" * 100_000 + "]" * 100_000  # past any parser's recursion limit
TOO_DEEP = "[" * 101 + "]" * 101  # past the JSON depth the server accepts


def protocol(result: object, **extra: object) -> str:
    return json.dumps({"done": True, "continue": False, "token": "t",
                       "result": result, **extra})


ANSWERS = {
    "deep": (200, DEEP),
    "deep-error": (500, '{"error": ' + DEEP + "}"),
    "too-deep": (200, TOO_DEEP),
    "a-list": (200, "[1, 2]"),
    "no-done": (200, '{"token": "t", "continue": true}'),
    "done-not-bool": (200, '{"done": "yes", "continue": false}'),
    "result-deep": (200, protocol(DEEP)),
    "result-not-json": (200, protocol("{nope")),
    "result-not-text": (200, protocol(12)),
    "cargo-not-list": (200, protocol("x", **{"continue": True})),
    "not-utf8": (200, b"\xff\xfe{}"),
}


@pytest.fixture(scope="module")
def liar():
    """A server whose routes answer the malformed bodies of ANSWERS."""
    from quick_server import create_server
    server = create_server(("127.0.0.1", 0))
    server.no_command_loop = True
    server.suppress_noise = True
    for name, (status, body) in ANSWERS.items():
        def answer(req, args, status=status, body=body):
            return Response(body, status, "application/json")
        server.text_post(f"/{name}")(answer)
    thread = run_in_thread(server)
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()
    thread.join(10)
    server.server_close()


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_worker_request_raises_worker_error(liar, name):
    with pytest.raises(WorkerError) as err:
        worker_request(f"{liar}/{name}", {}, timeout=10)
    if ANSWERS[name][0] == 500:
        assert err.value.status_code == 500


@pytest.mark.parametrize("name", ["deep", "deep-error", "too-deep"])
def test_rpc_call_raises_rpc_error(liar, name):
    with pytest.raises(RpcError) as err:
        rpc_call(f"{liar}/{name}", {}, list)
    assert err.value.status == ANSWERS[name][0]


@pytest.mark.parametrize("name", ["a-list", "not-utf8"])
def test_rpc_call_malformed_answers(liar, name):
    with pytest.raises(RpcError):
        rpc_call(f"{liar}/{name}", {}, dict)


def test_worker_request_asks_again_after_a_gateway_error(make_server):
    """A 502 or 504 (a development proxy while the server restarts) is
    transient for worker_request, as for worker.js: the job still runs."""
    server = make_server(start=False)
    answers = [Response("restarting", 502), Response("restarting", 504)]

    def gateway(req, args, okay):
        return answers.pop(0) if answers else okay

    with server.middlewares(gateway):
        @server.json_worker("/job")
        def _job(payload):
            return {"twice": payload["x"] * 2}

    run_in_thread(server)
    url = f"http://127.0.0.1:{server.port}/job"
    assert worker_request(url, {"x": 21}) == {"twice": 42}
    assert not answers  # both gateway errors were met
