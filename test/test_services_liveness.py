"""Services' liveness and what their posts mean, with fake services
speaking raw HTTP to a server in this process: a waiting `next` is a sign
of life, a dead service gets no job, asking again is no death, the dead
stay listed (bounded), every answer settles its job, bodies are JSON.

Silence is made, not waited for: a test moves a service's `last_seen`
back and runs the sweep itself."""
from __future__ import annotations

import json
import threading
import time

import pytest

from conftest import get, wait_for
from test_services import KEY, call, hub, protocol  # noqa: F401


def register(port, name="resize"):
    status, answer = call(port, "POST", "/services", {"name": name})
    assert status == 200, answer
    return answer["id"]


def silence(server, *sids):
    """The services `sids` have been silent for a minute; then a sweep."""
    services = server._services  # noqa: SLF001
    for sid in sids:
        services._services[sid].last_seen -= 60  # noqa: SLF001
    services.sweep()


def listed(port):
    return {s["id"]: s for s in call(port, "GET", "/services")[1]}


class Poll(threading.Thread):
    """A `next` long-poll of service `sid`, in the background."""

    def __init__(self, server, sid, wait=10):
        super().__init__(daemon=True)
        self.server, self.sid, self.wait = server, sid, wait
        self.answer = None
        self.start()
        wait_for(lambda: self._polling(), what="the poll to wait")

    def _polling(self):
        service = self.server._services._services.get(self.sid)  # noqa
        return service is not None and service.polls > 0

    def run(self):
        self.answer = call(self.server.port, "GET",
                           f"/services/{self.sid}/next?wait={self.wait}")

    def result(self):
        self.join(15)
        assert not self.is_alive()
        return self.answer


def client_result(port, token):
    status, res = protocol(port, {"action": "get", "token": token,
                                  "wait": 5})
    assert status == 200 and res["done"], res
    return json.loads(res["result"])


def test_the_registration_answer_gives_the_timeout(hub):
    status, answer = call(hub.port, "POST", "/services", {"name": "resize"})
    assert status == 200
    assert answer == {"id": answer["id"], "service_timeout": 0.6}


def test_a_waiting_next_is_a_sign_of_life(hub):
    """A service that long-polls without heartbeats is not declared dead
    while its `next` waits, and gets the job that comes meanwhile."""
    sid = register(hub.port)
    poll = Poll(hub, sid)
    silence(hub, sid)
    assert listed(hub.port)[sid]["alive"]
    assert abs(listed(hub.port)[sid]["last_seen"] - time.time()) < 5
    token = protocol(hub.port, {"action": "start", "payload": 4})[1]["token"]
    status, job = poll.result()
    assert status == 200 and job["payload"] == 4
    assert call(hub.port, "POST", f"/services/{sid}/jobs/{job['job']}",
                {"result": 16})[0] == 200
    assert client_result(hub.port, token) == 16


def test_a_dead_services_job_goes_to_a_waiting_service(hub):
    """Two services silent in the same sweep: the one holding a job dies,
    the one waiting in `next` lives and gets the job (it was lost when the
    waiting one died too and its poll took the job all the same)."""
    holder = register(hub.port)
    token = protocol(hub.port, {"action": "start", "payload": 2})[1]["token"]
    job = call(hub.port, "GET", f"/services/{holder}/next?wait=5")[1]
    waiter = register(hub.port)
    poll = Poll(hub, waiter)
    silence(hub, holder, waiter)
    status, again = poll.result()
    assert status == 200 and again == job
    services = listed(hub.port)
    assert not services[holder]["alive"] and services[waiter]["alive"]
    assert call(hub.port, "POST", f"/services/{holder}/jobs/{job['job']}",
                {"result": 0})[0] == 404  # the dead one's late answer
    assert call(hub.port, "POST", f"/services/{waiter}/jobs/{job['job']}",
                {"result": 4})[0] == 200
    assert client_result(hub.port, token) == 4


def test_asking_again_is_not_a_death(hub):
    """A live service asking `next` again for the job it holds (its answer
    was lost) gets it again, as often as it asks: no ServiceLost."""
    sid = register(hub.port)
    token = protocol(hub.port, {"action": "start", "payload": 3})[1]["token"]
    first = call(hub.port, "GET", f"/services/{sid}/next?wait=5")[1]
    for attempt in range(5):
        assert call(hub.port, "GET", f"/services/{sid}/next?wait=5") == (
            200, first), attempt
    assert call(hub.port, "POST", f"/services/{sid}/jobs/{first['job']}",
                {"result": 9})[0] == 200
    assert client_result(hub.port, token) == 9


