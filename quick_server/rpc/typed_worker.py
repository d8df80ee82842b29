"""Typed workers (`@server.rpc_worker`): a worker whose payload is checked
into a dataclass before its job is queued (a 400 with the rpc's JSON
error otherwise) and whose result is checked against the declared type
and encoded when the job ends. Everything else (executors, progress,
cancel, cache, cargo, the job store) is the worker's own
(`JobApi._register_worker`)."""
from __future__ import annotations

import functools
import types
from typing import Any, Callable

from ..http.files import FileResponse
from ..http.responses import HTTPError, to_json
from .codec import ValidationError
from .contracts import RpcAnswerError
from .model import WORKER, TypedRoute


WORKER_FILE_SCHEMA = {
    "title": "file", "type": "object",
    "description": "a file answer: GET its url downloads it",
    "properties": {"file": {
        "type": "object",
        "properties": {"url": {"type": "string"},
                       "filename": {"type": "string"},
                       "content_type": {"type": "string"},
                       "size": {"type": "integer"}},
        "required": ["url", "filename", "content_type", "size"]}},
    "required": ["file"]}


class WorkerContract(TypedRoute):
    """A typed worker's contract: `fn(payload: Req) -> Result`, as for an
    rpc (`TypedRoute`); `fn` may be an `async def`."""

    kind = WORKER
    file_schema = WORKER_FILE_SCHEMA

    def payload_of(self, payload: Any) -> Any:
        """The protocol's JSON payload as the request type; HTTPError 400
        with `{"error", "field", "expected"}` when it does not fit (also
        what a restarted server makes of a kept job that no longer
        fits)."""
        try:
            return self.request.decode(payload)
        except ValidationError as err:
            body = {"error": err.describe("payload"), "field": err.path,
                    "expected": err.expected}
            raise HTTPError(400, body["error"], page=(
                to_json(body).encode("utf-8"), "application/json")
                ) from None

    def result_json(self, value: Any) -> Any:
        """The job's result as plain JSON values; RpcAnswerError (the
        job's error) when it is not the declared type."""
        try:
            return self.encode_answer(value)
        except ValidationError as err:
            raise RpcAnswerError(self.wrong_answer(err, "result")) from None

    def job(self, payload: Any, request: Any
            ) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """The function and arguments of a job: the payload first (what
        the job store keeps), the typed request for `fn`."""
        return functools.partial(call_typed, self.fn, self.files), \
            (payload, request)


def call_typed(fn: Callable[[Any], Any], files: bool, payload: Any,
               request: Any) -> Any:
    """Runs a typed job where its executor runs it (module level: it
    travels to job processes): `fn(request)`, refusing a file answer that
    the return type does not allow."""
    result = fn(request)
    if isinstance(result, types.CoroutineType):  # an `async def` worker
        return _checked_later(result, files)
    return _checked(result, files)


async def _checked_later(result: Any, files: bool) -> Any:
    return _checked(await result, files)


def _checked(result: Any, files: bool) -> Any:
    if isinstance(result, FileResponse) and not files:
        result.release()
        raise RpcAnswerError("the job answered a FileResponse, which its "
                             "return type does not allow (add "
                             "`| FileResponse` to it)")
    return result
