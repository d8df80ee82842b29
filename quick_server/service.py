"""A service that pulls jobs from a quick_server over HTTP (standard
library only): `run_service(url, name, handler, key=...)`, or

    python -m quick_server.service URL NAME module:function [--key KEY]

(the key may also come from the environment: QUICK_SERVER_SERVICE_KEY).

The loop registers under `name`, keeps a heartbeat on a thread of its
own (at least three per `service_timeout` of the server), long-polls for
the next job, runs `handler(payload)` and posts its result (or its
exception's type and message; a result that cannot be sent becomes an
error, so the job always ends). `report_progress(...)` inside the handler
goes to the client. When the server is away (it restarted, or the network
failed) the loop tries again with a growing pause and registers anew; a
job the client stopped is dropped. Log lines say `[SERVICE name]`.
See `services.py` for the HTTP API."""
from __future__ import annotations

import argparse
import importlib
import os
import random
import sys
import threading
import urllib.error
import urllib.request
from typing import Any, Callable

from . import log
from .jobs.progress import Progress, use_channel
from .http.body import decode_json
from .http.responses import to_json
from .threads import make_thread

BACKOFF = (0.25, 0.5, 1.0, 2.0, 5.0)
POLL_WAIT = 25.0  # seconds a `next` waits, at most (the server's timeout)
BEATS = 3  # heartbeats per service_timeout, at least


class ServiceGone(Exception):
    """The server no longer knows this service: register again."""


class KeyRefused(Exception):
    """The server refused the services key (401)."""


class Conflict(Exception):
    """The job is not this service's any more (409)."""


class Refused(OSError):
    """The server refused the request for good (a 4xx status other than
    401, 404, 408, 409, 429): sending it again would not help."""


def _decoded(raw: bytes) -> Any:
    """A server's answer; one that is not JSON (or nested past the limit)
    is a failed call, tried again like a network error."""
    try:
        return decode_json(raw)
    except ValueError as err:
        raise OSError(f"the server's answer is not JSON: {err}") from None


class ServiceClient:
    """The HTTP calls of one service."""

    def __init__(self, url: str, name: str, key: str,
                 description: str = "") -> None:
        self.base = url.rstrip("/")
        self.name = name
        self.description = description
        self._auth = f"Bearer {key}"
        self.id: str | None = None
        self.timeout: float | None = None  # the server's service_timeout

    def _call(self, method: str, path: str, body: Any = None,
              timeout: float = 10.0) -> tuple[int, Any]:
        """`body` is a JSON value, or bytes of JSON already encoded."""
        data = body if isinstance(body, bytes) or body is None \
            else encode(body)
        request = urllib.request.Request(
            self.base + path, data=data, method=method,
            headers={"Authorization": self._auth,
                     **({"Content-Type": "application/json"}
                        if data is not None else {})})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                raw = resp.read()
                return resp.status, _decoded(raw) if raw else None
        except urllib.error.HTTPError as err:
            text = err.read().decode("utf-8", "replace")
            if err.code == 404:
                raise ServiceGone(text) from None
            if err.code == 409:
                try:
                    return 409, decode_json(text.encode("utf-8"))
                except ValueError:
                    return 409, None
            if err.code == 401:
                raise KeyRefused(f"the server refused the key: "
                                 f"{text.strip()}") from None
            problem = Refused if 400 <= err.code < 500 and \
                err.code not in (408, 429) else OSError
            raise problem(f"HTTP {err.code}: {text.strip()}") from None

    def register(self) -> str:
        _, answer = self._call("POST", "", {"name": self.name,
                                            "description": self.description})
        if not isinstance(answer, dict) or "id" not in answer:
            raise ValueError(f"not a registration: {answer!r:.200}")
        self.id = str(answer["id"])
        timeout = answer.get("service_timeout")
        self.timeout = float(timeout) if isinstance(timeout, (int, float)) \
            and 0 < timeout < float("inf") else None
        return self.id

    def heartbeat(self) -> list[str]:
        """Job ids the client withdrew since the last heartbeat."""
        status, answer = self._call("PATCH", f"/{self.id}")
        if status == 409 and isinstance(answer, dict):
            return [str(j) for j in answer.get("withdrawn", [])]
        return []

    def next_job(self, wait: float) -> tuple[str, Any] | None:
        status, answer = self._call("GET", f"/{self.id}/next?wait={wait}",
                                    timeout=wait + 15.0)
        if status == 204 or not isinstance(answer, dict) or \
                "job" not in answer:
            return None
        return str(answer["job"]), answer.get("payload")

    def post(self, job: str, body: Any) -> None:
        """Posts `body` (a JSON value, or its encoded bytes) for `job`."""
        status, _ = self._call("POST", f"/{self.id}/jobs/{job}", body)
        if status == 409:
            raise Conflict(job)