def test_three_dead_services_fail_the_job(hub):
    token = protocol(hub.port, {"action": "start", "payload": 7})[1]["token"]
    for attempt in range(3):
        sid = register(hub.port)
        for _ in range(2):  # asking twice counts once
            status, job = call(hub.port, "GET",
                               f"/services/{sid}/next?wait=5")
            assert status == 200 and job["payload"] == 7, attempt
        silence(hub, sid)
    status, res = protocol(hub.port, {"action": "get", "token": token,
                                      "wait": 5})
    assert status == 500 and res["error"]["type"] == "ServiceLost"


def test_the_dead_stay_listed(hub):
    """A dead service is listed with `alive: false` and `dead_since`
    (epoch seconds; null while alive); calls with its id are 404s."""
    dead, alive = register(hub.port), register(hub.port)
    before = time.time()
    silence(hub, dead)
    after = time.time()
    services = listed(hub.port)
    assert services[alive]["alive"] is True
    assert services[alive]["dead_since"] is None
    assert services[dead]["alive"] is False
    assert before <= services[dead]["dead_since"] <= after
    assert services[dead]["last_seen"] < before - 50
    assert set(services[dead]) == set(services[alive]) == {
        "id", "name", "description", "alive", "last_seen", "dead_since",
        "running", "jobs", "done"}
    assert call(hub.port, "PATCH", f"/services/{dead}")[0] == 404
    assert call(hub.port, "GET", f"/services/{dead}/next")[0] == 404
    assert call(hub.port, "POST", f"/services/{dead}/jobs/x",
                {"result": 1})[0] == 404


def test_the_dead_listed_are_bounded(hub):
    services = hub._services  # noqa: SLF001
    services.max_dead = 2
    sids = [register(hub.port) for _ in range(3)]
    for sid in sids:
        silence(hub, sid)
    assert list(listed(hub.port)) == sids[1:]  # the most recent two
    services._dead[0].dead_since -= services.dead_for + 1  # noqa: SLF001
    services.sweep()
    assert list(listed(hub.port)) == sids[2:]  # and not too old


@pytest.mark.parametrize("body", [{"what": 1}, ["x"], "text", 5])
def test_an_answer_that_means_nothing_ends_the_job(hub, body):
    """A post that is neither a result, an error nor progress ends its
    job with an error (it would hang otherwise) and is a 400."""
    sid = register(hub.port)
    token = protocol(hub.port, {"action": "start"})[1]["token"]
    job = call(hub.port, "GET", f"/services/{sid}/next?wait=5")[1]["job"]
    status, answer = call(hub.port, "POST", f"/services/{sid}/jobs/{job}",
                          body)
    assert status == 400 and b"the job ended" in answer
    status, res = protocol(hub.port, {"action": "get", "token": token,
                                      "wait": 5})
    assert status == 500 and res["error"]["type"] == "ServiceError"
    assert call(hub.port, "POST", f"/services/{sid}/jobs/{job}",
                {"result": 1})[0] == 409


def test_bodies_are_json(hub):
    """A body sent as another media type is a 415 that says so (after the
    key is checked); JSON types with parameters, and no type, are JSON."""
    auth = {"Authorization": f"Bearer {KEY}"}
    body = json.dumps({"name": "resize"}).encode()
    for ctype in ("text/plain", "application/x-www-form-urlencoded"):
        status, _, text = get(hub.port, "/services", "POST", body,
                              {**auth, "Content-Type": ctype})
        assert status == 415 and b"application/json" in text, ctype
        assert get(hub.port, "/services", "POST", body,
                   {"Content-Type": ctype})[0] == 401
    for ctype in ("application/json; charset=utf-8", None):
        headers = {**auth, **({"Content-Type": ctype} if ctype else {})}
        assert get(hub.port, "/services", "POST", body, headers)[0] == 200
    sid = register(hub.port)
    protocol(hub.port, {"action": "start"})
    job = call(hub.port, "GET", f"/services/{sid}/next?wait=5")[1]["job"]
    status, _, text = get(hub.port, f"/services/{sid}/jobs/{job}", "POST",
                          b'{"result": 1}',
                          {**auth, "Content-Type": "text/plain"})
    assert status == 415 and b"application/json" in text
    assert listed(hub.port)[sid]["running"] == 1  # nothing happened
