"""Making a TCP connection that a Cutoff can abandon.

The socket is in the Cutoff's hands before it connects, so the watcher's
shutdown wakes a connect that hangs (a full backlog, a dropped SYN). A DNS
lookup cannot be woken: a name is looked up by a small pool of reused daemon
threads, and a Cutoff that fires first stops the wait for it (the lookup ends
on its own, unread). An address needs no lookup and makes no thread work.
"""

from __future__ import annotations

import ipaddress
import queue
import socket
import threading
from typing import Any, Protocol

from urllib3.util.connection import allowed_gai_family

from crossposter.net.watcher import POLL

Answers = list[tuple[Any, ...]]


class Cutoff(Protocol):
    """What connecting needs of net.bounded.Cutoff (which imports this module)."""

    def watch(self, sock: socket.socket) -> None: ...

    def remaining(self) -> float: ...

    def check(self) -> None: ...


def connect_within(
    cutoff: Cutoff,
    address: tuple[str, int],
    timeout: float | None,
    source_address: tuple[str, int] | None = None,
    socket_options: list[tuple[int, int, int | bytes]] | None = None,
) -> socket.socket:
    """A socket connected to `address` (urllib3's create_connection, abandonable):
    CutOff once `cutoff` fires, socket.gaierror, TimeoutError or OSError otherwise."""
    host, port = address
    answers = lookup(host.strip("[]"), port, cutoff, allowed_gai_family())
    error: OSError | None = None
    for family, kind, proto, _, target in answers:
        sock = socket.socket(family, kind, proto)
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
            cutoff.watch(sock)
            left = cutoff.remaining()
            sock.settimeout(left if timeout is None else min(timeout, left))
            if source_address:
                sock.bind(source_address)
            sock.connect(target)
            return sock
        except OSError as failure:
            sock.close()
            cutoff.check()  # a connect the watcher woke says so, not "connection reset"
            error = failure
    raise error or OSError("getaddrinfo returns an empty list")


def lookup(host: str, port: int, cutoff: Cutoff | None, family: int = 0) -> Answers:
    """getaddrinfo's answers for a stream to `host`; inside a Cutoff, a name is looked up
    aside and CutOff raised once the Cutoff fires first."""
    if _is_address(host):
        return socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    if cutoff is None:
        return socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
    return _RESOLVER.resolve(host, port, family, cutoff)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class _Lookup:
    def __init__(self, host: str, port: int, family: int) -> None:
        self.query = (host, port, family, socket.SOCK_STREAM)
        self.done = threading.Event()
        self.answers: Answers = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.answers = socket.getaddrinfo(*self.query)
        except BaseException as error:  # raised again in the waiting thread
            self.error = error
        self.done.set()


class _Resolver:
    """Up to `most` daemon threads, started as lookups wait and then kept, making them."""

    def __init__(self, most: int = 16) -> None:
        self._most = most
        self._lookups: queue.SimpleQueue[_Lookup] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0

    def resolve(self, host: str, port: int, family: int, cutoff: Cutoff) -> Answers:
        lookup = _Lookup(host, port, family)
        with self._lock:
            if self._idle > 0:
                self._idle -= 1
            elif self._threads < self._most:
                self._threads += 1
                threading.Thread(target=self._serve, name="lookup", daemon=True).start()
            # else it waits for one of the busy threads
        self._lookups.put(lookup)
        while not lookup.done.wait(min(POLL, cutoff.remaining())):
            cutoff.check()
        if lookup.error is not None:
            raise lookup.error
        return lookup.answers

    def _serve(self) -> None:
        while True:
            self._lookups.get().run()
            with self._lock:
                self._idle += 1


_RESOLVER = _Resolver()
