"""The smaller public surface (issue 18.5): a route's kind is checked when
it is registered, and the client errors name the HTTP status alike. Pure:
no server serves, no socket is bound."""
from __future__ import annotations

import pickle

import pytest

from quick_server import QuickServer, RpcError, WorkerError
from quick_server.client import job_http_error
from quick_server.http.routing import KINDS, Route


@pytest.fixture
def server():
    made = QuickServer(("127.0.0.1", 0), bind_and_activate=False)
    yield made
    made.server_close()


def handler(req, args):
    return {}


@pytest.mark.parametrize("kind", ["jsn", "JSON", "", "htm"])
def test_an_unknown_route_kind_is_refused_at_registration(server, kind):
    """`kind="jsn"` used to answer as text without a word."""
    with pytest.raises(ValueError) as err:
        server.add_route("GET", kind, "/x", handler)
    assert "'json', 'text', 'html'" in str(err.value) and \
        repr(kind) in str(err.value)
    with pytest.raises(ValueError):
        Route("GET", "/x", kind, handler)
    assert server.add_json_get_mask("/x", handler) is None  # still free


@pytest.mark.parametrize("kind", KINDS)
def test_the_known_kinds_register(server, kind):
    server.add_route("POST", kind, f"/{kind}", handler)
    assert Route("GET", "/y", kind, handler).kind == kind


def test_worker_and_rpc_errors_name_the_status_alike():
    """`status` on both; `status_code` stays WorkerError's older name."""
    failed = job_http_error(500, '{"error": {"type": "KeyError", '
                                 '"message": "k"}}')
    assert (failed.status, failed.status_code) == (500, 500)
    assert (failed.error_type, failed.error_message) == ("KeyError", "k")
    assert WorkerError("no answer").status is None
    assert WorkerError("no answer").status_code is None
    assert WorkerError("x", status=404).status_code == 404
    assert RpcError(404, "x").status == 404
    copy = pickle.loads(pickle.dumps(WorkerError("x", 502)))
    assert (copy.status, copy.status_code, str(copy)) == (502, 502, "x")
