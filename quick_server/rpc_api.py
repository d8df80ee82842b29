"""The typed registration methods of a server (a mixin of `QuickServer`):
`rpc`, `rpc_worker`, `rpc_contracts`, `typed_routes` and `bind_openapi`.
The rpc wing is imported when one is registered."""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from .http.responses import Response
from .http.routing import ReqArgs, ReqF

if TYPE_CHECKING:
    from .jobs.table import WorkerPool
    from .rpc.model import TypedRoute

RpcF = TypeVar("RpcF", bound=Callable[[Any], Any])


class RpcApi:
    """`rpc`, `rpc_worker`, `rpc_contracts`, `typed_routes` and
    `bind_openapi`."""

    if TYPE_CHECKING:  # what the server provides
        _typed: dict[str, TypedRoute]
        _services_prefix: str | None

        @property
        def workers(self) -> WorkerPool: ...

        def add_route(self, method: str, kind: str, mask: str,
                      handler: ReqF, argc: int | None = None, *,
                      exclusive: bool = True,
                      guard: Callable[[Any], None] | None = None
                      ) -> None: ...

        def _js_client_pending(self, path: str, fn: Any,
                               typed: bool = True) -> None: ...

        def _js_clients_changed(self) -> None: ...

        def _replacing(self, what: str
                       ) -> contextlib.AbstractContextManager[None]: ...

        def _register_worker(self, mask: str, fn: Callable[..., Any],
                             cache_id: Callable[[Any], Any] | None,
                             cache_method: str | None,
                             cache_section: str | None, executor: Any,
                             restartable: bool, typed: Any = None
                             ) -> None: ...

    def rpc(self, path: str, *, name: str | None = None
            ) -> Callable[[RpcF], RpcF]:
        """Registers `fn(request: Req) -> Resp` (dataclasses) at `path`:
        `POST` takes a JSON `Req` (a 400 names a field that does not fit)
        and answers the JSON of `fn`'s `Resp` (or its `FileResponse`);
        `GET` answers its contract (`{"kind", "name", "description",
        "request", "response"}`, the types as JSON Schema). `name` (default:
        the function's) names it in the OpenAPI document and the
        generated clients: unique among the typed routes (ValueError).
        TypeError when a type has no JSON form."""
        from .rpc.contracts import Contract  # the rpc wing, when used

        if ":" in path:
            raise ValueError(f"rpc paths have no :segments: {path!r}")

        def register(fn: RpcF) -> RpcF:
            contract = Contract(path, fn, name)
            self._check_name(contract)
            self._js_client_pending(path, fn)  # its name in JS clients
            with self._replacing(f"rpc {path}"):
                self.add_route("POST", "json", path, contract.answer, 0)
                self.add_route("GET", "json", path, contract.describe, 0,
                               exclusive=False)
            self._typed[path] = contract
            self._js_clients_changed()
            return fn
        return register

    def rpc_worker(self, path: str, *, name: str | None = None,
                   cache_id: Callable[[Any], Any] | None = None,
                   cache_method: str | None = None,
                   cache_section: str | None = None,
                   executor: Any = None, restartable: bool = False
                   ) -> Callable[[RpcF], RpcF]:
        """Registers `fn(payload: Req) -> Result` (dataclasses, as for
        `rpc`; `fn` may be an `async def`) as a worker at `path`: the
        worker protocol, whose `start` payload must fit `Req` (else a 400
        naming the field, as an rpc's) and whose result is `fn`'s
        `Result`, checked and sent as JSON. Executors, progress, cancel,
        cargo, the cache (`cache_id(request)` gets the typed request) and
        `restartable` are those of `json_worker`; `GET path` answers the
        contract, as for `rpc`."""
        from .rpc.typed_worker import WorkerContract

        if ":" in path:
            raise ValueError(f"worker paths have no :segments: {path!r}")
        if executor is not None:
            self.workers.runners.get(executor)  # ValueError when unknown

        def register(fn: RpcF) -> RpcF:
            contract = WorkerContract(path, fn, name)
            self._check_name(contract)
            self._js_client_pending(path, fn)  # its name in JS clients
            with self._replacing(f"rpc worker {path}"):
                self._register_worker(path, fn, cache_id, cache_method,
                                      cache_section, executor, restartable,
                                      typed=contract)
                self.add_route("GET", "json", path, contract.describe, 0,
                               exclusive=False)
            self._typed[path] = contract
            self._js_clients_changed()
            return fn
        return register

    def _check_name(self, route: TypedRoute) -> None:
        """ValueError when another typed route has `route`'s name."""
        from .rpc.model import check_names
        check_names(route, list(self._typed.values()))

    def typed_routes(self) -> list[TypedRoute]:
        """The contracts of the rpc routes and typed workers, in the
        order registered (`rpc.model.TypedRoute`: kind, path, name,
        description, request and response types and codecs)."""
        return list(self._typed.values())

    def rpc_contracts(self, path: str) -> None:
        """Serves, with `GET path`, every contract of this server (rpc
        routes and typed workers) in one JSON Schema document
        (`contracts`: path -> kind, name, description, request and
        response; the types in one `$defs`)."""
        from .rpc.model import contracts_document

        def serve(req: Any, args: ReqArgs) -> Any:
            return contracts_document(self.typed_routes())
        self.add_route("GET", "json", path, serve, 0, exclusive=False)

    def bind_openapi(self, path: str = "/openapi.json", *,
                     title: str = "API", version: str = "0.1.0",
                     description: str | None = None,
                     page: str | None = None) -> None:
        """Serves, with `GET path`, the OpenAPI 3.1 document of this
        server's typed surface: its rpc routes and typed workers (also
        those registered later), and the services API when bound.
        `page`: a path that serves the contracts as an HTML page."""
        from .rpc.openapi import openapi_document

        def document() -> dict[str, Any]:
            return openapi_document(
                self.typed_routes(), title=title, version=version,
                description=description, services=self._services_prefix)
        self.add_route("GET", "json", path,
                       lambda req, args: document(), 0, exclusive=False)
        if page is None:
            return
        from .rpc.contract_page import contract_page

        def serve_page(req: Any, args: ReqArgs) -> Any:
            return Response(contract_page(
                self.typed_routes(), title=title, version=version,
                description=description, document=path,
                services=self._services_prefix),
                ctype="text/html; charset=utf-8")
        self.add_route("GET", "text", page, serve_page, 0, exclusive=False)
