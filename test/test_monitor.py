"""Seeing what the server does (issue 22), over HTTP and without sockets:
the shape of `status.json`, the access rules of the dashboard and the
metrics (loopback without a key, no proxy, a loopback Host; with a key:
Bearer, `?key=` then its cookie, masked in the log), `/metrics` read by
Prometheus' own parser, the `status` command, and the pure parts
(latency quantiles, the request ring, waits by design not timed)."""
from __future__ import annotations

import http.client
import json
import threading
import time

import pytest

from conftest import wait_for
from quick_server import report_progress
from quick_server.monitor.access import is_unforwarded_local
from quick_server.monitor.recent import KEPT, RecentRequests
from quick_server.monitor.route_metrics import RouteMetrics, RouteSeries

parser = pytest.importorskip("prometheus_client.parser")  # the test extra


def call(port, path, method="GET", headers=None, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body, headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


@pytest.fixture
def monitored(make_server):
    server = make_server(start=False)
    server.persist_jobs(None)
    server.bind_dashboard()
    server.bind_metrics()
    gate = threading.Event()

    @server.json_get("/api/x")
    def _x(req, args):
        return {"ok": True}

    @server.json_get("/boom")
    def _boom(req, args):
        raise ValueError("boom")

    @server.json_worker("/job")
    def _job(payload):
        report_progress(1, 4, "a quarter")
        gate.wait(10)
        raise KeyError("failed on purpose")

    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.gate = gate
    yield server
    gate.set()
    server.stop()
    thread.join(10)


def test_status_json_has_the_documented_shape(monitored):
    port = monitored.port
    for _ in range(3):
        call(port, "/api/x")
    call(port, "/boom")
    call(port, "/nowhere<script>")
    status, _, body = call(port, "/job", "POST",
                           {"Content-Type": "application/json"},
                           json.dumps({"action": "start", "payload": {}}))
    assert status == 200
    token = json.loads(body)["token"]
    wait_for(lambda: json.loads(call(port, "/_quick_server/status.json")[2])
             ["jobs"][0]["progress"] is not None, 10, "the job's progress")
    data = json.loads(call(port, "/_quick_server/status.json")[2])
    assert set(data) >= {"jobs", "services", "routes", "requests",
                         "process"}
    (job,) = data["jobs"]
    assert job["path"] == "/job" and job["state"] == "running"
    assert job["id"] != token  # never the client's secret
    assert job["progress"] == {"done": 1, "total": 4,
                               "message": "a quarter"}
    assert job["runs_on"] == "thread" and job["elapsed_s"] >= 0
    assert data["job_routes"]["/job"]["running"] == 1
    routes = {row["route"]: row for row in data["routes"]}
    assert routes["GET /api/x"]["count"] == 3
    assert routes["GET /api/x"]["errors"] == 0
    assert 0 < routes["GET /api/x"]["p50_ms"] <= routes["GET /api/x"][
        "p99_ms"]
    assert routes["GET /boom"]["errors"] == 1
    assert all(len(point) == 3 for point in routes["GET /api/x"]["series"])
    paths = [row["path"] for row in data["requests"]]
    assert "/nowhere<script>" in paths  # data, as sent (the page escapes)
    boom = [row for row in data["requests"] if row["path"] == "/boom"][0]
    assert boom["status"] == 500 and "ValueError" in boom["traceback"]
    process = data["process"]
    assert process["connections"] >= 1 and process["threads"] >= 1
    assert process["executor_slots"] == [
        {"executor": "thread", "busy": 1, "total": 8}]
    # the job fails: its error (with the traceback, for this viewer)
    monitored.gate.set()
    wait_for(lambda: json.loads(call(port, "/_quick_server/status.json")[2])
             ["jobs"][0]["state"] == "error", 10, "the job to fail")
    (failed,) = json.loads(call(port, "/_quick_server/status.json")[2])[
        "jobs"]
    assert failed["error"]["type"] == "KeyError"
    assert "failed on purpose" in failed["error"]["traceback"]


def test_without_a_key_only_local_unproxied_loopback_host_clients(
        monitored):
    port = monitored.port
    for path in ("/_quick_server", "/_quick_server/status.json",
                 "/metrics"):
        assert call(port, path)[0] == 200
        assert call(port, path, headers={"X-Forwarded-For": "127.0.0.1"}
                    )[0] == 404  # a proxy forwarded it
        assert call(port, path, headers={"Forwarded": "for=127.0.0.1"}
                    )[0] == 404
        assert call(port, path, headers={"Host": "evil.example"}
                    )[0] == 404  # a DNS-rebinding page
        assert call(port, path, headers={"Host": f"localhost:{port}"}
                    )[0] == 200


def test_with_a_key_bearer_or_query_then_cookie(make_server, lines):
    server = make_server(start=False)
    server.suppress_noise = False
    server.bind_dashboard("/dash", key="s3cret-key")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.port
        assert call(port, "/dash/status.json")[0] == 404
        assert call(port, "/dash/status.json", headers={
            "Authorization": "Bearer wrong"})[0] == 404
        assert call(port, "/dash/status.json", headers={
            "Authorization": "Bearer s3cret-key",
            "X-Forwarded-For": "8.8.8.8"})[0] == 200
        status, headers, _ = call(port, "/dash?key=s3cret-key")
        assert status == 200
        cookie = headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert "s3cret-key" not in cookie and "Path=/dash" in cookie
        value = cookie.split(";")[0]
        assert call(port, "/dash/status.json",
                    headers={"Cookie": value})[0] == 200
        assert call(port, "/dash?key=nope")[0] == 404
        wait_for(lambda: "/dash?key=***" in lines.text, 5, "the log line")
        assert "s3cret-key" not in lines.text and "nope" not in lines.text
    finally:
        server.stop()
        thread.join(10)


def test_cancel_checks_origin_and_cancels_by_id(monitored):
    port = monitored.port
    call(port, "/job", "POST", {"Content-Type": "application/json"},
         json.dumps({"action": "start", "payload": {}}))
    job_id = wait_for(lambda: json.loads(call(
        port, "/_quick_server/status.json")[2])["jobs"], 10)[0]["id"]
    url = f"/_quick_server/jobs/{job_id}/cancel"
    assert call(port, url, "POST", {"Origin": "http://evil.example"}
                )[0] == 403
    status, _, body = call(port, url, "POST",
                           {"Origin": f"http://127.0.0.1:{port}"})
    assert status == 200 and json.loads(body) == {"cancelled": True}
    states = [job["state"] for job in json.loads(call(
        port, "/_quick_server/status.json")[2])["jobs"]]
    assert states == ["cancelled"]


def test_metrics_parse_with_prometheus_own_parser(monitored):
    port = monitored.port
    call(port, "/api/x")
    call(port, '/odd"path\\')
    status, headers, body = call(port, "/metrics")
    assert status == 200 and headers["Content-Type"].startswith(
        "text/plain; version=0.0.4")
    families = {family.name: family for family in
                parser.text_string_to_metric_families(body.decode())}
    assert {"quick_server_requests", "quick_server_request_duration_seconds",
            "quick_server_jobs", "quick_server_services",
            "quick_server_open_connections",
            "process_resident_memory_bytes", "process_open_fds",
            "process_cpu_seconds", "process_start_time_seconds"} <= \
        set(families)
    requests = {(s.labels["route"], s.labels["method"], s.labels["status"]):
                s.value for s in families["quick_server_requests"].samples}
    assert requests[("/api/x", "GET", "2xx")] == 1
    buckets = [s for s in families[
        "quick_server_request_duration_seconds"].samples
        if s.name.endswith("_bucket") and s.labels["route"] == "/api/x"]
    assert [s.labels["le"] for s in buckets][0] == "0.001"
    assert buckets[-1].labels["le"] == "+Inf" and buckets[-1].value == 1


def test_the_status_command_prints_jobs_with_a_bar(monitored, lines):
    port = monitored.port
    call(port, "/job", "POST", {"Content-Type": "application/json"},
         json.dumps({"action": "start", "payload": {}}))
    wait_for(lambda: monitored.status()["jobs"] and
             monitored.status()["jobs"][0]["progress"], 10)
    monitored.commands.execute("status")
    wait_for(lambda: "[#####" in lines.text, 5, "the status text")
    assert "/job" in lines.text and "a quarter" in lines.text


# -- without sockets ----------------------------------------------------------

def test_quantiles_come_from_the_histogram():
    metrics = RouteMetrics()
    for _ in range(98):
        metrics.record("GET /a", "GET", 200, 0.0005, time.time())
    for _ in range(2):
        metrics.record("GET /a", "GET", 500, 2.0, time.time())
    metrics.record("GET /a", "GET", 200, None, time.time())  # waited by design
    (row,) = metrics.describe()
    assert row["count"] == 101 and row["errors"] == 2
    assert row["p50_ms"] <= 1.0 and 1000.0 < row["p99_ms"] <= 2500.0
    assert RouteSeries().quantile(0.5) is None


def test_the_request_ring_is_bounded_and_gives_what_is_new():
    ring = RecentRequests()
    for n in range(KEPT + 50):
        ring.add(time.time(), "127.0.0.1", "GET", f"/{n}", 200, 1, 0.001)
    assert len(ring.since(0)) == KEPT
    assert [seen.path for seen in ring.since(ring.last - 2)] == \
        [f"/{KEPT + 48}", f"/{KEPT + 49}"]
    assert ring.since(ring.last) == []


class _Req:
    def __init__(self, peer, headers):
        self.client_address = (peer, 1)
        self.headers = headers


@pytest.mark.parametrize("peer, headers, allowed", [
    ("127.0.0.1", {"host": "127.0.0.1:8000"}, True),
    ("::1", {"host": "[::1]:8000"}, True),
    ("127.0.0.1", {"host": "localhost"}, True),
    ("127.0.0.1", {"host": "app.localhost:3000"}, True),
    ("127.0.0.1", {"host": "evil.example"}, False),
    ("127.0.0.1", {}, False),
    ("10.0.0.2", {"host": "127.0.0.1"}, False),
    ("127.0.0.1", {"host": "127.0.0.1", "via": "1.1 proxy"}, False),
])
def test_who_is_local_and_unforwarded(peer, headers, allowed):
    assert is_unforwarded_local(_Req(peer, headers)) is allowed
