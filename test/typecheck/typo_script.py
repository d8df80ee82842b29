"""Typos `mypy --strict` must report (test_rpc.py checks each one is):
every line marked `# typo` is an error."""
from __future__ import annotations

from dataclasses import dataclass

from quick_server import (QuickServerRequestHandler, ReqArgs, create_server,
                          rpc_call)


@dataclass
class HelloRequest:
    name: str


@dataclass
class HelloResponse:
    text: str


server = create_server(("127.0.0.1", 0))


@server.json_get("/api/search")
def search(req: QuickServerRequestHandler, args: ReqArgs) -> str:
    return str(args["qurey"])  # typo


@server.rpc("/api/hello")
def hello(request: HelloRequest) -> HelloResponse:
    return HelloResponse(request.nmae)  # typo


answer = rpc_call("http://127.0.0.1:8000/api/hello", HelloRequest("x"),
                  HelloResponse)
print(answer.txet)  # typo


def use(req: QuickServerRequestHandler, args: ReqArgs) -> int:
    return search(req, args)  # typo
