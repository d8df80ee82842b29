"""What the parts of the OpenAPI document share (`openapi`): names,
the typed operation's common fields, and the error answers of the rpc
routes."""
from __future__ import annotations

from typing import Any

from .model import TypedRoute
from .schema_defs import Definitions

SCHEMAS = "#/components/schemas/"
RESPONSES = "#/components/responses/"
OWN = "quick_server."  # the components of this document's own
JSON = "application/json"


def operation(route: TypedRoute, defs: Definitions, tags: list[str]
              ) -> dict[str, Any]:
    """What every typed operation has: its id, texts and contract."""
    res: dict[str, Any] = {"operationId": route.name, "tags": tags}
    if route.description:
        res["summary"] = route.description.split("\n\n")[0].replace(
            "\n", " ")
        res["description"] = route.description
    res["x-quick-server-contract"] = {
        "kind": route.kind, "name": route.name,
        "request": route.request.schema(defs),
        "response": None if route.response is None
        else route.response.schema(defs),
        "files": route.files}
    return res


def unique(name: str, taken: set[str]) -> str:
    """`name`, or `name_2`, `name_3`, ... when another operation has it;
    taken from now on."""
    found, count = name, 1
    while found in taken:
        count += 1
        found = f"{name}_{count}"
    taken.add(found)
    return found


def content(schema: dict[str, Any], media: str = JSON) -> dict[str, Any]:
    return {media: {"schema": schema}}


TEXT = {"text/plain": {"schema": {"type": "string"}}}


def own(name: str) -> dict[str, str]:
    """A `$ref` to one of this document's own schemas."""
    return {"$ref": SCHEMAS + OWN + name}


ERROR_SCHEMAS: dict[str, Any] = {
    OWN + "RequestError": {
        "type": "object",
        "description": "a request that does not fit its type",
        "properties": {
            "error": {"type": "string",
                      "description": "what is wrong, where"},
            "field": {"type": "string",
                      "description": "the path of the value that does "
                                     "not fit (items[2].name; empty: the "
                                     "whole request)"},
            "expected": {"type": "string",
                         "description": "the type wanted there"}},
        "required": ["error", "field", "expected"]},
    OWN + "ServerError": {
        "type": "object",
        "description": "the function failed (the exception's type and "
                       "traceback only for a client that may see them: "
                       "settings.dev.debug)",
        "properties": {"error": {"type": "string"},
                       "type": {"type": "string"},
                       "traceback": {"type": "string"}},
        "required": ["error"]},
}

ERROR_RESPONSES: dict[str, Any] = {
    OWN + "BadRequest": {
        "description": "the request does not fit its type (JSON naming "
                       "the field), or is not JSON (text)",
        "content": {**content(own("RequestError")), **TEXT}},
    OWN + "UnsupportedMediaType": {
        "description": "the request's Content-Type is not JSON",
        "content": TEXT},
    OWN + "ServerError": {
        "description": "the function failed, or answered a value that is "
                       "not its declared type",
        "content": {**content(own("ServerError")), **TEXT,
                    "text/html": {"schema": {"type": "string"}}}},
}
