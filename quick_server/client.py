"""`worker_request`: a blocking stdlib client of the worker protocol."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any, Callable


class WorkerError(Exception):
    """A worker request failed; `status_code` is the HTTP status (or
    `None` when the server cancelled the job or the connection failed).
    When the job itself raised, `error_type` and `error_message` are the
    type name and message of its exception."""

    def __init__(self, message: str, status_code: int | None = None,
                 error_type: str | None = None,
                 error_message: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_type = error_type
        self.error_message = error_message


def _http_error(code: int, text: str) -> WorkerError:
    """The error of an HTTP error answer; a failed job's answer is JSON
    with its exception's type and message."""
    try:
        error = json.loads(text)["error"]
        kind, message = str(error["type"]), str(error["message"])
    except (ValueError, TypeError, KeyError):
        return WorkerError(f"HTTP {code}: {text}", code)
    return WorkerError(f"the job failed: {kind}: {message}", code, kind,
                       message)


RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0, 4.0)


def _post_once(url: str, obj: dict[str, Any], timeout: float
               ) -> dict[str, Any]:
    data = json.dumps(obj).encode("utf-8")
    request = urllib.request.Request(
        url, data=data, method="POST",
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        answer: dict[str, Any] = json.loads(resp.read())
        return answer


def _post(url: str, obj: dict[str, Any], timeout: float) -> dict[str, Any]:
    """POSTs one protocol request. A full queue (503) is retried after
    its Retry-After; a failed connection too, except for a `start` that
    may have reached the server (`get` and `cargo` can be repeated)."""
    delays = iter(RETRY_DELAYS)
    while True:
        try:
            return _post_once(url, obj, timeout)
        except urllib.error.HTTPError as err:
            text = err.read().decode("utf-8", "replace").strip()
            delay = next(delays, None)
            if err.code != 503 or delay is None:
                raise _http_error(err.code, text) from None
            retry_after = err.headers.get("Retry-After", "")
            if retry_after.isdigit():
                delay = min(float(retry_after), 30.0)
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            repeatable = obj.get("action") != "start" or \
                isinstance(reason, ConnectionRefusedError)
            delay = next(delays, None) if repeatable else None
            if delay is None:
                raise WorkerError(f"worker request failed: {err}") from None
        except ValueError as err:
            raise WorkerError(f"worker answer is not JSON: {err}") from None
        time.sleep(delay)


def worker_request(url: str, payload: Any, *, wait: float = 25.0,
                   timeout: float | None = None,
                   on_progress: Callable[[dict[str, Any]], None] | None = None
                   ) -> Any:
    """Runs a job at the worker `url` and returns its decoded result.

    Long-polls with `wait` seconds per request (a poll also returns when
    the job reports progress: `on_progress(progress)` then gets the
    `{"done", "total", "message"}` object); gives up (stopping the job)
    after `timeout` seconds when given. A job that raised is a
    `WorkerError` with `error_type` and `error_message`."""
    deadline = None if timeout is None else time.monotonic() + timeout
    per_request = wait + 30.0
    res = _post(url, {"action": "start", "payload": payload}, per_request)
    token = res.get("token")
    seen: Any = None
    try:
        while True:
            progress = res.get("progress")
            if on_progress is not None and progress is not None and \
                    progress != seen:
                seen = progress
                on_progress(progress)
            if res["done"]:
                break
            if not res["continue"]:
                raise WorkerError("the server cancelled the job")
            hold = wait
            if deadline is not None:
                hold = min(wait, deadline - time.monotonic())
                if hold <= 0:
                    raise WorkerError("timed out waiting for the job")
            res = _post(url, {"action": "get", "token": token, "wait": hold},
                        per_request)
        token = None
        if res["continue"]:
            text = "".join(
                _post(url, {"action": "cargo", "token": key},
                      per_request)["result"]
                for key in res["result"])
        else:
            text = res["result"]
        return json.loads(text)
    finally:
        if token is not None:
            try:
                _post(url, {"action": "stop", "token": token}, 5.0)
            except WorkerError:
                pass
