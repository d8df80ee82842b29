"""Generated Python clients (`python -m quick_server.codegen`, issue 24):
from a real server's OpenAPI document, a module whose dataclasses, Enums,
tuples, NewTypes and defaults are the server's, that passes `mypy
--strict`, and whose `Client` calls the server (a typed answer, a typed
worker's result with progress, a refused request's field); a hostile
document gives a clear error or safe code."""
from __future__ import annotations

import datetime
import enum
import importlib.util
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, NewType, Optional

import pytest

from quick_server import FileResponse, RpcError, report_progress
from quick_server.codegen import CodegenError, generate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OrderId = NewType("OrderId", str)


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclass
class Line:
    """One line of an order ("quoted", \"\"\"tripled\"\"\")."""
    name: str
    qty: int = field(default=1, metadata={"description": "how many"})

    def __post_init__(self) -> None:  # the server's own check
        if self.qty < 0:
            raise ValueError("qty must not be negative")


@dataclass
class Tree:
    value: int
    children: list[Tree] = field(default_factory=list)


@dataclass
class OrderRequest:
    lines: list[Line]
    id: OrderId = OrderId("")
    color: Color = Color.RED
    priority: Priority = Priority.LOW
    mode: Literal["fast", "slow"] = "fast"
    note: Optional[str] = None
    when: datetime.datetime | None = None
    day: datetime.date = datetime.date(2024, 1, 2)
    ref: uuid.UUID | None = None
    size: tuple[int, int] = (0, 0)
    codes: tuple[str, ...] = ()
    tags: dict[str, float] = field(default_factory=dict)
    either: int | str = 0
    tree: Tree | None = None
    extra: Any = None


@dataclass
class OrderResponse:
    total: int
    color: Color
    size: tuple[int, int]
    id: OrderId
    names: list[str] = field(default_factory=list)


@dataclass
class Count:
    n: int


@dataclass
class Counted:
    total: int
    squares: list[int] = field(default_factory=list)


@pytest.fixture
def server(make_server):
    server = make_server()
    server.bind_openapi("/openapi.json", title="Shop", version="2.1")

    @server.rpc("/api/order")
    def order(request: OrderRequest) -> OrderResponse:
        """Adds up an order."""
        return OrderResponse(sum(line.qty for line in request.lines),
                             request.color, request.size, request.id,
                             [line.name for line in request.lines])

    @server.rpc("/api/lines")
    def lines(request: OrderRequest) -> list[Line]:
        return request.lines

    @server.rpc("/api/report")
    def report(request: Count) -> FileResponse:
        return FileResponse(__file__)

    @server.rpc_worker("/jobs/count")
    def count(request: Count) -> Counted:
        """Counts to n, with the squares."""
        report_progress(1, 2, "half")
        report_progress(2, 2, "done")
        return Counted(request.n, [k * k for k in range(request.n)])

    return server


def codegen(*args: str, cwd: str = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "quick_server.codegen", *args], cwd=cwd,
        env={**os.environ, "PYTHONPATH": ROOT}, capture_output=True,
        text=True, timeout=120, check=False)


def load(path: Any, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # the dataclasses' annotations live here
    spec.loader.exec_module(module)
    return module


def mypy_strict(folder: Any, name: str) -> subprocess.CompletedProcess:
    if importlib.util.find_spec("mypy") is None:
        if os.environ.get("CI"):
            pytest.fail("mypy is missing: install the test extra")
        pytest.skip("mypy is not installed (pip install -e '.[test]')")
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
         "--cache-dir", str(folder / ".mypy_cache"), name],
        cwd=folder, env={**os.environ, "MYPYPATH": ROOT},
        capture_output=True, text=True, timeout=300, check=False)


USER = '''\
from client import Client, Color, Count, Line, OrderId, OrderRequest

client = Client("http://127.0.0.1:1", timeout=5.0,
                headers={"X-Trace": "1"})
answer = client.order(OrderRequest([Line("apple", 2)], OrderId("a")))
total: int = answer.total
size: tuple[int, int] = answer.size
color: Color = answer.color
names: list[str] = [line.name for line in client.lines(OrderRequest([]))]
result = client.count(Count(3), on_progress=lambda p: print(p["done"]))
squares: list[int] = result.squares
'''


