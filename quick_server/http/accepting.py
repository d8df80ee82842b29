"""Accepting connections on a server's listening socket: a TLS connection
is accepted raw (its handshake runs in the event loop, without waiting),
and running out of file descriptors is said (once in a while) so that
the caller can pause accepting instead of spinning."""
from __future__ import annotations

import errno
import socket
import time
from typing import Any

from .. import log
from .sockio import is_tls

OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
ACCEPT_BACKOFF = 0.1  # seconds without accepting when out of descriptors
ACCEPT_FAILURE_QUIET = 30.0  # a failure within this time is not logged


class Acceptor:
    """Accepts the connections of one listening socket."""

    def __init__(self) -> None:
        self._failed_at = -ACCEPT_FAILURE_QUIET

    def accept(self, listener: socket.socket) -> tuple[socket.socket, Any]:
        """The next connection and its address; OSError as `accept`."""
        try:
            if is_tls(listener):
                # accept raw and handshake later, without waiting, so a
                # slow or broken TLS client never blocks accepting
                raw, addr = socket.socket.accept(listener)
                context = listener.context  # type: ignore[attr-defined]
                return context.wrap_socket(
                    raw, server_side=True,
                    do_handshake_on_connect=False), addr
            return listener.accept()
        except OSError as err:
            if err.errno in OUT_OF_RESOURCES:
                self._failed(err)
            raise

    def _failed(self, err: OSError) -> None:
        """Out of file descriptors (or memory): the waiting connection
        stays queued and the listening socket stays readable, so accepting
        again at once would spin (the caller pauses). Say so, once in a
        while."""
        now = time.monotonic()
        if now - self._failed_at > ACCEPT_FAILURE_QUIET:
            log.msg("cannot accept connections: {0}; retrying every "
                    "{1}s", err.strerror or err, ACCEPT_BACKOFF)
        self._failed_at = now
