"""Making a TCP connection that a Cutoff can abandon.

The socket is in the Cutoff's hands before it connects, so the watcher's
shutdown wakes a connect that hangs (a full backlog, a dropped SYN). A DNS
lookup cannot be woken: a name is looked up by a small pool of reused daemon
threads, and a Cutoff (or, for feeds, an event loop's deadline) that fires
first stops the wait for it (the lookup ends on its own, unread). An address
needs no lookup and makes no thread work.
"""

from __future__ import annotations

import ipaddress
import queue
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol, TypeVar

from crossposter.net.watcher import POLL

Answers = list[tuple[Any, ...]]
_current = threading.local()
T = TypeVar("T")


class Cutoff(Protocol):
    """What connecting needs of net.bounded.Cutoff (which imports this module)."""

    def watch(self, sock: socket.socket) -> None: ...

    def remaining(self) -> float: ...

    def check(self) -> None: ...


def current_cutoff() -> Cutoff | None:
    """The Cutoff of the exchange this thread is in, if any (net.bounded sets it)."""
    return getattr(_current, "cutoff", None)


def set_current_cutoff(cutoff: Cutoff | None) -> None:
    _current.cutoff = cutoff


def connect_within(
    cutoff: Cutoff,
    address: tuple[str, int],
    timeout: float | None,
    source_address: tuple[str, int] | None = None,
    socket_options: list[tuple[int, int, int | bytes]] | None = None,
) -> socket.socket:
    """A socket connected to `address` (urllib3's create_connection, abandonable):
    CutOff once `cutoff` fires, socket.gaierror, TimeoutError or OSError otherwise."""
    from urllib3.util.connection import allowed_gai_family

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
    if is_address(host):
        return socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    if cutoff is None:
        return socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
    return _RESOLVER.resolve(host, port, family, cutoff)


def is_address(host: str) -> bool:
    """Whether `host` is an IP address (an IPv6 one bracketed or not), not a name."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class _Resolver:
    """Up to `most` daemon threads, started as work waits and then kept, doing it."""

    def __init__(self, most: int = 16) -> None:
        self._most = most
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0

    def submit(self, work: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._idle > 0:
                self._idle -= 1
            elif self._threads < self._most:
                self._threads += 1
                threading.Thread(target=self._serve, name="lookup", daemon=True).start()
            # else it waits for one of the busy threads
        self._jobs.put((future, work))
        return future

    def resolve(self, host: str, port: int, family: int, cutoff: Cutoff) -> Answers:
        answer = self.submit(lambda: socket.getaddrinfo(host, port, family, socket.SOCK_STREAM))
        while True:
            try:
                return answer.result(min(POLL, cutoff.remaining()))
            except TimeoutError:
                cutoff.check()

    def _serve(self) -> None:
        while True:
            future, work = self._jobs.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(work())
                except BaseException as error:  # raised again where the answer is awaited
                    future.set_exception(error)
            with self._lock:
                self._idle += 1


_RESOLVER = _Resolver()


def aside(work: Callable[[], T]) -> Future[T]:
    """`work` (a lookup: it may hang, nothing can wake it) done by one of the lookup
    threads; whoever waits for the answer may stop waiting, the thread ends it unread."""
    return _RESOLVER.submit(work)
