"""The OpenAPI 3.1 document of a server's typed surface (`bind_openapi`,
issue 24): it passes `openapi-spec-validator`, every `$ref` resolves, it
describes rpc routes of many types, typed workers (the protocol's
envelope), file answers and the services API, and the answers a real
server gives fit the schemas it states. The contracts page too."""
from __future__ import annotations

import datetime
import enum
import json
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, NewType, Optional

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from conftest import get
from quick_server import FileResponse

OrderId = NewType("OrderId", str)


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclass
class Line:
    """One line of an order."""
    name: str
    qty: int = field(default=1, metadata={"description": "how many"})


@dataclass
class Tree:
    value: int
    children: list[Tree] = field(default_factory=list)


@dataclass
class Order:
    lines: list[Line]
    id: OrderId = OrderId("")
    color: Color = Color.RED
    priority: Priority = Priority.LOW
    mode: Literal["fast", "slow"] = "fast"
    note: Optional[str] = None
    when: datetime.datetime | None = None
    day: datetime.date | None = None
    ref: uuid.UUID | None = None
    size: tuple[int, int] = (0, 0)
    codes: tuple[str, ...] = ()
    tags: dict[str, float] = field(default_factory=dict)
    either: int | str = 0
    tree: Tree | None = None
    extra: Any = None


@dataclass
class Receipt:
    total: int
    names: list[str] = field(default_factory=list)


@dataclass
class Count:
    n: int


@dataclass
class Counted:
    total: int


def make_api(make_server, services=True, page=None):
    server = make_server(start=False)
    # bound first: routes registered later are in the document too
    server.bind_openapi("/openapi.json", title="Shop", version="2.1",
                        description="The shop's API.", page=page)

    @server.rpc("/api/order")
    def order(request: Order) -> Receipt:
        """Adds up an order.

        Lines without a name count too."""
        return Receipt(sum(line.qty for line in request.lines),
                       [line.name for line in request.lines])

    @server.rpc("/api/lines")
    def lines(request: Order) -> list[Line]:
        return request.lines

    @server.rpc("/api/report")
    def report(request: Count) -> FileResponse:
        """A report, as a file."""
        return FileResponse(__file__)

    @server.rpc("/api/maybe")
    def maybe(request: Count) -> Receipt | FileResponse:
        return Receipt(request.n)

    @server.rpc_worker("/jobs/count")
    def count(request: Count) -> Counted:
        """Counts (one line of a summary,
        on two lines of the docstring).

        More."""
        if request.n < 0:
            raise ValueError("cannot count down")
        return Counted(request.n)

    @server.rpc_worker("/jobs/export")
    def export(request: Count) -> FileResponse:
        return FileResponse(__file__)

    @server.json_get("/plain")
    def _plain(req, args):
        return {}

    if services:
        server.bind_services("/services", key="secret")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def api(make_server):
    return make_api(make_server, page="/api/docs")


def document(server) -> dict[str, Any]:
    status, headers, body = get(server.port, "/openapi.json")
    assert status == 200 and headers["content-type"] == "application/json"
    return json.loads(body)


def resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def all_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in all_refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in all_refs(value)]
    return []


def fits(doc: dict[str, Any], schema: dict[str, Any], value: Any) -> None:
    """`value` is valid against `schema`, a part of `doc` (its refs
    resolved in `doc`)."""
    Draft202012Validator({**schema, "components": doc["components"]}
                         ).validate(value)


def post(server, path, obj):
    status, headers, body = get(server.port, path, "POST",
                                json.dumps(obj).encode(),
                                {"Content-Type": "application/json"})
    is_json = headers.get("content-type") == "application/json"
    return status, (json.loads(body) if is_json else body)


def test_the_document_is_valid_openapi_and_every_ref_resolves(api):
    doc = document(api)
    validate(doc)  # openapi-spec-validator: raises when it is not valid
    assert doc["openapi"] == "3.1.0"
    assert doc["info"] == {"title": "Shop", "version": "2.1",
                           "description": "The shop's API."}
    refs = all_refs(doc)
    assert refs
    for ref in refs:
        assert resolve(doc, ref) is not None, ref
    assert "/plain" not in doc["paths"]  # only the typed surface
    operation_ids = [op["operationId"] for path in doc["paths"].values()
                     for op in path.values()]
    assert len(operation_ids) == len(set(operation_ids))


