"""The event loop's parked answers (a mixin of `event_loop.EventLoop`):
long-polls and event streams that wait for a `waiting.Signal`.

A signal's subscriber notes the keys it names and wakes the loop, which
runs each parked answer of those keys that is `ready` (inline, as any
request). A `direct` signal (one fired with no lock held) is faster: the
long-polls it makes ready are claimed and answered right there, on the
firing thread (a job's thread as the job settles), then handed back to
the loop for the connection's next request. One loop thread answering a
thousand long-polls while eight job threads settle them gets a ninth of
the GIL's turns; the firing threads answering their own keep up.

`conn.looping` (the loop runs it now) and `conn.delivering` (a firing
thread answers it now) are set under the loop's lock: a connection is
never run by both."""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Hashable

from .waiting import Parked, Signal


class LoopParking:
    """Parks answers, runs them when their signal or deadline comes."""

    _lock: threading.Lock
    _closed: bool

    def _init_parking(self) -> None:
        self._parked = Parked()  # under `_lock`
        self._signals: list[Signal] = []
        self._fired: set[Hashable] = set()
        self._fired_all = False
        self._to_poke: list[Any] = []  # left when the loop moved on

    def park(self, conn: Any, signal: Signal, keys: tuple[Hashable, ...],
             deadline: float) -> None:
        """Parks the answer of `conn`: it gets `on_ready(0)` when
        `signal` fires one of `keys` (and `conn.parked_ready()`), or at
        `deadline` (`conn.parked_until`)."""
        if self.runs(conn):
            self._park(conn, signal, keys, deadline)
        else:  # (a stream's own thread, after a hand-over)
            self.call_soon(lambda: self._park(conn, signal, keys, deadline))

    def _park(self, conn: Any, signal: Signal, keys: tuple[Hashable, ...],
              deadline: float) -> None:
        self.listen(signal)
        with self._lock:
            conn.parked_until = deadline
            self._parked.add(conn, keys, deadline)

    def listen(self, signal: Signal) -> None:
        """Subscribes the loop to `signal` (once)."""
        if not any(s is signal for s in self._signals):
            self._signals.append(signal)
            signal.subscribe(self._on_direct_signal if signal.direct
                             else self._on_signal)

    def unpark(self, conn: Any, keys: tuple[Hashable, ...]) -> None:
        with self._lock:
            if conn.parked_until:
                conn.parked_until = 0.0
                self._parked.remove(conn, keys)

    @property
    def parked(self) -> int:
        """The number of parked answers."""
        return self._parked.count

    def poke(self, conn: Any) -> None:
        """Runs `conn` on the loop soon (from any thread): a long-poll
        answered elsewhere goes on with its next request."""
        with self._lock:
            self._to_poke.append(conn)
        self._wake()

    def _on_signal(self, keys: tuple[Hashable, ...]) -> None:
        with self._lock:
            wake = not self._fired and not self._fired_all
            if keys:
                self._fired.update(keys)
            else:
                self._fired_all = True
        if wake:
            self._wake()

    def _on_direct_signal(self, keys: tuple[Hashable, ...]) -> None:
        """Answers, on this thread, the long-polls `keys` made ready."""
        claimed = []
        if keys and not self._closed:
            with self._lock:
                for conn in self._parked.named(keys):
                    if conn.parked_until and not conn.looping and \
                            not conn.delivering and conn.deliverable():
                        conn.delivering = True
                        conn.parked_until = 0.0
                        self._parked.remove(conn, conn.parked_keys())
                        claimed.append(conn)
        for conn in claimed:
            conn.deliver()
        self._on_signal(keys)  # what is left (streams): the loop's

    def _poke_parked(self, epoch: int, now: float) -> bool:
        """Runs the parked answers whose signal fired (and that are ready)
        or whose deadline passed; False once the loop was handed over."""
        with self._lock:
            fired, self._fired = self._fired, set()
            fired_all, self._fired_all = self._fired_all, False
            due, self._to_poke = self._to_poke, []
            due.extend(self._parked.due(now))
            named = self._parked.named(() if fired_all else tuple(fired)) \
                if fired or fired_all else []
        due.extend(c for c in named if c.parked_until and c.parked_ready())
        for index, conn in enumerate(due):
            if not self._run_inline(conn, 0, epoch):
                with self._lock:  # for the next leader
                    self._to_poke.extend(due[index + 1:])
                self._wake()
                return False
        return True

    if TYPE_CHECKING:  # provided by the loop
        def runs(self, conn: Any) -> bool: ...

        def _run_inline(self, conn: Any, events: int, epoch: int
                        ) -> bool: ...

        def _wake(self) -> None: ...

        def call_soon(self, fn: Callable[[], None]) -> None: ...
