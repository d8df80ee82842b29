"""Typed rpc: validation of every kind of type (pure), the JSON Schema
documents, and rpc_call against real servers (errors, timeouts, refused
connections, 503 retries)."""
from __future__ import annotations

import datetime
import enum
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, NewType, Optional

import pytest

from conftest import get, wait_for
from quick_server import (HTTPError, RpcError, ValidationError, log,
                          rpc_call)
from quick_server.rpc.schema_defs import DIALECT
from quick_server.rpc.typed_json import codec_of, json_schema

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TYPECHECK = os.path.join(ROOT, "test", "typecheck")


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclass
class Item:
    """One line of an order."""
    name: str
    qty: int = 1
    price: float = 0.0


@dataclass
class Tree:
    value: int
    children: list[Tree] = field(default_factory=list)


@dataclass
class Positive:
    n: int

    def __post_init__(self) -> None:
        if self.n <= 0:
            raise ValueError("n must be positive")


@dataclass
class Order:
    items: list[Item]
    tags: dict[str, float] = field(default_factory=dict)
    color: Color = Color.RED
    level: Level = Level.LOW
    mode: Literal["fast", "slow"] = "fast"
    note: Optional[str] = None
    urgent: bool = False
    when: datetime.datetime | None = None
    day: datetime.date | None = None
    ref: uuid.UUID | None = None
    pair: tuple[int, str] = (0, "")
    many: tuple[int, ...] = ()
    either: int | str = 0
    tree: Tree | None = None
    extra: Any = None
    positive: Positive | None = None


@dataclass
class HelloRequest:
    name: str
    times: int = 1


@dataclass
class HelloResponse:
    text: str


def decode(value: Any) -> Order:
    return codec_of(Order).decode(value)


def refused(value: Any) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        decode(value)
    return info.value


# -- validation (pure) ---------------------------------------------------------

def test_a_full_order_decodes_into_its_types():
    order = decode({
        "items": [{"name": "a"}, {"name": "b", "qty": 2.0, "price": 3}],
        "tags": {"x": 1}, "color": "green", "level": 2, "mode": "slow",
        "note": "n", "urgent": True, "when": "2024-05-01T10:00:00Z",
        "day": "2024-05-01", "ref": "12345678-1234-5678-1234-567812345678",
        "pair": [1, "one"], "many": [1, 2], "either": "s",
        "tree": {"value": 1, "children": [{"value": 2}]},
        "extra": {"any": ["thing"]}, "positive": {"n": 3}})
    assert order.items == [Item("a"), Item("b", 2, 3.0)]
    assert type(order.items[1].qty) is int
    assert type(order.items[1].price) is float
    assert order.tags == {"x": 1.0} and order.color is Color.GREEN
    assert order.level is Level.HIGH and order.mode == "slow"
    assert order.when == datetime.datetime(2024, 5, 1, 10,
                                           tzinfo=datetime.timezone.utc)
    assert order.day == datetime.date(2024, 5, 1)
    assert order.ref == uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert order.pair == (1, "one") and order.many == (1, 2)
    assert order.tree == Tree(1, [Tree(2)])
    assert order.positive == Positive(3)
    # and back: the same JSON
    again = codec_of(Order).encode(order)
    assert decode(json.loads(json.dumps(again))) == order


def test_defaults_fill_what_is_left_out():
    order = decode({"items": []})
    assert order == Order([])


