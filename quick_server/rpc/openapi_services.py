"""The services HTTP API (`bind_services`, docs/services-api.rst) in the
OpenAPI document: every call needs the bearer key."""
from __future__ import annotations

from typing import Any

from .openapi_parts import TEXT, content, unique

KEY = "servicesKey"
SECURITY: dict[str, Any] = {KEY: {
    "type": "http", "scheme": "bearer",
    "description": "the key of server.bind_services (given, or made and "
                   "logged)"}}

OK = {"type": "object", "properties": {"ok": {"const": True}},
      "required": ["ok"]}
PROGRESS = {"type": "object",
            "properties": {"done": {"type": "number"},
                           "total": {"type": ["number", "null"]},
                           "message": {"type": ["string", "null"]}},
            "required": ["done"]}
SERVICE = {
    "type": "object",
    "properties": {"id": {"type": "string"}, "name": {"type": "string"},
                   "description": {"type": "string"},
                   "alive": {"type": "boolean"},
                   "last_seen": {"type": "number"},
                   "dead_since": {"type": ["number", "null"]},
                   "running": {"type": "integer"},
                   "jobs": {"type": "array", "items": {"type": "string"}},
                   "done": {"type": "integer"}}}


def _answer(description: str, schema: dict[str, Any] | None = None
            ) -> dict[str, Any]:
    res: dict[str, Any] = {"description": description}
    res["content"] = TEXT if schema is None else content(schema)
    return res


def _call(name: str, taken: set[str], summary: str,
          answers: dict[str, Any], body: dict[str, Any] | None = None,
          parameters: tuple[str, ...] = (), query: bool = False
          ) -> dict[str, Any]:
    """One call of the API: its id (unique in the document), key, path
    parameters and answers (each with the 401 of a missing key)."""
    res: dict[str, Any] = {
        "operationId": unique(name, taken), "tags": ["services"],
        "summary": summary, "security": [{KEY: []}]}
    params: list[dict[str, Any]] = [
        {"name": param, "in": "path", "required": True,
         "schema": {"type": "string"}} for param in parameters]
    if query:
        params.append({"name": "wait", "in": "query", "required": False,
                       "schema": {"type": "number"},
                       "description": "seconds to wait for a job (at "
                                      "most 30)"})
    if params:
        res["parameters"] = params
    if body is not None:
        res["requestBody"] = {"required": True, "content": content(body)}
    res["responses"] = {
        **answers,
        "401": {**_answer("no key, or another key"),
                "headers": {"WWW-Authenticate": {
                    "schema": {"type": "string"}}}}}
    return res


def services_paths(prefix: str, taken: set[str]) -> dict[str, Any]:
    """The API's paths under `prefix` (without its trailing slash);
    `taken`: the operation ids in use."""
    gone = _answer("unknown service (it timed out, or the server started "
                   "afresh): register again")
    register = {"type": "object",
                "properties": {"name": {"type": "string"},
                               "description": {"type": "string"}},
                "required": ["name"]}
    posted = {"oneOf": [
        {"type": "object", "properties": {"result": {}},
         "required": ["result"]},
        {"type": "object", "properties": {"error": {"type": "string"},
                                          "type": {"type": "string"}},
         "required": ["error"]},
        {"type": "object", "properties": {"progress": PROGRESS},
         "required": ["progress"]}]}
    return {
        prefix: {
            "post": _call(
                "services_register", taken, "registers a service",
                {"200": _answer("the service's id", {
                    "type": "object",
                    "properties": {"id": {"type": "string"},
                                   "service_timeout": {"type": "number"}},
                    "required": ["id", "service_timeout"]}),
                 "400": _answer("no name"),
                 "415": _answer("the body is not JSON"),
                 "503": _answer("too many live services")},
                body=register),
            "get": _call(
                "services_list", taken, "lists the services (the dead "
                "ones too)",
                {"200": _answer("the services",
                                {"type": "array", "items": SERVICE})})},
        prefix + "/{id}": {
            "patch": _call(
                "services_heartbeat", taken, "a service's heartbeat",
                {"200": _answer("alive", OK),
                 "404": gone,
                 "409": _answer("clients stopped jobs the service runs", {
                     "type": "object",
                     "properties": {"withdrawn": {
                         "type": "array", "items": {"type": "string"}}},
                     "required": ["withdrawn"]})},
                parameters=("id",))},
        prefix + "/{id}/next": {
            "get": _call(
                "services_next", taken, "the service's next job",
                {"200": _answer("a job", {
                    "type": "object",
                    "properties": {"job": {"type": "string"},
                                   "payload": {}},
                    "required": ["job", "payload"]}),
                 "204": {"description": "no job came within wait "
                                        "seconds"},
                 "400": _answer("wait is not a finite number"),
                 "404": gone},
                parameters=("id",), query=True)},
        prefix + "/{id}/jobs/{job}": {
            "post": _call(
                "services_post_job", taken, "a job's result, error or "
                "progress",
                {"200": _answer("taken", OK),
                 "400": _answer("neither a result, an error nor a "
                                "progress (the job ends), or a bad "
                                "progress"),
                 "404": gone,
                 "409": _answer("the job is no longer this service's"),
                 "415": _answer("the body is not JSON")},
                body=posted, parameters=("id", "job"))},
    }
