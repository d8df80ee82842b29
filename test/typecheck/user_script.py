"""A user's server script, type-checked with `mypy --strict` by
test_rpc.py::test_a_user_script_is_mypy_strict_clean: routes, rpc, the rpc
client, typed workers and worker_request, files and workers keep their
types (no Any leaks in)."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from quick_server import (FileResponse, QuickServerRequestHandler, ReqArgs,
                          ReqNext, Response, RpcError, WorkerArgs,
                          create_server, file_return, msg, rpc_call,
                          worker_request)

if TYPE_CHECKING:
    from typing_extensions import assert_type


@dataclass
class Line:
    name: str
    qty: int = 1


@dataclass
class OrderRequest:
    lines: list[Line]
    mode: Literal["fast", "slow"] = "fast"
    note: str | None = None


@dataclass
class OrderResponse:
    total: int
    names: list[str] = field(default_factory=list)


server = create_server(("127.0.0.1", 0))


@server.json_get("/api/hello", 0)
def hello(req: QuickServerRequestHandler, args: ReqArgs) -> dict[str, str]:
    name = args["query"].get("name", "world")
    return {"hello": str(name), "fragment": args["fragment"]}


@server.text_post("/api/upload")
def upload(req: QuickServerRequestHandler, args: ReqArgs) -> str:
    sizes = [f"{upload.filename}: {upload.size}"
             for upload in args["files"].values()]
    return "\n".join(sizes + args["paths"])


def needs_login(req: QuickServerRequestHandler, args: ReqArgs,
                okay: ReqNext) -> ReqNext | Response:
    if args["cookie"] is None:
        return Response("login first", 401)
    args["meta"]["user"] = args["cookie"].get("user")
    return okay


@server.json_get("/api/me")
@server.middleware(needs_login)
def me(req: QuickServerRequestHandler, args: ReqArgs) -> object:
    return {"user": args["meta"]["user"]}


@server.json_get("/api/export")
def export(req: QuickServerRequestHandler, args: ReqArgs) -> FileResponse:
    return FileResponse(__file__, filename="export.py", inline=True)


@server.rpc("/api/order")
def order(request: OrderRequest) -> OrderResponse:
    return OrderResponse(sum(line.qty for line in request.lines),
                         [line.name for line in request.lines])


@server.rpc("/api/order_file")
def order_file(request: OrderRequest) -> OrderResponse | FileResponse:
    return file_return(__file__)


@server.json_worker("/api/square")
def square(payload: WorkerArgs) -> dict[str, float]:
    return {"square": float(payload["x"]) ** 2}


@server.rpc_worker("/api/total")
def total(request: OrderRequest) -> OrderResponse:
    return OrderResponse(len(request.lines))


server.rpc_contracts("/api/contracts")
server.bind_openapi("/openapi.json", title="Orders", version="1.0",
                    page="/api/docs")

if TYPE_CHECKING:
    def decorated_functions_keep_their_types(
            req: QuickServerRequestHandler, args: ReqArgs) -> None:
        assert_type(hello(req, args), dict[str, str])
        assert_type(upload(req, args), str)
        assert_type(export(req, args), FileResponse)
        assert_type(order(OrderRequest([])), OrderResponse)
        assert_type(order_file(OrderRequest([])),
                    OrderResponse | FileResponse)
        assert_type(square({}), dict[str, float])
        assert_type(total(OrderRequest([])), OrderResponse)


def client(port: int) -> int:
    url = f"http://127.0.0.1:{port}/api/order"
    try:
        answer = rpc_call(url, OrderRequest([Line("a", 2)]), OrderResponse,
                          timeout=5.0, retries=1)
    except RpcError as err:
        msg("failed ({0}): {1}", err.status, err)
        return 1
    if TYPE_CHECKING:
        assert_type(answer, OrderResponse)
    result = worker_request(f"http://127.0.0.1:{port}/api/total",
                            OrderRequest([]), result_type=OrderResponse,
                            headers={"X-Test": "1"})
    if TYPE_CHECKING:
        assert_type(result, OrderResponse)
    return answer.total + result.total


if __name__ == "__main__":
    server.no_command_loop = True
    msg("serving on {0}", server.port)
    if len(sys.argv) > 1:
        server.serve_forever()