@pytest.mark.parametrize("body, path, expected", [
    # the field's path and the expected type, for every kind of type
    ({"items": [{"name": "a"}, {"name": "b"}, {"name": 5}]},
     "items[2].name", "str"),
    ({"items": [{"name": "a", "qty": True}]}, "items[0].qty", "int"),
    ({"items": [{"name": "a", "qty": 1.5}]}, "items[0].qty", "int"),
    ({"items": [{"name": "a", "qty": "1"}]}, "items[0].qty", "int"),
    ({"items": [{"name": "a", "qty": 10 ** 1000}]}, "items[0].qty", "int"),
    ({"items": [{"name": "a", "price": False}]}, "items[0].price",
     "float (a finite number)"),
    ({"items": [{"name": "a", "price": float("nan")}]}, "items[0].price",
     "float (a finite number)"),
    ({"items": [], "urgent": 1}, "urgent", "bool"),
    ({"items": {}}, "items", "list[Item]"),
    ({"items": [], "tags": {"a b": "x"}}, 'tags["a b"]',
     "float (a finite number)"),
    ({"items": [], "tags": []}, "tags", "dict[str, float]"),
    ({"items": [], "color": "blue"}, "color",
     'Color (one of "red", "green")'),
    ({"items": [], "level": 3}, "level", "Level (one of 1, 2)"),
    ({"items": [], "level": True}, "level", "Level (one of 1, 2)"),
    ({"items": [], "mode": "medium"}, "mode", 'one of "fast", "slow"'),
    ({"items": [], "note": 3}, "note", "str or null"),
    ({"items": [], "when": "yesterday"}, "when",
     "datetime (a string of format date-time) or null"),
    ({"items": [], "day": "2024-05-01T10:00:00"}, "day",
     "date (a string of format date) or null"),
    ({"items": [], "ref": "nope"}, "ref",
     "UUID (a string of format uuid) or null"),
    ({"items": [], "pair": [1]}, "pair", "tuple[int, str]"),
    ({"items": [], "pair": [1, 2]}, "pair[1]", "str"),
    ({"items": [], "many": [1, "x"]}, "many[1]", "int"),
    ({"items": [], "either": 1.5}, "either", "int | str"),
    ({"items": [], "tree": {"value": 1, "children": [{"value": "x"}]}},
     "tree.children[0].value", "int"),
    ({"items": [], "positive": {"n": 0}}, "positive",
     "Positive (an object) or null"),
    ([], "", "Order (an object)"),
])
def test_a_value_of_the_wrong_type_names_its_path_and_type(body, path,
                                                           expected):
    err = refused(body)
    assert (err.path, err.expected) == (path, expected)
    assert err.describe("request").startswith(f"{path or 'request'}: ")


def test_messages_say_what_was_wanted_and_what_came():
    err = refused({"items": [{"name": 5}]})
    assert str(err) == "items[0].name: expected str, got number 5"
    err = refused({"items": [], "positive": {"n": -1}})
    assert err.describe("request") == "positive: n must be positive"


def test_unknown_fields_are_refused_by_name():
    err = refused({"items": [{"nmae": "a"}]})
    assert err.path == "items[0].nmae"
    assert "unknown field; did you mean 'name'?" in str(err)
    err = refused({"items": [], "zzz": 1})
    assert err.path == "zzz" and "Order has" in str(err)


def test_a_missing_field_is_named():
    err = refused({"items": [{"qty": 1}]})
    assert err.path == "items[0].name"
    assert "required field missing (expected str)" in str(err)


def test_encoding_checks_the_python_values_too():
    codec = codec_of(HelloResponse)
    assert codec.encode(HelloResponse("x")) == {"text": "x"}
    with pytest.raises(ValidationError) as info:
        codec.encode({"text": "x"})
    assert "expected HelloResponse (an object), got dict" in str(info.value)
    with pytest.raises(ValidationError) as info:
        codec.encode(HelloResponse(5))  # type: ignore[arg-type]
    assert info.value.path == "text"
    with pytest.raises(ValidationError):
        codec_of(float).encode(float("inf"))
    with pytest.raises(ValidationError):
        codec_of(int).encode(True)


def test_types_without_a_json_form_are_refused_when_compiled():
    @dataclass
    class Bad:
        when: datetime.time

    with pytest.raises(TypeError, match="Bad.when: .*time"):
        codec_of(Bad)
    with pytest.raises(TypeError, match="dict keys must be str"):
        codec_of(dict[int, str])


# -- JSON Schema ---------------------------------------------------------------

def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/")
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def all_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [r for value in node.values() for r in all_refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in all_refs(value)]
    return []


