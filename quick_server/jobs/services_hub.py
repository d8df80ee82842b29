"""Remote services that pull jobs over HTTP: one more place a job can run.

A *service* (a program anywhere that can reach the server, in any
language) registers under a name, proves it is alive with heartbeats, and
pulls the next job of its name itself; a worker path bound with
`server.service_worker(path, name)` queues its jobs for those services,
so browsers and `worker_request` use the worker protocol unchanged.

The HTTP API is `services_http` (docs/services.rst). A service silent
for `service_timeout` seconds is dead (a pending `next` is not silence):
its running jobs go back to the front of their queue (a job held by
`MAX_TRIES` services that died fails with `ServiceLost`)."""
from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from .. import log
from .outcomes import Outcome
from .progress import Progress, make_progress
from ..http.responses import HTTPError, Response, WaitingResponse, to_json
from ..http.waiting import Signal
from ..settings import ServiceSettings, Settings
from ..setting_types import Alias
from ..threads import make_thread

MAX_WAIT = 30.0  # seconds a `next` long-poll may be held
MAX_TRIES = 3  # services that may die holding a job before it fails
MAX_SERVICES = 1000
MAX_NAME = 200
MAX_DESCRIPTION = 2000

OnProgress = Callable[[Progress], None]
OnDone = Callable[[Outcome], None]


@dataclass(eq=False)
class ServiceJob:
    """A job queued for, or running on, a service."""
    id: str
    name: str
    payload: Any
    on_progress: OnProgress
    on_done: OnDone
    size: int = 0  # bytes of the payload's JSON
    deaths: int = 0  # services that died holding it
    service: Service | None = None
    ended: bool = False


@dataclass(eq=False)
class Service:
    """A registered service."""
    id: str
    name: str
    description: str
    last_seen: float
    running: dict[str, ServiceJob] = field(default_factory=dict)
    withdrawn: list[str] = field(default_factory=list)
    done: int = 0
    polls: int = 0  # `next` calls waiting: the service is alive
    dead_since: float | None = None  # epoch seconds

    @property
    def dead(self) -> bool:
        return self.dead_since is not None


class HubRecorder:
    """What the hub tells the job store (this one: nothing), with its
    lock held: which services there are, and which holds which job."""

    def registered(self, service: Service) -> None:
        """A service registered."""

    def gone(self, service: Service) -> None:
        """A service died (timed out)."""

    def took(self, job: ServiceJob, service: Service | None) -> None:
        """`service` holds `job` now (None: it waits for one again)."""


class ServiceRunner:
    """The runner (see `executors.py`) of the jobs of one service name:
    `run` queues a job for the services of that name."""
    runs_here = False  # a restart does not wait for it (`draining.py`)

    def __init__(self, hub: ServiceHub, name: str) -> None:
        self.hub = hub
        self.name = name

    @property
    def capacity(self) -> int:
        """The hub bounds what waits for services (jobs and bytes)."""
        return self.hub.max_jobs

    def run(self, fn: Callable[..., Any], args: tuple[Any, ...],
            key: str, on_progress: OnProgress, on_done: OnDone
            ) -> ServiceJob:
        return self.hub.enqueue(self.name, args[0] if args else None,
                                on_progress, on_done, key)

    def cancel(self, handle: ServiceJob) -> None:
        self.hub.withdraw(handle)

    def close(self) -> None:
        pass


