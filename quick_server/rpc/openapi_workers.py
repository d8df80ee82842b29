"""A typed worker in the OpenAPI document: the worker protocol's envelope
(docs/protocol.rst) at its path, `start` carrying the payload's schema and
the replies the result's (a JSON text: `contentSchema`), and the download
of a file answer."""
from __future__ import annotations

from typing import Any

from ..http.files import download_path
from .model import TypedRoute
from .openapi_parts import (JSON, OWN, TEXT, content, operation, own,
                            unique)
from .schema_defs import Definitions

WAIT = {"type": "number", "minimum": 0,
        "description": "seconds the server may hold the request for news "
                       "of the job (at most 30)"}
TOKEN = {"type": "string", "description": "the job's token"}


def worker_operation(route: TypedRoute, defs: Definitions
                     ) -> dict[str, Any]:
    """The `POST` of a typed worker: every protocol request, the typed
    `start` first."""
    start = {
        "type": "object", "title": f"start {route.name}",
        "description": "queues a job; a quick one is answered at once",
        "properties": {"action": {"const": "start"},
                       "payload": route.request.schema(defs),
                       "wait": WAIT},
        "required": ["action", "payload"]}
    requests = [start] + [own(name) for name in
                          ("WorkerGet", "WorkerStop", "WorkerCargo",
                           "WorkerPoll")]
    res = operation(route, defs, ["workers"])
    res["requestBody"] = {"required": True,
                          "content": content({"oneOf": requests})}
    reply = _reply(route.response_schema(defs))
    res["responses"] = {
        "200": {"description": "the job's state (`start`, `get`; `stop` "
                               "and `cargo` answer with a reply of this "
                               "shape too), or the jobs that changed "
                               "(`poll`)",
                "content": content({"anyOf": [reply,
                                              own("WorkerPollReply")]})},
        "400": {"description": "a payload that does not fit its type "
                               "(JSON naming the field), or a malformed "
                               "protocol request (text)",
                "content": {**content(own("RequestError")), **TEXT}},
        "404": {"description": "unknown or expired token",
                "content": TEXT},
        "500": {"description": "the job failed (JSON: its exception's "
                               "type and message), or the server did",
                "content": {**content(own("WorkerFailed")), **TEXT}},
        "503": {"description": "the job queue is full (Retry-After), or "
                               "the server is stopping",
                "content": TEXT}}
    return res


def _reply(result: dict[str, Any]) -> dict[str, Any]:
    """A `start` or `get` reply whose finished result is `result`."""
    return {
        "type": "object",
        "properties": {
            "token": TOKEN,
            "done": {"type": "boolean"},
            "continue": {"type": "boolean"},
            "result": {"anyOf": [
                {"type": "string", "contentMediaType": JSON,
                 "contentSchema": result,
                 "description": "done: the JSON text of the result"},
                {"type": "array", "items": {"type": "string"},
                 "description": "done and continue: the cargo tokens of "
                                "a long result, in order (fetch each with "
                                "`cargo`, join the parts, decode)"},
                {"type": "null"}]},
            "progress": {"anyOf": [own("Progress"), {"type": "null"}]}},
        "required": ["token", "done", "continue", "result"]}


def download_operation(route: TypedRoute, taken: set[str]
                       ) -> tuple[str, dict[str, Any]]:
    """The path and `GET` operation of a typed worker's file answers
    (`taken`: the operation ids in use)."""
    path = download_path(route.path, "{token}")
    return path, {
        "operationId": unique(f"{route.name}_file", taken),
        "tags": ["workers"],
        "summary": f"downloads the file answer of a {route.name} job",
        "parameters": [{"name": "token", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "responses": {
            "200": {"description": "the file (Content-Type and "
                                   "Content-Disposition name it)",
                    "content": {"application/octet-stream": {}}},
            "404": {"description": "unknown or released job",
                    "content": TEXT}}}


def _request(action: str, **properties: Any) -> dict[str, Any]:
    return {"type": "object",
            "properties": {"action": {"const": action}, **properties},
            "required": ["action"] + [name for name in properties
                                      if name != "wait"]}


WORKER_SCHEMAS: dict[str, Any] = {
    OWN + "Progress": {
        "type": "object",
        "description": "the job's latest report_progress",
        "properties": {"done": {"type": "number"},
                       "total": {"type": ["number", "null"]},
                       "message": {"type": ["string", "null"]}},
        "required": ["done"]},
    OWN + "WorkerGet": {**_request("get", token=TOKEN, wait=WAIT),
                        "description": "asks for the job's state"},
    OWN + "WorkerStop": {**_request("stop", token=TOKEN),
                         "description": "cancels the job (or releases "
                                        "its result) and forgets it"},
    OWN + "WorkerCargo": {**_request("cargo", token={
        "type": "string", "description": "a cargo token"}),
        "description": "fetches one part of a long result"},
    OWN + "WorkerPoll": {**_request(
        "poll",
        tokens={"type": "array", "items": {"type": "string"},
                "minItems": 1, "maxItems": 1000},
        wait=WAIT,
        poll={"type": "string", "minLength": 1, "maxLength": 64,
              "description": "names the poller: a newer poll with this "
                             "id supersedes a waiting one"}),
        "required": ["action", "tokens"],
        "description": "waits for any of many jobs (of any worker)"},
    OWN + "WorkerPollReply": {
        "type": "object",
        "properties": {"replies": {
            "type": "object",
            "description": "token -> the job's get reply, or the error "
                           "get would answer with its status",
            "additionalProperties": {"type": "object"}}},
        "required": ["replies"]},
    OWN + "JobError": {
        "type": "object",
        "properties": {"type": {"type": "string",
                                "description": "the exception's class "
                                               "name"},
                       "message": {"type": "string"}},
        "required": ["type", "message"]},
    OWN + "WorkerFailed": {
        "type": "object",
        "description": "the reply of a job that failed",
        "properties": {"token": TOKEN, "done": {"const": True},
                       "continue": {"const": False},
                       "result": {"type": "null"},
                       "progress": {"anyOf": [own("Progress"),
                                              {"type": "null"}]},
                       "error": own("JobError")},
        "required": ["token", "error"]},
}