def test_an_rpc_is_a_post_with_its_types_errors_and_docstring(api):
    doc = document(api)
    op = doc["paths"]["/api/order"]["post"]
    assert op["operationId"] == "order"
    assert op["summary"] == "Adds up an order."
    assert op["description"] == ("Adds up an order.\n\nLines without a "
                                 "name count too.")
    body = op["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/Order"}
    answer = op["responses"]["200"]["content"]
    assert answer == {"application/json": {
        "schema": {"$ref": "#/components/schemas/Receipt"}}}
    for status in ("400", "415", "500"):
        assert resolve(doc, op["responses"][status]["$ref"])["description"]
    bad = resolve(doc, op["responses"]["400"]["$ref"])
    error = resolve(doc, bad["content"]["application/json"]["schema"]["$ref"])
    assert error["required"] == ["error", "field", "expected"]
    assert op["x-quick-server-contract"] == {
        "kind": "rpc", "name": "order",
        "request": {"$ref": "#/components/schemas/Order"},
        "response": {"$ref": "#/components/schemas/Receipt"},
        "files": False}
    lines = doc["paths"]["/api/lines"]["post"]["responses"]["200"]
    assert lines["content"]["application/json"]["schema"] == {
        "type": "array", "items": {"$ref": "#/components/schemas/Line"}}


def test_the_types_are_shared_components_with_python_extensions(api):
    schemas = document(api)["components"]["schemas"]
    assert {"Order", "Line", "Tree", "Color", "Priority", "Receipt",
            "Count", "Counted"} <= set(schemas)
    order = schemas["Order"]["properties"]
    assert order["lines"]["items"] == {"$ref": "#/components/schemas/Line"}
    assert order["id"]["x-python-newtype"] == "OrderId"
    assert order["size"]["prefixItems"] == [{"type": "integer"}] * 2
    assert order["size"]["x-python-type"] == "tuple"
    assert order["codes"]["x-python-type"] == "tuple"
    assert order["tags"]["x-python-default-factory"] == "dict"
    assert order["when"]["anyOf"][0]["format"] == "date-time"
    assert order["ref"]["anyOf"][0]["format"] == "uuid"
    assert order["mode"]["enum"] == ["fast", "slow"]
    assert schemas["Color"]["x-python-enum-names"] == ["RED", "GREEN"]
    assert schemas["Priority"]["x-python-enum-type"] == "int"
    assert schemas["Line"]["description"] == "One line of an order."
    assert schemas["Line"]["properties"]["qty"]["description"] == "how many"
    assert schemas["Tree"]["properties"]["children"]["items"] == {
        "$ref": "#/components/schemas/Tree"}


def test_file_answers_are_binary(api):
    doc = document(api)
    report = doc["paths"]["/api/report"]["post"]
    assert report["responses"]["200"]["content"] == {
        "application/octet-stream": {}}
    assert report["x-quick-server-contract"]["response"] is None
    assert report["x-quick-server-contract"]["files"] is True
    maybe = doc["paths"]["/api/maybe"]["post"]["responses"]["200"]
    assert set(maybe["content"]) == {"application/json",
                                     "application/octet-stream"}
    download = doc["paths"]["/jobs/export/file/{token}"]["get"]
    assert download["operationId"] == "export_file"
    assert download["responses"]["200"]["content"] == {
        "application/octet-stream": {}}


def test_a_typed_worker_is_the_protocol_with_its_types(api):
    doc = document(api)
    op = doc["paths"]["/jobs/count"]["post"]
    assert (op["operationId"], op["summary"]) == (
        "count", "Counts (one line of a summary, on two lines of the "
                 "docstring).")
    requests = op["requestBody"]["content"]["application/json"]["schema"]
    start = requests["oneOf"][0]
    assert start["properties"]["action"] == {"const": "start"}
    assert start["properties"]["payload"] == {
        "$ref": "#/components/schemas/Count"}
    actions = [resolve(doc, item["$ref"])["properties"]["action"]["const"]
               for item in requests["oneOf"][1:]]
    assert actions == ["get", "stop", "cargo", "poll"]
    reply = op["responses"]["200"]["content"]["application/json"][
        "schema"]["anyOf"][0]
    result = reply["properties"]["result"]["anyOf"][0]
    assert result["contentMediaType"] == "application/json"
    assert result["contentSchema"] == {"$ref": "#/components/schemas/Counted"}
    assert set(op["responses"]) == {"200", "400", "404", "500", "503"}
    assert op["x-quick-server-contract"]["kind"] == "worker"
    export = doc["paths"]["/jobs/export"]["post"]["x-quick-server-contract"]
    assert (export["response"], export["files"]) == (None, True)