class ServiceHub:
    """The services of a server, their job queues, and the sweeper that
    declares silent services dead. Its bounds are the server's
    `settings.services` (named here as on the settings)."""

    timeout = Alias(ServiceSettings.service_timeout)
    max_jobs = Alias(ServiceSettings.max_jobs)
    max_bytes = Alias(ServiceSettings.max_bytes)
    max_dead = Alias(ServiceSettings.max_dead)
    dead_for = Alias(ServiceSettings.dead_for)

    def __init__(self, settings: Settings, key: str = "",
                 key_made: bool = False) -> None:
        self.settings = settings
        self.key = key  # what services authenticate with
        self.key_made = key_made  # made by the server, not the user
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.signal = Signal()  # fired with a name when its queue grew
        self._services: dict[str, Service] = {}
        self._dead: deque[Service] = deque()  # oldest death first
        self._queues: dict[str, deque[ServiceJob]] = {}
        self._jobs: dict[str, ServiceJob] = {}
        self._closed = threading.Event()
        self._sweeper: threading.Thread | None = None
        self._bytes = 0  # JSON bytes of the payloads of jobs held here
        self.recorder = HubRecorder()  # the job store, if any
        self._held: dict[str, str] = {}  # restored job id -> service id

    def _start_sweeper_locked(self) -> None:
        """The sweeper starts with the first service or job (not before
        serving: the job processes fork while the server has one
        thread)."""
        if self._sweeper is None and not self._closed.is_set():
            self._sweeper = make_thread(
                target=self._sweep_loop, daemon=True,
                name="quick_server-services")
            self._sweeper.start()

    # -- the job side ------------------------------------------------------

    def check_room(self, size: int) -> None:
        """HTTPError 503 when a job whose payload is `size` bytes of JSON
        would pass the bounds of what waits for services."""
        with self._lock:
            if len(self._jobs) >= self.max_jobs or \
                    self._bytes + size > self.max_bytes:
                raise HTTPError(503, "Too many jobs wait for services",
                                headers=[("Retry-After", "5")])

    def enqueue(self, name: str, payload: Any, on_progress: OnProgress,
                on_done: OnDone, job_id: str | None = None) -> ServiceJob:
        """Queues a job for the services called `name`; a job restored
        with the id a service held it by goes back to that service."""
        job = ServiceJob(job_id or secrets.token_urlsafe(18), name, payload,
                         on_progress, on_done, size=len(to_json(payload)))
        with self._lock:
            self._start_sweeper_locked()
            self._bytes += job.size
            self._jobs[job.id] = job
            holder = self._services.get(self._held.pop(job.id, ""))
            if holder is not None:
                job.service = holder
                holder.running[job.id] = job
                return job
            self._queues.setdefault(name, deque()).append(job)
            self._changed.notify_all()
        self.signal.fire(name)
        return job

    def restore(self, services: list[tuple[str, str, str]],
                held: dict[str, str]) -> None:
        """A restarted server's services (id, name, description), alive
        as of now (the time the server was down does not count), and
        which job (by id) each held: `enqueue` gives it back."""
        now = time.monotonic()
        with self._lock:
            for service_id, name, description in services:
                self._services[service_id] = Service(
                    service_id, name, description, now)
            self._held.update(held)
            if services:
                self._start_sweeper_locked()

    def withdraw(self, job: ServiceJob) -> None:
        """The client stopped the job: out of its queue, or its service is
        told on its next heartbeat or result."""
        with self._lock:
            if job.ended:
                return
            queue = self._queues.get(job.name)
            if queue is not None and job in queue:
                queue.remove(job)
            service = job.service
            if service is not None:
                service.running.pop(job.id, None)
                service.withdrawn.append(job.id)
            self._end_locked(job)
        job.on_done(("cancelled",))

    def _end_locked(self, job: ServiceJob) -> None:
        job.ended = True
        job.service = None
        if self._jobs.pop(job.id, None) is not None:
            self._bytes -= job.size

    # -- the HTTP side -------------------------------------------------------

    def register(self, post: Any) -> dict[str, Any]:
        if not isinstance(post, dict) or not isinstance(post.get("name"), str) \
                or not post["name"] or len(post["name"]) > MAX_NAME:
            raise HTTPError(400, "A service registers with a JSON object "
                                 "{\"name\": \"...\", \"description\": "
                                 "\"...\"}")
        description = str(post.get("description") or "")[:MAX_DESCRIPTION]
        with self._lock:
            if len(self._services) >= MAX_SERVICES:
                raise HTTPError(503, "Too many services",
                                headers=[("Retry-After", "5")])
            service = Service(secrets.token_urlsafe(18), post["name"],
                              description, time.monotonic())
            self._services[service.id] = service
            self._start_sweeper_locked()
            self.recorder.registered(service)
        log.msg("service {0} ({1}) registered", service.name,
                service.id[:6])
        return {"id": service.id, "service_timeout": self.timeout}

    def _service_locked(self, service_id: str) -> Service:
        service = self._services.get(service_id)
        if service is None or service.dead:
            raise HTTPError(404, "Unknown service (it may have timed out): "
                                 "register again")
        service.last_seen = time.monotonic()
        return service

    def heartbeat(self, service_id: str) -> Any:
        with self._lock:
            service = self._service_locked(service_id)
            withdrawn, service.withdrawn = service.withdrawn, []
        if withdrawn:
            return Response({"withdrawn": withdrawn}, 409)
        return {"ok": True}

    def next_job(self, service_id: str, wait: float) -> Any:
        """The next job for the service, at once (a 204 when none)."""
        waiting = self.waiting_next(service_id, 0)
        try:
            return waiting.answer(0)
        finally:
            waiting.release()

    def waiting_next(self, service_id: str, wait: float) -> WaitingResponse:
        """The next job for the service, when one comes within `wait`
        seconds (a sign of life all along: the sweeper spares a service
        while its `next` waits). A service runs one job at a time: a job
        it still holds goes back to the queue first (the answer that
        handed it out was lost, or the service dropped it), and comes
        back to it."""
        seconds = min(max(wait, 0.0), MAX_WAIT)
        with self._lock:
            service = self._service_locked(service_id)
            failed = self._give_back_locked(service, died=False)
            queue = self._queues.setdefault(service.name, deque())
            service.polls += 1
        self._fail(failed)

        def answer(wait: float) -> Any:
            deadline = time.monotonic() + wait
            with self._lock:
                while not queue and not self._closed.is_set():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._changed.wait(left)
                job = queue.popleft() if queue else None
                if job is not None:
                    job.service = service
                    service.running[job.id] = job
                    self.recorder.took(job, service)
            if job is None:
                return Response(b"", 204)
            return {"job": job.id, "payload": job.payload}

        def done() -> None:
            with self._lock:
                service.polls -= 1
                service.last_seen = time.monotonic()
        return WaitingResponse(
            answer, seconds, signal=self.signal, keys=(service.name,),
            ready=lambda: bool(queue) or self._closed.is_set(),
            on_close=done)

    def _give_back_locked(self, service: Service, died: bool
                          ) -> list[ServiceJob]:
        """Puts the jobs `service` holds back at the front of their queue;
        when it `died`, each counts the death, and those held by
        `MAX_TRIES` dead services end instead (returned: `_fail` them)."""
        failed = []
        for job in service.running.values():
            job.service = None
            self.recorder.took(job, None)
            job.deaths += died
            if job.deaths >= MAX_TRIES:
                self._end_locked(job)
                failed.append(job)
            else:
                self._queues.setdefault(job.name, deque()).appendleft(job)
        names = {job.name for job in service.running.values()}
        service.running.clear()
        self._changed.notify_all()
        if names:
            self.signal.fire(*names)
        return failed

    @staticmethod
    def _fail(jobs: list[ServiceJob]) -> None:
        for job in jobs:
            job.on_done(("error", "ServiceLost",
                         f"{MAX_TRIES} services took the job and died "
                         f"before they answered", "", None))

    def post(self, service_id: str, job_id: str, post: Any) -> Any:
        """A result, an error or progress from the service running it. A
        body that is none of them ends the job with an error (the service
        cannot tell its client anything better) and is a 400."""
        with self._lock:
            service = self._service_locked(service_id)
            job = service.running.get(job_id)
            if job is None:
                raise HTTPError(409, "The job is not this service's (it was "
                                     "withdrawn or handed to another)")
            if isinstance(post, dict) and "progress" in post and \
                    not ("result" in post or "error" in post):
                progress = post["progress"]
                if not isinstance(progress, dict):
                    raise HTTPError(400, "'progress' is an object")
                try:
                    report = make_progress(progress.get("done", 0),
                                           progress.get("total"),
                                           progress.get("message"))
                except (TypeError, ValueError) as err:
                    raise HTTPError(400, f"Bad progress: {err}") from None
                on_progress: OnProgress | None = job.on_progress
            else:
                outcome, problem = _outcome(post)
                on_progress = None
                service.running.pop(job_id, None)
                service.done += 1
                self._end_locked(job)
        if on_progress is not None:
            on_progress(report)
            return {"ok": True}
        job.on_done(outcome)
        if problem is not None:
            raise HTTPError(400, problem)
        return {"ok": True}

    def describe(self) -> list[dict[str, Any]]:
        """The live services (a waiting `next` makes `last_seen` now),
        then the dead ones still listed, oldest death first."""
        now = time.monotonic()
        wall = time.time()
        with self._lock:
            return [{"id": s.id, "name": s.name, "description": s.description,
                     "alive": not s.dead,
                     "last_seen": wall - (0.0 if s.polls
                                          else now - s.last_seen),
                     "dead_since": s.dead_since,
                     "running": len(s.running), "jobs": list(s.running),
                     "done": s.done}
                    for s in (*self._services.values(), *self._dead)]

    # -- liveness ------------------------------------------------------------

    def _sweep_loop(self) -> None:
        tick = max(0.05, min(1.0, self.timeout / 4))
        while not self._closed.wait(tick):
            self.sweep()

    def sweep(self) -> None:
        """Declares services silent for `timeout` seconds (and not waiting
        in `next`) dead, gives their jobs to others (or fails jobs held by
        `MAX_TRIES` dead services), and forgets the dead listed too long."""
        failed: list[ServiceJob] = []
        now = time.monotonic()
        wall = time.time()
        with self._lock:
            for service in list(self._services.values()):
                if service.polls or now - service.last_seen <= self.timeout:
                    continue
                del self._services[service.id]
                service.dead_since = wall
                self.recorder.gone(service)
                self._dead.append(service)
                log.msg("service {0} ({1}) timed out, holding {2} job(s)",
                        service.name, service.id[:6], len(service.running))
                failed.extend(self._give_back_locked(service, died=True))
            dead = self._dead
            while dead and (len(dead) > self.max_dead or
                            (dead[0].dead_since or 0.0) < wall -
                            self.dead_for):
                dead.popleft()
        self._fail(failed)

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            self._changed.notify_all()
        self.signal.fire()


def _outcome(post: Any) -> tuple[Outcome, str | None]:
    """What a service's post (any JSON value) means for its job, and what
    is wrong with the post (None: nothing)."""
    if isinstance(post, dict) and "error" in post:
        return ("error", str(post.get("type") or "ServiceError"),
                str(post["error"]), "", None), None
    if isinstance(post, dict) and "result" in post:
        return ("done", post["result"]), None
    return ("error", "ServiceError", "the service answered neither a "
            "result nor an error", "", None), \
        ("Post {\"result\": ...}, {\"error\": \"...\"} or {\"progress\": "
         "{...}}; the job ended with an error")
