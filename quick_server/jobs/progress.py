"""Job progress: `report_progress(done, total, message)` inside a job, and
the channels that carry it back to the server from wherever the job runs.

A job runs on a server thread, in a job process of the server's own pool,
in a process of any `concurrent.futures.Executor` on this machine, or on
a Dask worker anywhere. Each place sets the channel of the thread that
runs the job (`use_channel`); `report_progress` sends to it, at most every
`MIN_INTERVAL` seconds (the last report, `done == total`, always goes), so
a tight loop that reports on every step costs little and does not flood
the browser with replies."""
from __future__ import annotations

import json
import math
import socket
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable

from .. import log
from ..threads import make_thread

MIN_INTERVAL = 0.05  # seconds between two reports that are sent
MAX_MESSAGE = 1000  # characters of a progress message kept


@dataclass(frozen=True)
class Progress:
    """The latest progress of a job, as every `get` reply carries it."""
    done: float
    total: float | None = None
    message: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"done": self.done, "total": self.total,
                "message": self.message}


Channel = Callable[[Progress], None]


class _Reporting:
    """Where the current job's reports go, and when the last one went."""
    __slots__ = ("channel", "last")

    def __init__(self, channel: Channel) -> None:
        self.channel, self.last = channel, 0.0


# per thread, and per asyncio task (each runs in a copy of the context)
_CURRENT: ContextVar[_Reporting | None] = ContextVar(
    "quick_server_progress", default=None)


def use_channel(channel: Channel | None) -> None:
    """Reports of the calling thread (or asyncio task) go to `channel`
    (None: nowhere)."""
    _CURRENT.set(None if channel is None else _Reporting(channel))


def make_progress(done: Any, total: Any = None, message: Any = None
                  ) -> Progress:
    """A checked `Progress`: numbers finite, `message` a short string.
    ValueError (TypeError for a wrong type) otherwise."""
    for name, value in (("done", done), ("total", total)):
        if value is None and name == "total":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"progress {name} must be a number, "
                            f"not {type(value).__name__}")
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an int too large for a float
            finite = False
        if not finite:
            raise ValueError(f"progress {name} must be a finite number")
    if message is not None:
        message = str(message)[:MAX_MESSAGE]
    return Progress(done, total, message)


def report_progress(done: float, total: float | None = None,
                    message: str | None = None) -> None:
    """Tells the client how far the current job is: `done` of `total`
    (None: unknown), with an optional `message`. Every executor carries
    it back; outside a job it does nothing. Reports closer together than
    `MIN_INTERVAL` seconds are dropped, except the final one."""
    progress = make_progress(done, total, message)
    reporting = _CURRENT.get()
    if reporting is None:
        return
    now = time.monotonic()
    final = total is not None and done >= total
    if not final and now - reporting.last < MIN_INTERVAL:
        return
    reporting.last = now
    try:
        reporting.channel(progress)
    except Exception:  # pylint: disable=broad-except
        pass  # progress is a courtesy: it never fails the job


# -- a channel for processes of any executor on this machine --------------

class ProgressInbox:
    """A loopback UDP socket where job processes of any executor on this
    machine send progress, each datagram tagged with its job's secret key;
    `deliver(key, progress)` hands it to the job. Datagrams with unknown
    keys or bad contents (anyone on this machine can send one: nested
    too deep for the parser, not an object, ...) are dropped, and the
    inbox lives on."""

    def __init__(self, deliver: Callable[[str, Progress], None]) -> None:
        self._deliver = deliver
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self.address: tuple[str, int] = self._sock.getsockname()
        self._thread = make_thread(target=self._receive, daemon=True,
                                   name="quick_server-progress")
        self._thread.start()

    def _receive(self) -> None:
        while True:
            try:
                data = self._sock.recv(65536)
            except OSError:
                return  # closed
            try:
                msg = json.loads(data)
                progress = make_progress(msg["done"], msg.get("total"),
                                         msg.get("message"))
                self._deliver(str(msg["key"]), progress)
            except Exception:  # pylint: disable=broad-except
                continue  # (RecursionError, AttributeError, ...: dropped)

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()


class UdpChannel:
    """The sending side of a `ProgressInbox`, inside a job process."""

    def __init__(self, address: tuple[str, int], key: str) -> None:
        self._address = address
        self._key = key
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def __call__(self, progress: Progress) -> None:
        data = json.dumps({"key": self._key, **progress.as_json()})
        self._sock.sendto(data.encode("utf-8"), self._address)

    def close(self) -> None:
        self._sock.close()


# -- a channel for Dask ------------------------------------------------------

DASK_TOPIC = "quick_server-progress"


class DaskChannel:
    """Progress from a task on a Dask worker, as a Dask event on
    `DASK_TOPIC` (`Worker.log_event`), which the server's client
    subscribes to."""

    def __init__(self, key: str) -> None:
        self._key = key

    def __call__(self, progress: Progress) -> None:
        from distributed import get_worker  # pylint: disable=import-outside-toplevel
        get_worker().log_event(DASK_TOPIC,
                               {"key": self._key, **progress.as_json()})


def subscribe_dask(client: Any, deliver: Callable[[str, Progress], None]
                   ) -> None:
    """Delivers the progress events of `client`'s cluster."""
    def handle(event: Any) -> None:
        try:
            _, msg = event
            deliver(str(msg["key"]), make_progress(
                msg["done"], msg.get("total"), msg.get("message")))
        except Exception as err:  # pylint: disable=broad-except
            log.debug(lambda: f"dropped a bad progress event "
                              f"({type(err).__name__})")
    client.subscribe_topic(DASK_TOPIC, handle)