def test_real_answers_fit_the_document(api):
    doc = document(api)
    order = doc["paths"]["/api/order"]["post"]
    request = {"lines": [{"name": "apple", "qty": 2}], "color": "green",
               "size": [1, 2], "tree": {"value": 1, "children": []}}
    fits(doc, order["requestBody"]["content"]["application/json"]["schema"],
         request)
    status, answer = post(api, "/api/order", request)
    assert status == 200
    fits(doc, order["responses"]["200"]["content"]["application/json"][
        "schema"], answer)
    status, error = post(api, "/api/order", {"lines": [{"name": 5}]})
    assert status == 400
    bad = resolve(doc, order["responses"]["400"]["$ref"])
    fits(doc, bad["content"]["application/json"]["schema"], error)

    worker = doc["paths"]["/jobs/count"]["post"]
    requests = worker["requestBody"]["content"]["application/json"]["schema"]
    replies = worker["responses"]["200"]["content"]["application/json"][
        "schema"]
    start = {"action": "start", "payload": {"n": 3}, "wait": 10}
    fits(doc, requests, start)
    status, reply = post(api, "/jobs/count", start)
    assert status == 200 and reply["done"]
    fits(doc, replies, reply)
    fits(doc, replies["anyOf"][0]["properties"]["result"]["anyOf"][0][
        "contentSchema"], json.loads(reply["result"]))
    poll = {"action": "poll", "tokens": [reply["token"]]}
    fits(doc, requests, poll)
    fits(doc, replies, post(api, "/jobs/count", poll)[1])
    status, failed = post(api, "/jobs/count", {
        "action": "start", "payload": {"n": -1}, "wait": 10})
    assert status == 500
    fits(doc, worker["responses"]["500"]["content"]["application/json"][
        "schema"], failed)
    status, error = post(api, "/jobs/count", {"action": "start",
                                              "payload": {"n": "x"}})
    assert status == 400
    fits(doc, worker["responses"]["400"]["content"]["application/json"][
        "schema"], error)
    with pytest.raises(Exception):  # the document refuses it as well
        fits(doc, requests, {"action": "start", "payload": {"n": "x"}})


def test_the_services_api_has_its_bearer_key(api):
    doc = document(api)
    scheme = doc["components"]["securitySchemes"]["servicesKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    services = {path: ops for path, ops in doc["paths"].items()
                if path.startswith("/services")}
    assert set(services) == {"/services", "/services/{id}",
                             "/services/{id}/next",
                             "/services/{id}/jobs/{job}"}
    for ops in services.values():
        for op in ops.values():
            assert op["security"] == [{"servicesKey": []}]
            assert "401" in op["responses"]
    register = services["/services"]["post"]
    status, _, body = get(api.port, "/services", "POST",
                          json.dumps({"name": "resize"}).encode(),
                          {"Content-Type": "application/json",
                           "Authorization": "Bearer secret"})
    assert status == 200
    fits(doc, register["responses"]["200"]["content"]["application/json"][
        "schema"], json.loads(body))


def test_without_services_or_workers_the_document_has_none(make_server):
    server = make_server()
    server.bind_openapi()

    @server.rpc("/api/count")
    def count(request: Count) -> Counted:
        return Counted(request.n)

    doc = document(server)
    validate(doc)
    assert "securitySchemes" not in doc["components"]
    assert not any(name.startswith("quick_server.Worker")
                   for name in doc["components"]["schemas"])
    assert doc["info"] == {"title": "API", "version": "0.1.0"}


def test_operation_ids_stay_unique(make_server):
    """The names of typed routes are unique (registration says so); the
    document's own operations step aside when one takes their name."""
    server = make_server()
    server.bind_openapi()
    server.bind_services("/services", key="k")

    @server.rpc_worker("/jobs/export")
    def export(request: Count) -> FileResponse:
        return FileResponse(__file__)

    @server.rpc("/api/export_file")
    def export_file(request: Count) -> Counted:
        return Counted(0)

    @server.rpc("/api/services_list")
    def services_list(request: Count) -> Counted:
        return Counted(0)

    doc = document(server)
    validate(doc)
    assert doc["paths"]["/jobs/export/file/{token}"]["get"][
        "operationId"] == "export_file_2"
    assert doc["paths"]["/services"]["get"]["operationId"] == \
        "services_list_2"


def test_the_contracts_page(make_server):
    server = make_server()
    server.bind_openapi(page="/api/docs", title="A <b>shop</b>")

    @server.rpc("/api/order")
    def order(request: Order) -> Receipt:
        """Adds up <script>alert(1)</script> an order."""
        return Receipt(0)

    @server.rpc_worker("/jobs/count")
    def count(request: Count) -> Counted:
        return Counted(0)

    status, headers, body = get(server.port, "/api/docs")
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    page = body.decode()
    assert "<script" not in page and "src=" not in page  # no script, no asset
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "A &lt;b&gt;shop&lt;/b&gt;" in page
    for text in ("order", "count", "POST /api/order", "POST /jobs/count",
                 "list[Line]", "Tree | None", "RED", "&quot;red&quot;",
                 "href='/openapi.json'", "id='type-Order'"):
        assert text in page, text
