"""Answers parked in the event loop: a long-poll (`WaitingResponse`) or
an event stream (`EventStream`) waits there for its signal without a
thread (`waiting`). A mixin of `Connection`, which provides what is
declared here.

The loop gives a parked connection `on_ready(0)` when the signal named
one of its keys and it is `parked_ready()`, or when its deadline came:
a long-poll is then answered (`answer(0)`), a stream writes what is new
(or a ping) and parks again. Bytes from the client meanwhile are kept
(a pipelined request; past `PARKED_INPUT` the socket is not read until
the answer is out); its hang-up ends the answer at once."""
from __future__ import annotations

import selectors
import socket
import time
from typing import TYPE_CHECKING, Any

from .dispatch import resolve
from .request import Request
from .responses import EventStream, HTTPError, WaitingResponse
from .wire import ClientDisconnected

PARKED_INPUT = 1 << 16  # bytes read from a client while its answer waits


class ParkedAnswers:
    """The parked answer of one connection (at most one at a time)."""

    sock: socket.socket
    server: Any
    input: Any
    closed: bool
    _loop: Any
    _toggle: bool
    _http: Any
    _sent: int

    parked_until = 0.0
    looping = False  # the loop runs it now (set by the loop)
    close_after_unsent = False  # (a delivered answer's connection ends)
    delivering = False  # a firing thread answers its long-poll now
    _waiter: WaitingResponse | EventStream | None = None
    _parked_request: Request | None = None
    _framing = "chunked"
    _unwatched = False

    def _park_answer(self, request: Request, waiting: WaitingResponse
                     ) -> float | None:
        """Parks a long-poll (from the loop, or from a thread the loop
        was handed over from: the loop takes it): None. Else the seconds
        a thread waits for it: 0 when it is ready already, its own wait
        off the loop's thread when it has no signal."""
        if waiting.signal is None:
            self._step_aside()
            return waiting.seconds
        self._loop.listen(waiting.signal)  # before `ready`: no fire lost
        if waiting.ready():
            return 0.0
        self._park(request, waiting, time.monotonic() + waiting.seconds)
        return None

    def _listen(self, signal: Any) -> None:
        self._loop.listen(signal)

    def _can_park(self) -> bool:
        """Whether the loop runs this connection (an answer can park)."""
        return bool(self._loop.runs(self))

    def _park_stream(self, request: Request, stream: EventStream,
                     framing: str) -> bool:
        """Parks an event stream whose head and first event were sent
        (`_can_park` said it can)."""
        self._loop.listen(stream.signal)
        self._framing = framing
        self._park(request, stream, time.monotonic() + stream.ping_every)
        return True

    def deliverable(self) -> bool:
        """Whether its parked answer is a long-poll that is ready (on a
        plain socket: a TLS one is answered by the loop)."""
        waiter = self._waiter
        return not self._toggle and isinstance(waiter, WaitingResponse) \
            and waiter.ready()

    def parked_keys(self) -> tuple[Any, ...]:
        return () if self._waiter is None else self._waiter.keys

    def deliver(self) -> None:
        """Answers the parked long-poll on the calling thread (the loop
        claimed it for this thread: `delivering`), then hands the
        connection back to the loop for its next request."""
        request, waiter = self._parked_request, self._waiter
        assert isinstance(waiter, WaitingResponse) and request is not None
        self._waiter = self._parked_request = None
        self.unsent = b""  # what the socket did not take at once
        self.writes_wait = False  # this thread never waits for a client
        try:
            try:
                self._send(request, resolve(self.server, request, waiter,
                                            0))
            except ClientDisconnected:
                request.close_connection = True
            self.writes_wait = True
            self._end(request)
        finally:
            self.writes_wait = True
            self.delivering = False
            if self.unsent and not self.closed:
                # the loop sends the rest (waiting, as for any answer)
                self.close_after_unsent = request.close_connection
                self._loop.poke(self)
            elif request.close_connection or self.closed:
                self._close()  # type: ignore[attr-defined]
            else:
                if self._unwatched:
                    self._unwatched = False
                    self._loop.call_soon(lambda: self._loop.watch(
                        self, selectors.EVENT_READ))
                self._loop.poke(self)  # its next request: the loop's

    def parked_ready(self) -> bool:
        waiter = self._waiter
        return waiter is not None and (isinstance(waiter, EventStream) or
                                       waiter.ready())

    def _park(self, request: Request,
              waiter: WaitingResponse | EventStream, deadline: float) -> None:
        self._waiter, self._parked_request = waiter, request
        if self._toggle:
            self.sock.setblocking(False)
        self._loop.park(self, waiter.signal, waiter.keys, deadline)

    def _unpark(self) -> tuple[Request, WaitingResponse | EventStream]:
        request, waiter = self._parked_request, self._waiter
        assert request is not None and waiter is not None
        self._loop.unpark(self, waiter.keys)
        self._waiter = self._parked_request = None
        if self._unwatched:
            self._unwatched = False
            self._loop.watch(self, selectors.EVENT_READ)
        if self._toggle:
            self.sock.settimeout(max(self._http.idle_timeout, 0.001))
        return request, waiter

    def _on_parked(self, events: int) -> None:
        """The loop's call while an answer is parked: the client's bytes
        (`events`), or the signal or the deadline (0)."""
        if events:
            self.input.fill()
            if self.input.ended:
                request, waiter = self._unpark()
                waiter.release()  # the client went: nothing to answer
                request.close_connection = True
                self._end(request)
                self._close()  # type: ignore[attr-defined]
            elif len(self.input.buf) > PARKED_INPUT:
                self._unwatched = True
                self._loop.unwatch(self)
            return
        if isinstance(self._waiter, EventStream):
            self._stream_turn()
            return
        request, waiter = self._unpark()
        assert isinstance(waiter, WaitingResponse)
        try:
            self._send(request, resolve(self.server, request, waiter, 0))
        except ClientDisconnected:
            request.close_connection = True
        self._end(request)
        self._after_answer(request)

    def _stream_turn(self) -> None:
        """Writes what the parked stream has now (or a ping when its
        deadline came) and parks it again, or ends it."""
        stream = self._waiter
        assert isinstance(stream, EventStream)
        now = time.monotonic()
        try:
            data = stream.pending()
        except Exception:  # pylint: disable=broad-except
            data = None
        if data == b"" and now >= self.parked_until:
            data = stream.ping
        if data == b"":
            return  # nothing new for it: parked as it is
        request, _ = self._unpark()
        try:
            if data is None:
                if self._framing == "chunked":
                    self._write(b"0\r\n\r\n")
                raise HTTPError(200)  # the stream is over
            self._write(b"%x\r\n%s\r\n" % (len(data), data)
                        if self._framing == "chunked" else data)
            self._sent += len(data)
        except (HTTPError, ClientDisconnected, OSError):
            stream.release()
            self._end(request)
            self._after_answer(request)
            return
        self._park(request, stream, now + stream.ping_every)

    def _after_answer(self, request: Request) -> None:
        """Goes on with the connection once a parked answer is out."""
        if request.close_connection or self.closed:
            self._close()  # type: ignore[attr-defined]
        else:
            self._serve()  # type: ignore[attr-defined]

    if TYPE_CHECKING:  # provided by the connection
        def _send(self, request: Request, response: Any) -> bool: ...

        def _end(self, request: Request) -> None: ...

        def _write(self, data: bytes) -> None: ...

        def _step_aside(self) -> None: ...
