"""The service loop's answers without a server: whatever a handler
returns or raises, the job gets a result or an error (never nothing), and
the loop fits its heartbeat and wait to the server's timeout."""
from __future__ import annotations

import json

import pytest

from quick_server.service import (POLL_WAIT, Refused, Service,
                                  ServiceClient)


class FakeClient(ServiceClient):
    """Records posts; refuses bodies longer than `limit` bytes."""

    def __init__(self, limit=1 << 20):
        super().__init__("http://unused", "fake", "key")
        self.limit = limit
        self.posted = []

    def post(self, job, body):
        if len(body) > self.limit:
            raise Refused("HTTP 413: Request Entity Too Large")
        self.posted.append((job, body))


class BadMessage(Exception):
    def __str__(self):
        raise RuntimeError("no message")


def posted(handler, limit=1 << 20):
    client = FakeClient(limit)
    Service(client, handler, 10.0)._run_job("job1", {"n": 1})
    assert [job for job, _ in client.posted] == ["job1"]
    return json.loads(client.posted[0][1])


def raise_(err):
    raise err


def test_results_and_errors_are_posted():
    assert posted(lambda p: p["n"] + 1) == {"result": 2}
    assert posted(lambda p: float("nan")) == {"result": None}  # as served
    assert posted(lambda p: {2, 1}) == {"result": [1, 2]}  # (issue 25)
    assert posted(lambda p: raise_(KeyError("k"))) == {
        "error": "'k'", "type": "KeyError"}


@pytest.mark.parametrize("result, type_name", [
    (1j, "TypeError"), (b"bytes", "TypeError"), (object(), "TypeError")])
def test_a_result_that_is_not_json_is_an_error(result, type_name):
    body = posted(lambda p: result)
    assert body["type"] == type_name
    assert body["error"].startswith("the result cannot be sent as JSON: ")


def test_a_result_nested_too_deeply_is_an_error():
    deep = []
    for _ in range(100_000):
        deep = [deep]
    body = posted(lambda p: deep)
    assert body["type"] == "ValueError" and "nested" in body["error"]


def test_a_refused_result_is_an_error():
    body = posted(lambda p: "x" * 5000, limit=1000)
    assert body == {"type": "ServiceError", "error": "the server did not "
                    "take the result: HTTP 413: Request Entity Too Large"}


def test_an_exception_whose_message_fails_is_an_error():
    body = posted(lambda p: raise_(BadMessage()))
    assert body == {"type": "BadMessage",
                    "error": "<the BadMessage's message cannot be shown>"}


@pytest.mark.parametrize("asked, timeout, heartbeat, wait", [
    (10.0, 5.0, 5.0 / 3, 5.0), (1.0, 30.0, 1.0, POLL_WAIT),
    (10.0, None, 10.0, POLL_WAIT), (10.0, 600.0, 10.0, POLL_WAIT)])
def test_heartbeat_and_wait_fit_the_servers_timeout(asked, timeout,
                                                    heartbeat, wait):
    service = Service(FakeClient(), lambda p: p, asked)
    service._fit(timeout)  # noqa: SLF001
    assert (service.heartbeat, service.wait) == (pytest.approx(heartbeat),
                                                 wait)


@pytest.mark.parametrize("answer", [b"[" * 5000 + b"]" * 5000, b"{nope",
                                    b"\xff\xfe"])
def test_an_answer_that_is_not_json_is_a_failed_call(make_server, answer):
    """A service's client gets an OSError (tried again like a network
    error) from an answer it cannot decode, never a crash of its loop."""
    from conftest import run_in_thread
    from quick_server import Response

    server = make_server(start=False)

    @server.text_post("/services")
    def _register(req, args):
        return Response(answer, 200, "application/json")

    run_in_thread(server)
    client = ServiceClient(f"http://127.0.0.1:{server.port}/services",
                           "resize", "key")
    with pytest.raises(OSError, match="not JSON"):
        client.register()
