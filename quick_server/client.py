"""`worker_request`: a blocking stdlib client of the worker protocol."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any


class WorkerError(Exception):
    """A worker request failed; `status_code` is the HTTP status (or
    `None` when the job was dropped or the connection failed)."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


def _post(url: str, obj: dict[str, Any], timeout: float) -> dict[str, Any]:
    data = json.dumps(obj).encode("utf-8")
    request = urllib.request.Request(
        url, data=data, method="POST",
        headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as err:
        text = err.read().decode("utf-8", "replace").strip()
        raise WorkerError(f"HTTP {err.code}: {text}", err.code) from None
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise WorkerError(f"worker request failed: {err}") from None


def worker_request(url: str, payload: Any, *, wait: float = 25.0,
                   timeout: float | None = None) -> Any:
    """Runs a job at the worker `url` and returns its decoded result.

    Long-polls with `wait` seconds per request; gives up (stopping the job)
    after `timeout` seconds when given."""
    deadline = None if timeout is None else time.monotonic() + timeout
    per_request = wait + 30.0
    res = _post(url, {"action": "start", "payload": payload}, per_request)
    token = res.get("token")
    try:
        while not res["done"]:
            if not res["continue"]:
                raise WorkerError("the server dropped the job")
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
