"""`async def` handlers: their coroutines run on the server's asyncio
event loop, on a thread of its own, started on first use.

A route whose handler returns a coroutine answers with a
`WaitingResponse` parked in the connection layer's loop until the
coroutine is done (its future fires this runner's signal), so a request
that awaits holds no thread at all. A client that hangs up cancels its
coroutine (`CancelledError` at its current `await`).

The loop is watched: a coroutine that blocks it (`time.sleep`, a long
computation) for more than `slow_after` seconds is named in one log line
per stall, while the connection layer goes on serving everyone else."""
from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import math
import threading
import time
import types
from typing import Any, Callable, Coroutine

from .responses import WaitingResponse
from .waiting import Signal
from ..threads import make_thread

SLOW_AFTER = 0.5  # seconds the asyncio loop may be blocked unnoticed


class CoroutineRunner:
    """One asyncio event loop on a thread of its own, for a server."""

    def __init__(self, log: Callable[[str], None],
                 slow_after: float = SLOW_AFTER) -> None:
        self.signal = Signal()  # fired with a future's key when it is done
        self.slow_after = slow_after
        self._log = log
        self._keys = itertools.count()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._beat = 0.0  # when the loop last ran a heartbeat
        self._closed = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop (started on first use)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the server's event loop is closed")
            if self._loop is None:
                self._loop = self._start()
            return self._loop

    def _start(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(started.set)
            loop.run_forever()
        make_thread(target=run, name="quick_server-asyncio",
                    daemon=True).start()
        started.wait()
        self._beat = time.monotonic()
        make_thread(target=self._watch, args=(loop,),
                    name="quick_server-asyncio-watch",
                    daemon=True).start()
        return loop

    def submit(self, coro: Coroutine[Any, Any, Any]
               ) -> concurrent.futures.Future[Any]:
        """Runs `coro` on the loop; its future (cancelling it cancels the
        coroutine's task)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def awaiting(self, coro: Coroutine[Any, Any, Any],
                 then: Callable[[Any], Any] | None = None
                 ) -> WaitingResponse:
        """The answer of a handler's coroutine: parked until it is done
        (its value, through `then`), cancelled if the client goes."""
        future = self.submit(coro)
        key = next(self._keys)
        future.add_done_callback(lambda _: self.signal.fire(key))

        def answer(seconds: float) -> Any:
            value = future.result(None if math.isinf(seconds) else seconds)
            return value if then is None else then(value)

        def gone() -> None:
            if not future.done():
                future.cancel()  # the client left: the task is cancelled
        waiting = WaitingResponse(answer, math.inf, signal=self.signal,
                                  keys=(key,), ready=future.done,
                                  on_close=gone)
        waiting.by_design = False  # the handler's own time
        return waiting

    def close(self) -> None:
        """Stops the loop (its thread ends; tasks still pending are
        dropped)."""
        with self._lock:
            self._closed = True
            loop, self._loop = self._loop, None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)

    # -- the watch ---------------------------------------------------------

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Posts a heartbeat to the loop every `slow_after / 2` seconds;
        when one waits longer than `slow_after`, the loop is blocked:
        the task running then is named once for that stall."""
        told = None
        tick = max(self.slow_after / 2, 0.01)
        while not self._closed and not loop.is_closed():
            sent = time.monotonic()
            try:
                loop.call_soon_threadsafe(self._heard)
            except RuntimeError:
                return  # closed
            time.sleep(tick)
            if self._beat >= sent:
                told = None
                continue
            while self._beat < sent and not self._closed:
                blocked = time.monotonic() - sent
                task = _running_task(loop)
                if blocked > self.slow_after and task is not told:
                    told = task
                    self._log(f"an async handler blocks the event loop "
                              f"({blocked:.1f}s so far): "
                              f"{_task_name(task)}; use `await` (or "
                              f"asyncio.to_thread) for what waits")
                time.sleep(tick)

    def _heard(self) -> None:
        self._beat = time.monotonic()


def _running_task(loop: asyncio.AbstractEventLoop) -> Any:
    try:
        return asyncio.current_task(loop)
    except RuntimeError:
        return None


def _task_name(task: Any) -> str:
    """The coroutine a task runs, by its function's qualified name."""
    if task is None:
        return "(no task: a callback)"
    coro = task.get_coro()
    while isinstance(getattr(coro, "cr_await", None), types.CoroutineType):
        coro = coro.cr_await  # the handler under a wrapper that awaits it
    code = getattr(coro, "cr_code", None)
    name = getattr(coro, "__qualname__", None) or \
        (code.co_name if code is not None else repr(coro))
    where = f" ({code.co_filename}:{code.co_firstlineno})" \
        if code is not None else ""
    return f"{name}{where}"
