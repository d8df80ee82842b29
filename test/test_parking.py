"""Idle keep-alive connections wait without a thread (`http/parking.py`,
here from the first connection on: by default once a server holds more
than `park_above`): parked after `PARK_AFTER`, resumed by their next request or their
client's close, closed at `idle_timeout`, all closed by `server_close`;
and the `Parking` table itself, on socket pairs."""
from __future__ import annotations

import socket
import threading
import time

from conftest import wait_for
from quick_server.http.parking import PARK_AFTER, Parking

PING = b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"


def _server(make_server, **settings):
    server = make_server(start=False)
    for name, value in settings.items():
        setattr(server.settings.http, name, value)

    @server.json_get("/ping")
    def _ping(req, args):
        return {"pong": True}

    server._parking.park_above = 0  # park from the first connection on
    from conftest import run_in_thread
    run_in_thread(server)
    return server


def _ask(sock: socket.socket) -> bytes:
    """Sends one ping on `sock` and reads its whole answer."""
    sock.sendall(PING)
    data = b""
    while not data.endswith(b'{"pong":true}'):
        chunk = sock.recv(65536)
        assert chunk, f"closed after {data!r}"
        data += chunk
    return data


def _threads_named(prefix: str) -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith(prefix))


def test_idle_connections_are_parked_and_hold_no_thread(make_server):
    server = _server(make_server)
    socks = [socket.create_connection(("127.0.0.1", server.port), 5)
             for _ in range(150)]
    try:
        for sock in socks:
            assert _ask(sock).startswith(b"HTTP/1.1 200")
        wait_for(lambda: len(server._parking) == 150, 10,
                 "every idle connection parked")
        # what is left are the pool's idle threads (at most 64), waiting
        # for work, not one per connection
        busy = [t for t in threading.enumerate()
                if t.name == "quick_server-connection"]
        assert len(busy) <= 64 + 1
        # each goes on serving on the same connection
        for sock in socks[:20]:
            assert _ask(sock).startswith(b"HTTP/1.1 200")
    finally:
        for sock in socks:
            sock.close()
    wait_for(lambda: len(server._parking) == 0, 10,
             "closed clients to leave the parking")


def test_a_parked_connection_ends_at_the_idle_timeout(make_server):
    server = _server(make_server, idle_timeout=PARK_AFTER + 0.3)
    with socket.create_connection(("127.0.0.1", server.port), 5) as sock:
        assert _ask(sock).startswith(b"HTTP/1.1 200")
        wait_for(lambda: len(server._parking) == 1, 5, "parked")
        began = time.monotonic()
        sock.settimeout(5)
        assert sock.recv(1) == b""  # the server closed it
        assert time.monotonic() - began < 2
    assert len(server._parking) == 0


def test_server_close_ends_parked_connections(make_server):
    server = _server(make_server)
    sock = socket.create_connection(("127.0.0.1", server.port), 5)
    try:
        assert _ask(sock).startswith(b"HTTP/1.1 200")
        wait_for(lambda: len(server._parking) == 1, 5, "parked")
        server.shutdown()
        server.server_close()
        sock.settimeout(5)
        assert sock.recv(1) == b""
    finally:
        sock.close()


class _Conn:
    """What the parking needs of a connection."""

    def __init__(self, deadline: float) -> None:
        self.parked_until = deadline
        self.expired = threading.Event()

    def expire(self) -> None:
        self.expired.set()


def test_the_parking_resumes_on_input_and_expires_on_time():
    resumed: list[_Conn] = []
    parking = Parking(resumed.append)
    pairs = [socket.socketpair() for _ in range(3)]
    try:
        now = time.monotonic()
        soon, later, last = _Conn(now + 0.2), _Conn(now + 30), _Conn(now + 30)
        assert parking.park(soon, pairs[0][0], soon.parked_until)
        assert parking.park(later, pairs[1][0], later.parked_until)
        assert parking.park(last, pairs[2][0], last.parked_until)
        wait_for(lambda: len(parking) == 3 and not parking._arriving, 5,
                 "three parked")
        pairs[1][1].sendall(b"GET")  # input: handed back, not expired
        wait_for(lambda: resumed == [later], 5, "the one with input resumed")
        assert soon.expired.wait(5)  # its deadline passed
        assert not later.expired.is_set() and not last.expired.is_set()
        assert len(parking) == 1
        parking.close()
        assert last.expired.is_set()  # closing expires what is left
        assert not parking.park(_Conn(now + 30), pairs[0][0], now + 30)
    finally:
        parking.close()
        for a, b in pairs:
            a.close()
            b.close()


def test_a_client_that_hangs_up_leaves_the_parking(make_server):
    server = _server(make_server)
    sock = socket.create_connection(("127.0.0.1", server.port), 5)
    assert _ask(sock).startswith(b"HTTP/1.1 200")
    wait_for(lambda: len(server._parking) == 1, 5, "parked")
    sock.close()
    wait_for(lambda: len(server._parking) == 0, 5, "the closed one gone")
    assert _threads_named("quick_server-parking") >= 1


def test_a_connection_no_thread_can_take_is_closed_not_lost():
    def no_thread(conn: _Conn) -> None:
        raise RuntimeError("can't start new thread")
    parking = Parking(no_thread)
    left, right = socket.socketpair()
    try:
        conn = _Conn(time.monotonic() + 30)
        assert parking.park(conn, left, conn.parked_until)
        right.sendall(b"GET")
        assert conn.expired.wait(5)
        wait_for(lambda: len(parking) == 0, 5, "the parking empty")
    finally:
        parking.close()
        left.close()
        right.close()
