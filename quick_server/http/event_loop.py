"""The event loop of the connection layer: one `selectors` selector
watches the listening socket and every open connection between its
requests, so a connection that waits (idle between requests, or with a
head still arriving) holds no thread.

Leader/follower: one thread of a bounded pool leads, blocking in
`select`; it accepts, reads, and answers a request inline, with no
hand-off to another thread (no switch, no GIL hand-off: a fast handler
costs what it costs). A watchdog notices a leader busy with the same
connection for more than `HANDOFF_AFTER`: that connection leaves the
loop with its thread (which finishes it and then follows), and another
thread leads, so a handler that blocks or computes stalls nobody else.
A handler that waits by design (`step_aside`) hands the loop over at
once. While `pool_size` threads are out working, the leader answers new
requests with 503 (`spent`): never an unbounded queue.

The connections (`Conn`) are the caller's: the loop calls
`conn.on_ready(events)` when its socket is ready and `conn.expire(now)`
on each sweep (every `SWEEP` seconds) for its deadlines."""
from __future__ import annotations

import contextlib
import itertools
import selectors
import socket
import threading
import time
from typing import Any, Callable, Iterator, Protocol

from .loop_parking import LoopParking
from ..threads import make_thread

HANDOFF_AFTER = 0.004  # seconds a handler runs inline before the loop
# moves to another thread (between one and two of these)
SWEEP = 0.25  # seconds between checks of the connections' deadlines
KEEP_IDLE = 30.0  # seconds an idle follower waits before it ends
WATCHDOG_NAP = 1.0  # idle this long, the watchdog sleeps until woken


class Conn(Protocol):
    fd: int
    events: int  # what it waits for in the loop (EVENT_READ or _WRITE)
    parked_until: float
    looping: bool  # the loop runs it now
    delivering: bool  # a firing thread answers its long-poll now

    def on_ready(self, events: int) -> None: ...

    def expire(self, now: float) -> None: ...


