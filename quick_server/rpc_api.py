"""The typed rpc registration methods of a server (a mixin of
`QuickServer`): `rpc` and `rpc_contracts`. The rpc wing is imported when
one is registered."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, TypeVar

from .http.routing import ReqArgs, ReqF

if TYPE_CHECKING:
    from .rpc.contracts import Contract

RpcF = TypeVar("RpcF", bound=Callable[[Any], Any])


class RpcApi:
    """`rpc` and `rpc_contracts`."""

    if TYPE_CHECKING:  # what the server provides
        _rpc: dict[str, Contract]

        def add_route(self, method: str, kind: str, mask: str,
                      handler: ReqF, argc: int | None = None, *,
                      exclusive: bool = True,
                      guard: Callable[[Any], None] | None = None
                      ) -> None: ...

        def _js_client_pending(self, path: str, fn: Any,
                               typed: bool = True) -> None: ...

        def _js_clients_changed(self) -> None: ...

    def rpc(self, path: str) -> Callable[[RpcF], RpcF]:
        """Registers `fn(request: Req) -> Resp` (dataclasses) at `path`:
        `POST` takes a JSON `Req` (a 400 names a field that does not fit)
        and answers the JSON of `fn`'s `Resp` (or its `FileResponse`);
        `GET` answers `{"request": <JSON Schema>, "response": <JSON
        Schema>}`. TypeError when a type has no JSON form."""
        if ":" in path:
            raise ValueError(f"rpc paths have no :segments: {path!r}")

        from .rpc.contracts import Contract  # the rpc wing, when used

        def register(fn: RpcF) -> RpcF:
            contract = Contract(path, fn)
            self._js_client_pending(path, fn)  # its name in JS clients
            self.add_route("POST", "json", path, contract.answer, 0)
            self.add_route("GET", "json", path, contract.describe, 0,
                           exclusive=False)
            self._rpc[path] = contract
            self._js_clients_changed()
            return fn
        return register

    def rpc_contracts(self, path: str) -> None:
        """Serves, with `GET path`, every rpc contract of this server in
        one JSON Schema document (`contracts`: path -> request and
        response; the types in one `$defs`)."""
        from .rpc.contracts import contracts_document

        def serve(req: Any, args: ReqArgs) -> Any:
            return contracts_document(list(self._rpc.values()))
        self.add_route("GET", "json", path, serve, 0, exclusive=False)