def test_a_generated_client_is_mypy_strict_and_calls_the_server(
        server, tmp_path):
    url = f"http://127.0.0.1:{server.port}"
    done = codegen(url + "/openapi.json", "-o", str(tmp_path / "client.py"))
    assert done.returncode == 0, done.stderr
    source = (tmp_path / "client.py").read_text()
    imports = {line.split()[1] for line in source.splitlines()
               if line.startswith(("import ", "from "))}
    assert imports <= {"__future__", "dataclasses", "datetime", "enum",
                       "ssl", "typing", "uuid", "quick_server"}, imports
    (tmp_path / "user.py").write_text(USER)
    checked = mypy_strict(tmp_path, ".")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    bad = USER + "wrong: str = answer.total\nclient.order(Count(1))\n"
    (tmp_path / "user.py").write_text(bad)
    checked = mypy_strict(tmp_path, ".")
    assert checked.returncode == 1 and \
        checked.stdout.count(": error:") == 2, checked.stdout

    client_module = load(tmp_path / "client.py", "qs_generated_client")
    # as on the server: names, members, tuples, NewTypes, defaults
    request = client_module.OrderRequest([client_module.Line("apple", 2)])
    assert request.color is client_module.Color.RED
    assert issubclass(client_module.Priority, enum.IntEnum)
    assert request.priority == 1 and request.size == (0, 0)
    assert request.day == datetime.date(2024, 1, 2) and request.tags == {}
    assert client_module.OrderRequest([]).tags is not request.tags
    assert client_module.OrderId("x") == "x"
    assert client_module.Line.__doc__ == Line.__doc__
    assert "how many" in source
    client = client_module.Client(url + "/", headers={"X-Trace": "1"})
    answer = client.order(client_module.OrderRequest(
        [client_module.Line("apple", 2), client_module.Line("pear")],
        client_module.OrderId("o-1"), color=client_module.Color.GREEN,
        size=(3, 4)))
    assert answer == client_module.OrderResponse(
        3, client_module.Color.GREEN, (3, 4), "o-1", ["apple", "pear"])
    assert client.lines(client_module.OrderRequest(
        [client_module.Line("fig")])) == [client_module.Line("fig", 1)]
    with open(__file__, "rb") as handle:
        assert client.report(client_module.Count(1)) == handle.read()
    progress: list[dict[str, Any]] = []
    result = client.count(client_module.Count(3), on_progress=progress.append)
    assert result == client_module.Counted(3, [0, 1, 4])
    assert progress and progress[-1] == {"done": 2, "total": 2,
                                         "message": "done"}
    with pytest.raises(RpcError) as err:  # the client cannot check it
        client.order(client_module.OrderRequest(
            [client_module.Line("apple", -1)]))
    assert err.value.status == 400 and err.value.field == "lines[0]"
    assert "qty must not be negative" in str(err.value)


def test_a_file_path_and_standard_output(server, tmp_path):
    done = codegen(f"http://127.0.0.1:{server.port}/openapi.json")
    assert done.returncode == 0 and "class Client:" in done.stdout
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(DOC))
    done = codegen(str(path))
    assert done.returncode == 0 and "def go(self" in done.stdout
    done = codegen(str(tmp_path / "missing.json"))
    assert done.returncode == 1 and "cannot read" in done.stderr
    assert "Traceback" not in done.stderr


DOC: dict[str, Any] = {
    "openapi": "3.1.0", "info": {"title": 'T """\r\x00\\', "version": "1"},
    "paths": {"/go'\"": {"post": {
        "operationId": "go",
        "description": 'ends early? """ + __import__("os") + """',
        "x-quick-server-contract": {
            "kind": "rpc", "name": "go", "files": False,
            "request": {"$ref": "#/components/schemas/Req"},
            "response": {"$ref": "#/components/schemas/Req"}}}}},
    "components": {"schemas": {"Req": {
        "title": "Req", "type": "object",
        "description": 'a """ docstring\\ ending in a quote"',
        "properties": {"text": {"type": "string",
                                "default": "'); import os #\n"}},
        "required": []}}}}


def hostile(change: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(DOC))
    change(doc)
    return doc


def test_a_hostile_document_gives_safe_code_or_a_clear_error(tmp_path):
    source = generate(DOC)
    compile(source, "client.py", "exec")
    module = load(_write(tmp_path, source), "qs_hostile_client")
    assert module.Req().text == "'); import os #\n"
    assert module.Req.__doc__ == DOC["components"]["schemas"]["Req"][
        "description"]
    assert module.Client.go.__doc__ == DOC["paths"]["/go'\""]["post"][
        "description"]
    assert module.Client.__doc__.startswith('A client of T """\r\x00\\ 1')
    schema = ("components", "schemas", "Req")

    def at(doc: dict[str, Any], *keys: str) -> Any:
        for key in keys:
            doc = doc[key]
        return doc

    cases = {
        "is a Python keyword": lambda d: at(d, "paths", "/go'\"", "post",
                                            "x-quick-server-contract"
                                            ).update(name="import"),
        "is not a Python identifier": lambda d: at(d, *schema)["properties"]
        .update({"a b": {"type": "string"}}),
        "keyword": lambda d: at(d, *schema)["properties"].update(
            {"class": {"type": "string"}}),
        "names no schema": lambda d: at(d, "paths", "/go'\"", "post",
                                        "x-quick-server-contract").update(
            request={"$ref": "#/components/schemas/os.system"}),
        "a name of the Client's own": lambda d: at(
            d, "paths", "/go'\"", "post", "x-quick-server-contract").update(
            name="base_url"),
        "does not fit its type": lambda d: at(d, *schema)["properties"][
            "text"].update(default=3),
        "NewType": lambda d: at(d, *schema)["properties"]["text"].update(
            {"x-python-newtype": "x = 1; import os"}),
        "the member of Mode 'None' is a Python keyword": lambda d: (
            at(d, "components", "schemas").update(Mode={
                "title": "Mode", "enum": ["a"],
                "x-python-enum-names": ["None"]}),
            at(d, *schema)["properties"].update(
                m={"$ref": "#/components/schemas/Mode"})),
        "the schema name 'class' is a Python keyword": lambda d: (
            at(d, "components", "schemas").update({"class": {
                "type": "object", "properties": {}}}),
            at(d, *schema)["properties"].update(
                c={"$ref": "#/components/schemas/class"})),
        "would hide": lambda d: at(d, *schema)["properties"].update(
            {"str": {"type": "string"}}),
    }
    for message, change in cases.items():
        with pytest.raises(CodegenError, match=message):
            generate(hostile(change))
    with pytest.raises(CodegenError, match="no typed operations"):
        generate({"openapi": "3.1.0", "paths": {}})


def _write(tmp_path: Any, source: str) -> Any:
    path = tmp_path / "hostile_client.py"
    path.write_text(source)
    return path
