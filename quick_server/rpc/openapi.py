"""The OpenAPI 3.1 document of a server's typed surface
(`server.bind_openapi`), made from the contract model (`model`).

Every rpc is a `POST` whose request body and 200 answer are its types'
JSON Schema (a file answer as a binary body), with the 400 (a request
that does not fit: `field`, `expected`), 415 and 500 answers; every typed
worker is the worker protocol at its path (`openapi_workers`); the
services API, when bound, has its bearer key as a security scheme
(`openapi_services`). The types are `components/schemas`, named as the
classes; the components this module adds itself are named
`quick_server.*`. Each typed operation carries `x-quick-server-contract`
(`{"kind", "name", "request", "response", "files"}`: what a client
generator needs, without reading the protocol's envelope), and schemas
carry `x-python-*` where JSON Schema loses a Python type (docs/rpc.rst)."""
from __future__ import annotations

from typing import Any

from .model import RPC, TypedRoute
from .openapi_parts import (ERROR_RESPONSES, ERROR_SCHEMAS, JSON, OWN,
                            RESPONSES, SCHEMAS, operation)
from .openapi_services import SECURITY, services_paths
from .openapi_workers import (WORKER_SCHEMAS, download_operation,
                              worker_operation)
from .schema_defs import Definitions

OPENAPI = "3.1.0"


def openapi_document(routes: list[TypedRoute], *, title: str,
                     version: str, description: str | None = None,
                     services: str | None = None) -> dict[str, Any]:
    """The document of `routes` (and of the services API bound under the
    prefix `services`, when given)."""
    defs = Definitions(SCHEMAS)
    paths: dict[str, dict[str, Any]] = {}
    taken = {route.name for route in routes}  # the operation ids
    for route in routes:
        if route.kind == RPC:
            paths.setdefault(route.path, {})["post"] = \
                rpc_operation(route, defs)
            continue
        paths.setdefault(route.path, {})["post"] = \
            worker_operation(route, defs)
        if route.files:
            path, download = download_operation(route, taken)
            paths[path] = {"get": download}
    schemas: dict[str, Any] = {**defs.defs, **ERROR_SCHEMAS}
    if any(route.kind != RPC for route in routes):
        schemas.update(WORKER_SCHEMAS)
    components: dict[str, Any] = {"schemas": schemas,
                                  "responses": dict(ERROR_RESPONSES)}
    if services is not None:
        paths.update(services_paths(services, taken))
        components["securitySchemes"] = SECURITY
    info: dict[str, Any] = {"title": title, "version": version}
    if description:
        info["description"] = description
    return {"openapi": OPENAPI, "info": info, "paths": paths,
            "components": components}


def rpc_operation(route: TypedRoute, defs: Definitions) -> dict[str, Any]:
    """The `POST` of an rpc."""
    request = route.request.schema(defs)
    content: dict[str, Any] = {}
    if route.response is not None:
        content[JSON] = {"schema": route.response.schema(defs)}
    if route.files:
        content["application/octet-stream"] = {}  # any bytes
    answer = "the answer" + (" (a file: Content-Type and "
                             "Content-Disposition name it)"
                             if route.files else "")
    res = operation(route, defs, ["rpc"])
    res["requestBody"] = {"required": True,
                          "content": {JSON: {"schema": request}}}
    res["responses"] = {
        "200": {"description": answer, "content": content},
        "400": {"$ref": RESPONSES + OWN + "BadRequest"},
        "415": {"$ref": RESPONSES + OWN + "UnsupportedMediaType"},
        "500": {"$ref": RESPONSES + OWN + "ServerError"}}
    return res