class EventLoop(LoopParking):
    """Runs the connections of one server. `accept()` runs on the loop
    whenever the listening socket is readable."""

    def __init__(self, on_error: Callable[[Any], None]) -> None:
        self.pool_size = 1
        self.max_connections = 1
        self._on_error = on_error
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._conns: dict[int, Conn] = {}  # fd -> each open connection
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._leading = False  # a thread holds the loop
        self._epoch = 0  # counts hand-overs of the loop
        self._busy: tuple[Conn, int] | None = None  # run inline now
        self._serial = itertools.count()
        self._threads = 0
        self._idle = 0  # followers waiting to lead
        self._out = 0  # threads finishing a connection out of the loop
        self._waiting = 0  # of them, those that wait by design
        self._waiting_from: set[int] = set()  # their epochs
        self._held = 0  # threads that wait for another's work for a while
        self._full = False  # max_connections reached: not accepting
        self._queued: list[Callable[[], None]] = []  # run on the loop
        self._listener: socket.socket | None = None
        self._accept: Callable[[], None] = lambda: None
        self._accepting = False
        self._paused_until = 0.0
        self._next_sweep = 0.0
        self._closed = False
        self._watchdog_asleep = False
        self._watchdog_wake = threading.Event()
        self._init_parking()
        self.handovers = 0  # times the loop moved to another thread

    # -- starting and stopping ---------------------------------------------

    def start(self, listener: socket.socket, accept: Callable[[], None],
              pool_size: int, max_connections: int) -> None:
        """Accepts from `listener` (made non-blocking) with `accept`."""
        self.pool_size, self.max_connections = pool_size, max_connections
        listener.setblocking(False)
        self._listener, self._accept = listener, accept
        self._accepting = True
        self._selector.register(listener, selectors.EVENT_READ, self)
        with self._lock:
            self._spawn_locked()
        make_thread(target=self._watch, name="quick_server-watchdog",
                    daemon=True).start()

    @property
    def accepting(self) -> bool:
        """Whether the loop watches its listening socket (serving)."""
        return self._accepting and not self._closed

    def stop_accepting(self) -> None:
        """Stops accepting (from any thread), returning once the loop no
        longer watches the listening socket."""
        if self._listener is None or not self._accepting or self._closed:
            self._accepting = False
            return
        done = threading.Event()

        def stop() -> None:
            self._accepting = False
            self._unwatch_listener()
            done.set()
        self.call_soon(stop)
        if not done.wait(5):  # the loop is stuck: take it off directly
            self._accepting = False
            self._unwatch_listener()

    def close(self) -> None:
        """Ends every connection in the loop and the loop's threads (a
        connection out of the loop ends with its request)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
            self._watchdog_wake.set()
            self._wake()
            self._cond.wait_for(lambda: not self._leading, 5)
        self._run_queued()
        for conn in list(self._conns.values()):
            conn.expire(float("inf"))
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def __len__(self) -> int:
        return len(self._conns)

    @property
    def closed(self) -> bool:
        return self._closed

    # -- what connections call ---------------------------------------------

    def add(self, conn: Conn) -> None:
        """A new connection (on the loop: `accept`)."""
        self._conns[conn.fd] = conn
        self._selector.register(conn.fd, conn.events, conn)
        if len(self._conns) >= self.max_connections:
            self._full = True
            self._unwatch_listener()  # the backlog holds the next ones

    def watch(self, conn: Conn, events: int) -> None:
        """Waits for `events` of a connection in the loop (on the loop)."""
        try:
            self._selector.modify(conn.fd, events, conn)
        except KeyError:
            self._selector.register(conn.fd, events, conn)

    def rearm(self, conn: Conn) -> None:
        """Takes back a connection that was out of the loop (from its
        thread), waiting for `conn.events`."""
        if self._closed:
            conn.expire(float("inf"))
        else:
            self.call_soon(lambda: self._rearm(conn))

    def _rearm(self, conn: Conn) -> None:
        if self._closed or self._conns.get(conn.fd) is not conn:
            conn.expire(float("inf"))
            return
        self.watch(conn, conn.events)

    def remove(self, conn: Conn) -> None:
        """Forgets a connection that is closing (from any thread)."""
        fd = conn.fd
        if self._conns.get(fd) is conn:
            del self._conns[fd]
            self._unregister(fd)
            if self._full and len(self._conns) < self.max_connections:
                self._full = False
                self.call_soon(self._watch_listener)

    def step_aside(self) -> None:
        """The connection run inline leaves the loop with the calling
        thread, at once (it waits by design); another thread leads."""
        busy = self._busy
        if busy is not None and busy[0] is not None:
            self._hand_over(busy, waiting=True)

    @property
    def spent(self) -> bool:
        """Whether `pool_size` threads are out working: new requests get
        a 503 instead of a thread."""
        return self._out - self._waiting - self._held >= self.pool_size

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """The calling thread waits for another thread's work (a gzip form
        being made): meanwhile it does not count as working, so the pool
        is not spent by threads that only wait."""
        with self._cond:
            self._held += 1
        try:
            yield
        finally:
            with self._cond:
                self._held -= 1

    def runs(self, conn: Conn) -> bool:
        """Whether the calling thread runs `conn` in the loop (it can
        park it)."""
        busy = self._busy
        return busy is not None and busy[0] is conn

    def unwatch(self, conn: Conn) -> None:
        """Stops watching a connection's socket (it stays open)."""
        self._unregister(conn.fd)

    def call_soon(self, fn: Callable[[], None]) -> None:
        """Runs `fn` on the loop's thread (from any thread)."""
        with self._lock:
            self._queued.append(fn)
        self._wake()

    # -- the threads -------------------------------------------------------

    def _spawn_locked(self) -> None:
        self._threads += 1
        make_thread(target=self._follow, name="quick_server-loop",
                    daemon=True).start()

    def _follow(self) -> None:
        """A pool thread: waits to lead, leads until it hands the loop
        over, finishes its connection out of the loop, and waits again."""
        while True:
            with self._cond:
                while self._leading and not self._closed:
                    self._idle += 1
                    woken = self._cond.wait(KEEP_IDLE)
                    self._idle -= 1
                    if not woken and self._leading and self._idle > 0:
                        self._threads -= 1
                        return  # others wait already: this one ends
                if self._closed:
                    self._threads -= 1
                    return
                self._leading = True
                epoch = self._epoch
            self._lead(epoch)

    def _lead(self, epoch: int) -> None:
        selector = self._selector
        while not self._closed:
            self._run_queued()
            now = time.monotonic()
            if now >= self._next_sweep:
                self._sweep(now)
            wake_at = self._next_sweep
            if self._parked.count or self._to_poke or self._fired or \
                    self._fired_all:  # (what fired is cleared: it wakes)
                if not self._poke_parked(epoch, now):
                    return
                wake_at = min(wake_at, self._parked.next_deadline() or
                              wake_at)
            timeout = max(wake_at - time.monotonic(), 0)
            ready = selector.select(timeout)
            if self._watchdog_asleep:
                self._watchdog_wake.set()
            for key, events in ready:
                conn = key.data
                if conn is None:
                    self._drain_wakes()
                elif conn is self:
                    if self._accepting:
                        self._accept()
                elif not self._run_inline(conn, events, epoch):
                    return  # handed over: this thread is out of the loop
        with self._cond:
            self._leading = False
            self._cond.notify_all()

    def _run_inline(self, conn: Conn, events: int, epoch: int) -> bool:
        """Runs `conn` on the leading thread; False once the loop was
        handed over meanwhile (the thread then finished `conn` out of
        the loop and follows again)."""
        with self._lock:
            if conn.delivering:  # a firing thread answers it now
                return True
            conn.looping = True
            self._busy = (conn, next(self._serial))
        try:
            conn.on_ready(events)
        except Exception:  # pylint: disable=broad-except
            self._on_error(conn)
        with self._lock:
            conn.looping = False
            if self._epoch == epoch:
                self._busy = None
                return True
            self._out -= 1  # (the hand-over cleared `_busy`)
            if epoch in self._waiting_from:
                self._waiting_from.discard(epoch)
                self._waiting -= 1
        if self._conns.get(conn.fd) is conn:
            self.rearm(conn)  # it waits for input again
        return False

    def _hand_over(self, busy: tuple[Conn, int], waiting: bool) -> bool:
        """Moves the loop to another thread; the busy connection goes on
        out of the loop with the thread running it. False when the pool
        is spent (no thread can lead)."""
        with self._cond:
            if self._busy is not busy or self._closed:
                return False
            if not waiting and self.spent:
                return False  # the leader stays (and answers 503s)
            if self._idle == 0:
                self._spawn_locked()
            if waiting:
                self._waiting_from.add(self._epoch)
                self._waiting += 1
            self._epoch += 1
            self.handovers += 1
            self._leading = False
            self._out += 1
            self._busy = None
            self._unregister(busy[0].fd)
            self._cond.notify()
        return True

    def _watch(self) -> None:
        """The watchdog: hands the loop over when the leader ran the same
        connection for a whole tick."""
        seen: tuple[Conn, int] | None = None
        quiet = 0.0
        while not self._closed:
            time.sleep(HANDOFF_AFTER)
            busy = self._busy
            if busy is not None and busy is seen:
                self._hand_over(busy, waiting=False)
                seen = None
                continue
            seen = busy
            quiet = 0.0 if busy is not None else quiet + HANDOFF_AFTER
            if quiet >= WATCHDOG_NAP:  # nothing runs: sleep until it does
                self._watchdog_wake.clear()
                self._watchdog_asleep = True
                self._watchdog_wake.wait(WATCHDOG_NAP)
                self._watchdog_asleep = False
                quiet = 0.0

    # -- on the loop -------------------------------------------------------

    def _run_queued(self) -> None:
        if not self._queued:
            return
        with self._lock:
            queued, self._queued = self._queued, []
        for fn in queued:
            fn()

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + SWEEP
        if self._paused_until and now >= self._paused_until:
            self._paused_until = 0.0
            self._watch_listener()
        for conn in list(self._conns.values()):
            conn.expire(now)

    def pause_accepting(self, seconds: float) -> None:
        """Out of descriptors: accepting again at once would spin."""
        self._unwatch_listener()
        self._paused_until = time.monotonic() + seconds
        self._next_sweep = min(self._next_sweep, self._paused_until)

    def _watch_listener(self) -> None:
        if not self._accepting or self._paused_until or \
                self._listener is None or \
                len(self._conns) >= self.max_connections:
            return
        try:
            self._selector.register(self._listener, selectors.EVENT_READ,
                                    self)
        except (KeyError, ValueError, OSError):
            pass  # watched already, or closed

    def _unwatch_listener(self) -> None:
        if self._listener is not None:
            self._unregister(self._listener)

    def _unregister(self, fileobj: Any) -> None:
        try:
            self._selector.unregister(fileobj)
        except (KeyError, ValueError, OSError):
            pass  # not watched (out of the loop), or closed

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass  # a wake-up is pending already, or closed

    def _drain_wakes(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass
