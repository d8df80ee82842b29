"""Token storage: plain-dict and `with` use, expiry, the sqlite store, and
what a client's tokens may cost (unit tests and real servers)."""
from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import time
from typing import Any, Callable, Iterator

import pytest

from quick_server import (MemoryTokenHandler, SqliteTokenHandler,
                          TokenHandler, create_server)
from quick_server.tokens import MAX_TOKEN_LENGTH, TokenStore
from conftest import get


def wait_for(condition: Callable[[], bool], deadline: float = 10.0) -> None:
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.02)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: Any, tmp_path: Any) -> Iterator[TokenStore]:
    handler: TokenHandler
    if request.param == "memory":
        handler = MemoryTokenHandler()
    else:
        handler = SqliteTokenHandler(str(tmp_path / "tokens.db"))
    yield TokenStore(handler)
    close = getattr(handler, "close", None)
    if close is not None:
        close()


def sqlite_rows(path: str) -> int:
    with sqlite3.connect(path) as db:
        count: int = db.execute("SELECT COUNT(*) FROM tokens").fetchone()[0]
    db.close()
    return count


def file_sizes(path: str) -> list[int]:
    return [os.path.getsize(p) if os.path.exists(p) else -1
            for p in (path, path + "-wal")]


def test_tokens_plain_dict_and_with(make_server):
    server = make_server()
    token = server.create_token()
    assert len(token) >= 32 and token != server.create_token()
    obj = server.get_token_obj(token)
    obj["x"] = 1
    assert server.get_token_obj(token)["x"] == 1
    with server.get_token_obj(token, expire=None) as obj:
        obj["y"] = 2
    assert dict(server.get_token_obj(token)) == {"x": 1, "y": 2}
    assert server.get_token_ttl(token) is None
    assert token in server.get_tokens()
    server.get_token_obj("short", expire=5)["v"] = 1
    assert 0 < server.get_token_ttl("short") <= 5
    server.get_token_obj("short", expire=0.2)
    wait_for(lambda: "short" not in server.get_tokens())
    assert dict(server.get_token_obj("short")) == {}
    # nested blocks write back once, at the outer end; another token used
    # as a plain dict inside a block is stored at once
    with server.get_token_obj(token) as outer:
        outer["z"] = 3
        with outer:
            outer["z"] = 4
        other = server.get_token_obj("other")
        other["w"] = 5
        assert dict(server.get_token_obj("other")) == {"w": 5}
    assert server.get_token_obj(token)["z"] == 4


def test_concurrent_increments(make_server):
    server = make_server()

    @server.json_post("/inc")
    def _inc(req, args):
        with server.get_token_obj(args["post"]["token"]) as obj:
            value = obj.get("n", 0)
            time.sleep(0.001)
            obj["n"] = value + 1
        return {}

    token = server.create_token()
    threads = [threading.Thread(target=lambda: [get(
        server.port, "/inc", "POST", json.dumps({"token": token}).encode())
        for _ in range(10)]) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert server.get_token_obj(token)["n"] == 80


def test_sqlite_tokens_survive_a_new_server(tmp_path):
    path = str(tmp_path / "tokens.db")
    first = create_server(("127.0.0.1", 0),
                          token_handler=SqliteTokenHandler(path))
    with first.get_token_obj("t1", expire=None) as obj:
        obj["kept"] = [1, 2]
    first.server_close()
    second = create_server(("127.0.0.1", 0),
                           token_handler=SqliteTokenHandler(path))
    assert second.get_token_obj("t1")["kept"] == [1, 2]
    assert second.get_token_ttl("t1") is None
    second.server_close()


# -- reading unknown tokens stores nothing (8b) -----------------------------

def test_reading_unknown_tokens_stores_nothing(store):
    for _ in range(200):
        token = secrets.token_urlsafe(24)
        obj = store.get(token)
        assert dict(obj) == {} and obj.get("n") is None
        store.get(token, expire=60)  # even with an expiry
        with store.get(token) as obj:  # a block that only reads
            obj.get("n")
        obj.pop("n", None)  # changes nothing
        obj.clear()
    assert store.handler.tokens() == []
    with pytest.raises(KeyError):
        store.ttl(token)
    obj["n"] = 1  # a change stores it
    assert store.handler.tokens() == [token]


def test_a_flood_of_unknown_tokens_leaves_the_sqlite_file_alone(
        make_server, tmp_path):
    path = str(tmp_path / "tokens.db")
    server = make_server(token_handler=SqliteTokenHandler(path))

    @server.json_post("/count")
    def _count(req, args):
        obj = server.get_token_obj(args["post"]["token"])
        with server.get_token_obj(args["post"]["token"]) as locked:
            locked.get("n")
        return {"n": obj.get("n", 0)}

    before = file_sizes(path)
    for _ in range(150):
        body = json.dumps({"token": secrets.token_urlsafe(24)}).encode()
        status, _, data = get(server.port, "/count", "POST", body)
        assert (status, json.loads(data)) == (200, {"n": 0})
    assert sqlite_rows(path) == 0
    assert file_sizes(path) == before


@pytest.mark.parametrize("token", [
    "x" * (MAX_TOKEN_LENGTH + 1), "", 12, None, ["a"], "a\ud800"])
def test_bad_tokens_are_a_value_error(store, token):
    with pytest.raises(ValueError):
        store.get(token)
    assert store.handler.tokens() == []


def test_a_long_token_is_fine_up_to_the_limit(store):
    token = "x" * MAX_TOKEN_LENGTH
    store.get(token)["a"] = 1
    assert store.get(token)["a"] == 1


@pytest.mark.parametrize("handler", ["memory", "sqlite"])
@pytest.mark.parametrize("token", ["x" * 100_000, 12, None, "\ud800",
                                   "ok\udfff"])
def test_a_bad_token_from_a_client_is_a_400(make_server, tmp_path, handler,
                                            token):
    server = make_server(token_handler=SqliteTokenHandler(
        str(tmp_path / "t.db")) if handler == "sqlite" else None)

    @server.json_post("/count")
    def _count(req, args):
        return dict(server.get_token_obj(args["post"]["token"]))

    body = json.dumps({"token": token}).encode()
    status, _, data = get(server.port, "/count", "POST", body)
    assert status == 400
    assert b"token" in data and len(data) < 200
    assert server.get_tokens() == []


# -- every mutation is stored (15) --------------------------------------------

MUTATIONS: dict[str, tuple[Callable[[Any], Any], dict[str, Any]]] = {
    "setitem": (lambda o: o.__setitem__("c", 3), {"a": 1, "b": 2, "c": 3}),
    "delitem": (lambda o: o.__delitem__("a"), {"b": 2}),
    "update": (lambda o: o.update({"a": 9}, c=3), {"a": 9, "b": 2, "c": 3}),
    "setdefault": (lambda o: o.setdefault("c", 3), {"a": 1, "b": 2, "c": 3}),
    "pop": (lambda o: o.pop("a"), {"b": 2}),
    "popitem": (lambda o: o.popitem(), {"a": 1}),
    "clear": (lambda o: o.clear(), {}),
    "ior": (lambda o: o.__ior__({"c": 3}), {"a": 1, "b": 2, "c": 3}),
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_every_mutation_of_a_plain_dict_is_stored(store, name):
    mutate, expected = MUTATIONS[name]
    with store.get("t") as obj:
        obj.update(a=1, b=2)
    obj = store.get("t")
    mutate(obj)
    assert dict(obj) == expected
    assert dict(store.get("t")) == expected


def test_in_place_or_keeps_the_token_obj(store):
    obj = store.get("t")
    obj |= {"a": 1}
    obj["b"] = 2
    assert dict(store.get("t")) == {"a": 1, "b": 2}


def test_a_block_stores_its_mutations_once_at_the_end(store):
    with store.get("t") as obj:
        obj.update(a=1)
        obj.setdefault("b", 2)
        assert store.handler.load("t") is None
    assert dict(store.get("t")) == {"a": 1, "b": 2}


# -- the expiry changes only when `expire` is given (15) ---------------------

def test_the_expiry_changes_only_when_expire_is_given(make_server):
    server = make_server()
    server.get_token_obj("new")["a"] = 1  # a new token: the default
    assert 3500 < server.get_token_ttl("new") <= 3600
    with server.get_token_obj("forever", expire=None) as obj:
        obj["a"] = 1
    obj = server.get_token_obj("forever")
    assert server.get_token_ttl("forever") is None
    obj["b"] = 2
    obj.update(c=3)
    with server.get_token_obj("forever") as obj:
        obj["d"] = 4
    assert server.get_token_ttl("forever") is None
    server.get_token_obj("forever", expire=100)  # at once, without a change
    assert 90 < server.get_token_ttl("forever") <= 100
    server.get_token_obj("forever")["e"] = 5  # kept, not recomputed
    assert 90 < server.get_token_ttl("forever") <= 100


def test_a_save_keeps_the_expiry_stored_meanwhile(make_server):
    server = make_server()
    server.get_token_obj("t")["a"] = 1
    stale = server.get_token_obj("t")
    server.get_token_obj("t", expire=None)
    stale["b"] = 2
    assert server.get_token_ttl("t") is None
    assert dict(server.get_token_obj("t")) == {"a": 1, "b": 2}


def test_an_expired_token_is_new_again(store):
    store.get("t", expire=0.1)["a"] = 1
    wait_for(lambda: store.handler.load("t") is None)
    obj = store.get("t")
    assert dict(obj) == {}
    obj["b"] = 2
    assert 3500 < store.ttl("t") <= 3600
    assert dict(store.get("t")) == {"b": 2}


# -- readonly=True (24) -----------------------------------------------------

def test_readonly_never_writes(make_server):
    server = make_server()
    obj = server.get_token_obj("new", readonly=True)
    obj["a"] = 1
    obj.update(b=2)
    with obj:
        obj["c"] = 3
    assert dict(obj) == {"c": 3}  # a block reloads what is stored: nothing
    assert server.get_tokens() == []
    server.get_token_obj("t", expire=None)["a"] = 1
    obj = server.get_token_obj("t", readonly=True)
    obj["a"] = 2
    obj.pop("a")
    with obj:
        obj["b"] = 3
    assert dict(server.get_token_obj("t")) == {"a": 1}
    assert server.get_token_ttl("t") is None


def test_readonly_still_honours_an_explicit_expire(store):
    """`readonly` keeps the object's data from being written back; an
    `expire` given with it sets the token's expiry all the same (16)."""
    store.get("t", expire=None)["a"] = 1
    obj = store.get("t", expire=100, readonly=True)
    assert dict(obj) == {"a": 1}
    assert 90 < store.ttl("t") <= 100
    obj["a"] = 2
    with obj:
        obj["b"] = 3
    assert dict(store.get("t")) == {"a": 1}
    assert 90 < store.ttl("t") <= 100
    store.get("t", expire=None, readonly=True)
    assert store.ttl("t") is None
    store.get("new", expire=100, readonly=True)["a"] = 1  # nothing stored
    assert store.handler.tokens() == ["t"]