def test_the_schema_document_describes_the_types():
    doc = json_schema(Order)
    assert doc["$schema"] == DIALECT == \
        "https://json-schema.org/draft/2020-12/schema"
    order = resolve(doc, doc["$ref"])
    assert order["type"] == "object"
    assert order["additionalProperties"] is False
    assert order["required"] == ["items"]
    props = order["properties"]
    assert props["items"] == {"type": "array",
                              "items": {"$ref": "#/$defs/Item"}}
    assert props["tags"]["additionalProperties"] == {"type": "number"}
    assert resolve(doc, props["color"]["$ref"])["enum"] == ["red", "green"]
    assert props["color"]["default"] == "red"
    assert props["mode"]["enum"] == ["fast", "slow"]
    assert props["note"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert props["when"]["anyOf"][0] == {"type": "string",
                                         "format": "date-time"}
    assert props["pair"]["prefixItems"] == [{"type": "integer"},
                                            {"type": "string"}]
    assert props["extra"] == {"default": None}
    item = doc["$defs"]["Item"]
    assert item["description"] == "One line of an order."
    assert item["properties"]["price"] == {"type": "number", "default": 0.0}
    tree = doc["$defs"]["Tree"]  # recursive: refers to itself
    assert tree["properties"]["children"]["items"] == {"$ref":
                                                       "#/$defs/Tree"}
    for ref in all_refs(doc):
        assert resolve(doc, ref)  # every $ref resolves in the document


UserId = NewType("UserId", int)


@dataclass
class Extended:
    user: UserId
    pair: tuple[int, str] = (0, "")
    many: tuple[int, ...] = ()
    names: list[str] = field(default_factory=list)
    made: list[int] = field(default_factory=lambda: [1, 2])


def test_what_json_schema_loses_travels_in_x_python_extensions():
    doc = json_schema(Order)
    color, level = doc["$defs"]["Color"], doc["$defs"]["Level"]
    assert color["x-python-enum-names"] == ["RED", "GREEN"]
    assert "x-python-enum-type" not in color
    assert level["x-python-enum-names"] == ["LOW", "HIGH"]
    assert level["x-python-enum-type"] == "int"  # an IntEnum
    props = json_schema(Extended)["$defs"]["Extended"]["properties"]
    assert props["user"] == {"type": "integer", "x-python-newtype": "UserId"}
    assert props["pair"]["x-python-type"] == "tuple"
    assert props["many"]["x-python-type"] == "tuple"
    assert props["many"]["default"] == []
    # a default factory: named; its value is the default when it is plain
    assert props["names"]["x-python-default-factory"] == "list"
    assert props["names"]["default"] == []
    assert props["made"]["x-python-default-factory"].endswith("<lambda>")
    assert "default" not in props["made"]  # not called: it may not be pure
    # the NewType is its base type in every other way
    codec = codec_of(Extended)
    assert codec.decode({"user": 5}).user == 5
    with pytest.raises(ValidationError) as info:
        codec.decode({"user": "5"})
    assert (info.value.path, info.value.expected) == ("user", "int")


# -- the server ----------------------------------------------------------------

@pytest.fixture
def rpc_server(make_server):
    server = make_server(start=False)
    calls = {"busy": 0, "always_busy": 0}
    release = threading.Event()
    server.calls = calls
    server.release = release

    @server.rpc("/api/hello")
    def hello(request: HelloRequest) -> HelloResponse:
        """Says hello."""
        return HelloResponse("hi " * request.times + request.name)

    @server.rpc("/api/order")
    def order(request: Order) -> list[Item]:
        return request.items

    @server.rpc("/api/wrong")
    def wrong(request: HelloRequest) -> HelloResponse:
        return {"text": request.name}  # type: ignore[return-value]

    @server.rpc("/api/slow")
    def slow(request: HelloRequest) -> HelloResponse:
        release.wait(10)
        return HelloResponse("late")

    @server.rpc("/api/busy")
    def busy(request: HelloRequest) -> HelloResponse:
        calls["busy"] += 1
        if calls["busy"] < 3:
            raise HTTPError(503, "warming up",
                            headers=[("Retry-After", "0")])
        return HelloResponse("ready")

    @server.rpc("/api/always_busy")
    def always_busy(request: HelloRequest) -> HelloResponse:
        calls["always_busy"] += 1
        raise HTTPError(503, "down", headers=[("Retry-After", request.name)])

    server.rpc_contracts("/api/contracts")
    run = threading.Thread(target=server.serve_forever, daemon=True)
    run.start()
    yield server
    release.set()


def url(server, path: str) -> str:
    return f"http://127.0.0.1:{server.port}{path}"


def post_json(server, path: str, body: bytes,
              ctype: str = "application/json") -> tuple[int, Any]:
    status, headers, data = get(server.port, path, "POST", body,
                                {"Content-Type": ctype})
    is_json = headers.get("content-type") == "application/json"
    return status, json.loads(data) if is_json else data


def test_rpc_answers_the_typed_response(rpc_server):
    assert rpc_call(url(rpc_server, "/api/hello"), HelloRequest("ann", 2),
                    HelloResponse) == HelloResponse("hi hi ann")
    items = rpc_call(url(rpc_server, "/api/order"),
                     Order([Item("a", 2)]), list[Item])
    assert items == [Item("a", 2)]
    # plain JSON values work as a request too
    assert rpc_call(url(rpc_server, "/api/hello"), {"name": "bo"},
                    HelloResponse) == HelloResponse("hi bo")


def test_a_bad_body_is_a_400_naming_the_field(rpc_server):
    status, answer = post_json(rpc_server, "/api/order",
                               b'{"items": [{"name": "a"}, {"name": "b"},'
                               b' {"name": 5}]}')
    assert status == 400
    assert answer == {"error": "items[2].name: expected str, got number 5",
                      "field": "items[2].name", "expected": "str"}
    status, answer = post_json(rpc_server, "/api/hello", b'{"nmae": "x"}')
    assert (status, answer["field"]) == (400, "nmae")
    status, answer = post_json(rpc_server, "/api/hello", b"[1]")
    assert (status, answer["field"]) == (400, "")
    assert answer["error"].startswith("request: expected HelloRequest")
    status, answer = post_json(rpc_server, "/api/hello", b'{"name": ')
    assert status == 400 and b"Malformed JSON" in answer
    status, answer = post_json(rpc_server, "/api/hello", b"name=x",
                               "application/x-www-form-urlencoded")
    assert status == 415


def test_a_dict_answer_is_a_500_that_says_what_to_return(rpc_server):
    """A dict of the right shape is not the declared dataclass: the 500
    says to return an instance, in the log and (to a client on this
    machine) on the error page, as any handler error; others get the
    plain 500."""
    lines: list[str] = []

    class Log:
        def write(self, text: str) -> None:
            lines.append(text)

        def flush(self) -> None:
            pass

    log.set_log_file(Log())  # type: ignore[arg-type]
    with pytest.raises(RpcError) as info:
        rpc_call(url(rpc_server, "/api/wrong"), HelloRequest("x"),
                 HelloResponse)
    told = "wrong returned a dict: return a HelloResponse instance, " \
        "not a dict (answer: expected HelloResponse (an object), got dict"
    assert info.value.status == 500 and told in str(info.value)
    assert wait_for(lambda: any(told in line for line in lines),
                    what="the log line")
    status, headers, body = get(rpc_server.port, "/api/wrong", "POST",
                                b'{"name": "x"}',
                                {"Content-Type": "application/json",
                                 "Accept": "text/html"})
    assert status == 500 and b"RpcAnswerError" in body
    assert b"return a HelloResponse instance, not a dict" in body
    with pytest.raises(RpcError) as info:  # through a proxy: no details
        rpc_call(url(rpc_server, "/api/wrong"), HelloRequest("x"),
                 HelloResponse, headers={"X-Real-IP": "203.0.113.9"})
    assert info.value.status == 500
    assert str(info.value).endswith("HTTP 500: Internal Server Error")


def test_a_dict_inside_the_answer_is_named_where_it_is(make_server):
    server = make_server()

    @server.rpc("/api/items")
    def items(request: HelloRequest) -> list[Item]:
        return [Item("a"), {"name": "b"}]  # type: ignore[list-item]

    @server.rpc("/api/number")
    def number(request: HelloRequest) -> HelloResponse:
        return HelloResponse(5)  # type: ignore[arg-type]

    with pytest.raises(RpcError) as info:
        rpc_call(url(server, "/api/items"), HelloRequest("x"), list[Item])
    assert "items returned a dict at [1]: put an Item instance there, not " \
        "a dict ([1]: expected Item (an object), got dict" in str(info.value)
    with pytest.raises(RpcError) as info:
        rpc_call(url(server, "/api/number"), HelloRequest("x"),
                 HelloResponse)
    assert "the answer of number is not its declared type: text: " \
        "expected str, got int 5" in str(info.value)


def test_get_serves_the_contract(rpc_server):
    status, headers, data = get(rpc_server.port, "/api/hello")
    assert status == 200
    doc = json.loads(data)
    assert sorted(doc) == ["description", "kind", "name", "request",
                           "response"]
    assert (doc["kind"], doc["name"], doc["description"]) == \
        ("rpc", "hello", "Says hello.")
    request = doc["request"]
    assert request["$schema"] == DIALECT
    hello = resolve(request, request["$ref"])
    assert hello["properties"] == {"name": {"type": "string"},
                                   "times": {"type": "integer",
                                             "default": 1}}
    assert hello["required"] == ["name"]
    response = doc["response"]
    assert resolve(response, response["$ref"])["title"] == "HelloResponse"
    doc = json.loads(get(rpc_server.port, "/api/order")[2])
    assert doc["response"]["items"] == {"$ref": "#/$defs/Item"}
    assert set(doc["request"]["$defs"]) == {"Order", "Item", "Color",
                                            "Level", "Tree", "Positive"}


def test_rpc_contracts_serves_all_of_them_in_one_document(rpc_server):
    doc = json.loads(get(rpc_server.port, "/api/contracts")[2])
    assert doc["$schema"] == DIALECT
    contracts = doc["contracts"]
    assert set(contracts) == {"/api/hello", "/api/order", "/api/wrong",
                              "/api/slow", "/api/busy", "/api/always_busy"}
    assert contracts["/api/hello"]["description"] == "Says hello."
    assert contracts["/api/hello"]["request"] == {
        "$ref": "#/$defs/HelloRequest"}
    assert contracts["/api/order"]["response"]["items"] == {
        "$ref": "#/$defs/Item"}
    for ref in all_refs(doc):
        assert resolve(doc, ref)


def test_registering_checks_the_function(make_server):
    server = make_server(start=False)
    with pytest.raises(TypeError, match="dataclass"):
        @server.rpc("/a")
        def untyped(request: dict) -> HelloResponse:
            return HelloResponse("")
    with pytest.raises(TypeError, match="return type"):
        @server.rpc("/b")
        def no_return(request: HelloRequest):  # type: ignore[no-untyped-def]
            return None
    with pytest.raises(TypeError, match="one argument"):
        @server.rpc("/c")
        def two(request: HelloRequest, other: int) -> HelloResponse:
            return HelloResponse("")
    with pytest.raises(TypeError, match="rpc /d .*set"):
        @server.rpc("/d")
        def sets(request: HelloRequest) -> set[int]:
            return set()
    with pytest.raises(ValueError):
        server.rpc("/e/:id")


# -- the client's errors -----------------------------------------------------------

def test_an_unknown_path_is_an_rpc_error_404(rpc_server):
    with pytest.raises(RpcError) as info:
        rpc_call(url(rpc_server, "/api/nothing"), HelloRequest("x"),
                 HelloResponse)
    assert info.value.status == 404
    assert "HTTP 404: Not Found" in str(info.value)


def test_a_refused_request_names_the_field(rpc_server):
    with pytest.raises(RpcError) as info:
        rpc_call(url(rpc_server, "/api/hello"), {"name": 1}, HelloResponse)
    err = info.value
    assert (err.status, err.field, err.expected) == (400, "name", "str")
    assert "name: expected str, got number 1" in str(err)


def test_an_answer_of_another_type_is_an_rpc_error(rpc_server):
    with pytest.raises(RpcError) as info:
        rpc_call(url(rpc_server, "/api/hello"), HelloRequest("x"), Item)
    assert info.value.status == 200
    assert "does not fit Item" in str(info.value)


def test_a_client_timeout_is_an_rpc_error_without_status(rpc_server):
    started = time.monotonic()
    with pytest.raises(RpcError) as info:
        rpc_call(url(rpc_server, "/api/slow"), HelloRequest("x"),
                 HelloResponse, timeout=0.3)
    assert info.value.status is None
    assert "no answer within 0.3 s" in str(info.value)
    assert time.monotonic() - started < 9  # not the handler's 10 s
    rpc_server.release.set()
    # the server is fine afterwards
    assert rpc_call(url(rpc_server, "/api/slow"), HelloRequest("x"),
                    HelloResponse) == HelloResponse("late")


def test_a_refused_connection_is_an_rpc_error_without_status(refused_port):
    with pytest.raises(RpcError) as info:
        rpc_call(f"http://127.0.0.1:{refused_port}/api/hello",
                 HelloRequest("x"), HelloResponse, timeout=2)
    assert info.value.status is None
    assert "cannot connect" in str(info.value)
    assert "refused" in str(info.value).lower()


def test_503_with_retry_after_is_tried_again(rpc_server):
    answer = rpc_call(url(rpc_server, "/api/busy"), HelloRequest("x"),
                      HelloResponse, retries=3)
    assert answer == HelloResponse("ready")
    assert rpc_server.calls["busy"] == 3


def test_retries_are_bounded(rpc_server):
    with pytest.raises(RpcError) as info:
        rpc_call(url(rpc_server, "/api/always_busy"), HelloRequest("0"),
                 HelloResponse, retries=2)
    assert info.value.status == 503 and info.value.retry_after == 0
    assert "HTTP 503: down" in str(info.value)
    assert rpc_server.calls["always_busy"] == 3
    # a Retry-After longer than the timeout is not waited for
    with pytest.raises(RpcError):
        rpc_call(url(rpc_server, "/api/always_busy"), HelloRequest("60"),
                 HelloResponse, timeout=5, retries=2)
    assert rpc_server.calls["always_busy"] == 4


def test_the_request_is_checked_before_it_is_sent(rpc_server):
    with pytest.raises(ValidationError) as info:
        rpc_call(url(rpc_server, "/api/hello"), HelloRequest(3),  # type: ignore[arg-type]
                 HelloResponse)
    assert info.value.path == "name"


# -- static types ------------------------------------------------------------------

def test_a_user_script_is_mypy_strict_clean_and_typos_are_caught(tmp_path):
    """typecheck/user_script.py passes `mypy --strict` (the decorators keep
    each function's type: `assert_type` checks it); every line of
    typecheck/typo_script.py marked `# typo` (args["qurey"], a misspelt
    field of a request or an answer) is reported."""
    if importlib.util.find_spec("mypy") is None:
        if os.environ.get("CI"):
            pytest.fail("mypy is missing: install the test extra")
        pytest.skip("mypy is not installed (pip install -e '.[test]')")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
         "--cache-dir", str(tmp_path), "user_script.py", "typo_script.py"],
        cwd=TYPECHECK, env={**os.environ, "MYPYPATH": ROOT},
        capture_output=True, text=True, timeout=300, check=False)
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert done.returncode == 1 and errors, done.stdout + done.stderr
    assert not [line for line in errors
                if not line.startswith("typo_script.py:")], done.stdout
    with open(os.path.join(TYPECHECK, "typo_script.py"),
              encoding="utf-8") as handle:
        typos = {number for number, line in enumerate(handle, 1)
                 if line.rstrip().endswith("# typo")}
    reported = {int(line.split(":")[1]) for line in errors}
    assert reported == typos, done.stdout
    assert 'TypedDict "ReqArgs" has no key "qurey"' in done.stdout