def encode(value: Any) -> bytes:
    """`value` as JSON, as the server answers its clients (NaN as null);
    ValueError or TypeError when it cannot be."""
    try:
        return to_json(value).encode("utf-8")
    except RecursionError:
        raise ValueError("the value is nested too deeply") from None


def _message(err: BaseException) -> str:
    """`str(err)`, or a note when its `__str__` fails (the job must end
    with an error all the same)."""
    try:
        return str(err)
    except Exception:  # pylint: disable=broad-except
        return f"<the {type(err).__name__}'s message cannot be shown>"


class Service:
    """The loop of one service; `stop()` ends it (from any thread)."""

    def __init__(self, client: ServiceClient,
                 handler: Callable[[Any], Any], heartbeat: float) -> None:
        self.client = client
        self.handler = handler
        self.heartbeat = self.asked_heartbeat = heartbeat
        self.wait = POLL_WAIT
        self._stop = threading.Event()
        self._withdrawn: set[str] = set()
        self._lock = threading.Lock()

    def stop(self) -> None:
        self._stop.set()

    def _pause(self, attempt: int) -> None:
        delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
        self._stop.wait(delay * (0.5 + random.random()))

    def _register(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                self.client.register()
                self._fit(self.client.timeout)
                log.msg("service {0} registered as {1}", self.client.name,
                        (self.client.id or "")[:6])
                return
            except (OSError, ValueError) as err:
                if attempt == 0:
                    log.msg("service {0}: server unreachable ({1}); "
                            "retrying", self.client.name, err)
                self._pause(attempt)
                attempt += 1

    def _fit(self, timeout: float | None) -> None:
        """Heartbeats and long-polls fitted to the server's timeout: a
        heartbeat `BEATS` times per timeout (or as asked, if more often),
        and a `next` that waits no longer than the timeout (a service
        that died while it waited is noticed that much sooner)."""
        if timeout is None:
            self.heartbeat, self.wait = self.asked_heartbeat, POLL_WAIT
            return
        self.heartbeat = min(self.asked_heartbeat, timeout / BEATS)
        self.wait = min(POLL_WAIT, timeout)

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            try:
                withdrawn = self.client.heartbeat()
            except (OSError, ServiceGone, ValueError):
                continue  # the job loop notices and registers again
            if withdrawn:
                with self._lock:
                    self._withdrawn.update(withdrawn)

    def run(self) -> None:
        """Pulls and runs jobs until `stop()`."""
        self._register()
        make_thread(target=self._beat, daemon=True,
                    name="quick_server-service-heartbeat").start()
        attempt = 0
        while not self._stop.is_set():
            try:
                job = self.client.next_job(self.wait)
                attempt = 0
            except ServiceGone:
                log.msg("service {0}: the server does not know this "
                        "service (it restarted, or heard nothing from it "
                        "for its service_timeout); registering again",
                        self.client.name)
                self._register()
                continue
            except (OSError, ValueError):
                self._pause(attempt)
                attempt += 1
                continue
            if job is not None:
                self._run_job(*job)

    def _run_job(self, job: str, payload: Any) -> None:
        def send_progress(progress: Progress) -> None:
            self.client.post(job, {"progress": progress.as_json()})
        use_channel(send_progress)
        try:
            body: dict[str, Any] = {"result": self.handler(payload)}
        except Exception as err:  # pylint: disable=broad-except
            log.log_exception(f"service job {job[:6]} failed:")
            body = {"error": _message(err), "type": type(err).__name__}
        finally:
            use_channel(None)
        with self._lock:
            if job in self._withdrawn:
                self._withdrawn.discard(job)
                return  # the client stopped it
        self._post_result(job, body)

    def _post_result(self, job: str, body: dict[str, Any]) -> None:
        """Posts the result (or error) of `job`. A result that cannot be
        encoded, or that the server refuses or never gets, is replaced by
        an error saying so: the job ends either way."""
        try:
            data = encode(body)
        except (TypeError, ValueError) as err:
            body = {"error": f"the result cannot be sent as JSON: {err}",
                    "type": type(err).__name__}
            data = encode(body)
        try:
            self._send(job, data)
        except OSError as err:
            if "error" in body:
                log.msg("service: could not post the error of job {0}: {1}",
                        job[:6], err)
                return
            log.msg("service: could not post the result of job {0} ({1}); "
                    "posting an error instead", job[:6], err)
            try:
                self._send(job, encode({
                    "error": f"the server did not take the result: {err}",
                    "type": "ServiceError"}))
            except OSError as again:
                log.msg("service: could not post the error of job {0}: "
                        "{1}", job[:6], again)

    def _send(self, job: str, data: bytes) -> None:
        """Posts `data` for `job`, again after network errors (OSError
        when it cannot: refused, or after `BACKOFF`); nothing happens when
        the job is not this service's any more."""
        for attempt in range(len(BACKOFF) + 1):
            try:
                self.client.post(job, data)
                return
            except (Conflict, ServiceGone):
                log.msg("service: the server took job {0} from this service "
                        "(withdrawn, or handed to another); its result is "
                        "dropped", job[:6])
                return
            except Refused:
                raise
            except (OSError, ValueError) as err:
                if attempt == len(BACKOFF) or self._stop.is_set():
                    raise OSError(str(err)) from None
                self._pause(attempt)


def run_service(url: str, name: str, handler: Callable[[Any], Any], *,
                key: str, heartbeat: float = 10.0,
                description: str = "") -> None:
    """Serves jobs of the services called `name` at the server's services
    `url` (e.g. "http://localhost:8080/services") with `handler(payload)`
    until interrupted (Ctrl-C or SIGTERM). `heartbeat` is shortened to a
    third of the server's service_timeout when that is shorter. Log lines
    say `[SERVICE name]` (unless `log.PREFIX` was changed)."""
    if log.PREFIX == log.DEFAULT_PREFIX:
        log.PREFIX = f"[SERVICE {log.escape_control(name)}] "
    service = Service(ServiceClient(url, name, key, description), handler,
                      heartbeat)
    try:
        service.run()
    except KeyboardInterrupt:
        service.stop()


def _load(target: str) -> Callable[[Any], Any]:
    module, sep, attribute = target.partition(":")
    if not sep or not module or not attribute:
        raise ValueError(f"expected module:function, got {target!r}")
    sys.path.insert(0, os.getcwd())
    fn: Any = importlib.import_module(module)
    for part in attribute.split("."):
        fn = getattr(fn, part)
    if not callable(fn):
        raise ValueError(f"{target} is not callable")
    return fn  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m quick_server.service",
        description="Pull jobs from a quick_server and run them.")
    parser.add_argument("url", help="the server's services URL, e.g. "
                                    "http://localhost:8080/services")
    parser.add_argument("name", help="the service name the server's "
                                     "service_worker uses")
    parser.add_argument("function", help="module:function run for each job")
    parser.add_argument("--key", default=os.environ.get(
        "QUICK_SERVER_SERVICE_KEY"), help="the services key (default: "
        "$QUICK_SERVER_SERVICE_KEY)")
    parser.add_argument("--heartbeat", type=float, default=10.0,
                        help="seconds between heartbeats (default 10; "
                             "at most a third of the server's "
                             "service_timeout)")
    args = parser.parse_args(argv)
    if not args.key:
        parser.error("a key is needed: --key or QUICK_SERVER_SERVICE_KEY")
    try:
        handler = _load(args.function)
    except (ImportError, AttributeError, ValueError) as err:
        parser.error(str(err))
    import signal  # pylint: disable=import-outside-toplevel
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        run_service(args.url, args.name, handler, key=args.key,
                    heartbeat=args.heartbeat)
    except KeyRefused as err:
        print(f"python -m quick_server.service: {err}", file=sys.stderr)
        return 2
    except SystemExit:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
