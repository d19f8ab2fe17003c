"""Bounding one HTTP exchange as a whole: a deadline, a stop request, a size limit.

A socket timeout bounds each wait for a byte, so a server dripping one byte a
second never trips it. A `Cutoff` therefore watches the sockets opened (or
reused) inside it, and the process's one watcher thread (net.watcher) shuts
them down at its deadline or once a stop is requested: that wakes a read, or
a TCP connect, blocked on them. Nothing wakes a DNS lookup, so a name is
looked up aside (net.connect) and abandoned when the Cutoff fires first.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from crossposter.net.connect import connect_within, current_cutoff, set_current_cutoff
from crossposter.net.limits import CHUNK, TooLarge
from crossposter.net.session import NoNetrcSession
from crossposter.net.watcher import WATCHER

# Mastodon answers are small JSON documents; a bigger one is a broken or hostile server.
API_MAX_BYTES = 8 * 1024 * 1024


class CutOff(Exception):
    """The exchange was abandoned: its deadline passed, or a stop was requested."""


class Cutoff:
    """Ends the exchanges started inside the `with` block after `seconds`, or when `stop` is set.

    `grace` is how long a stop leaves to the exchange in flight, counted from the
    stop request: 0 abandons it at once (a fetch), a few seconds let a post finish.
    """

    def __init__(self, seconds: float, stop: threading.Event | None = None, grace: float = 0.0):
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self._stop = stop
        self._grace = grace
        self._stop_seen: float | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._exited = False
        self._outer: Cutoff | None = None
        self.why: str | None = None

    def __enter__(self) -> Cutoff:
        self._outer = current_cutoff()
        set_current_cutoff(self)
        WATCHER.watch(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        WATCHER.forget(self)
        with self._lock:
            # The watcher may have taken this cutoff out just before: its sockets, back in
            # their pool by now, are another exchange's.
            self._exited = True
        set_current_cutoff(self._outer)

    @property
    def stoppable(self) -> bool:
        return self._stop is not None

    def remaining(self) -> float:
        return max(0.0, self._effective_deadline() - time.monotonic())

    def due(self) -> bool:
        return self.remaining() <= 0

    def check(self) -> None:
        """Raise CutOff if the exchange was (or is now due to be) abandoned."""
        if self.why is None and self.due():
            self.fire()
        if self.why is not None:
            raise CutOff(self.why)

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if sock not in self._sockets:
                self._sockets.append(sock)
            fired = self.why is not None
        if fired:
            _shut(sock)

    def _effective_deadline(self) -> float:
        deadline = self.deadline
        if self._stop is not None and self._stop.is_set():
            if self._stop_seen is None:
                self._stop_seen = getattr(self._stop, "requested_at", None) or time.monotonic()
            deadline = min(deadline, self._stop_seen + self._grace)
        return deadline

    def fire(self) -> None:
        stopped = self._stop is not None and self._stop.is_set()
        with self._lock:
            if self._exited:
                return
            if self.why is None:
                self.why = "stopped" if stopped else f"took longer than {self.seconds:g} s"
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed: nothing left to wake
        sock.shutdown(socket.SHUT_RDWR)


def read_capped(response: requests.Response, limit: int, cutoff: Cutoff | None = None) -> bytes:
    """The (decoded) body, refused once more than `limit` bytes arrive or are announced."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"larger than the {limit}-byte limit")
    chunks = []
    size = 0
    try:
        # Never asks for more than one byte past the limit, so the limit holds on bytes read.
        for chunk in response.iter_content(chunk_size=min(CHUNK, limit + 1)):
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"larger than the {limit}-byte limit")
            chunks.append(chunk)
            if cutoff is not None:
                cutoff.check()
    except requests.RequestException:
        if cutoff is not None:
            cutoff.check()
        raise
    if cutoff is not None:
        # A shut socket looks like the end of a body without a declared length.
        cutoff.check()
    return b"".join(chunks)


class _Watched:
    """A connection whose socket the current Cutoff may shut, when it connects or is reused,
    and whose connecting the Cutoff may abandon."""

    sock: socket.socket | None

    def _new_conn(self) -> socket.socket:
        cutoff = current_cutoff()
        if cutoff is None:
            return super()._new_conn()  # type: ignore[misc]
        try:
            return connect_within(
                cutoff,
                (self._dns_host, self.port),  # type: ignore[attr-defined]
                self.timeout,  # type: ignore[attr-defined]
                self.source_address,  # type: ignore[attr-defined]
                self.socket_options,  # type: ignore[attr-defined]
            )
        except CutOff:
            raise ConnectTimeoutError(self, f"connecting abandoned: {cutoff.why}") from None
        except socket.gaierror as error:
            raise NameResolutionError(self.host, self, error) from error  # type: ignore[attr-defined]
        except TimeoutError as error:
            raise ConnectTimeoutError(
                self, f"connecting timed out (connect timeout={self.timeout})"  # type: ignore[attr-defined]
            ) from error
        except OSError as error:
            raise NewConnectionError(
                self, f"Failed to establish a new connection: {error}"
            ) from error

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        cutoff = current_cutoff()
        if cutoff is not None:
            cutoff.watch(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> Any:
        cutoff = current_cutoff()
        if cutoff is not None:
            cutoff.watch(self.sock)
        return super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class WatchedAdapter(HTTPAdapter):
    """An adapter whose connections a Cutoff around the request can cut."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _WatchedHTTPPool,
            "https": _WatchedHTTPSPool,
        }


class UnreadableAnswer(requests.ConnectionError):
    """The answer came, its body did not (too large, too slow, stopped, not JSON)."""


class ApiAdapter(WatchedAdapter):
    """For an API client that reads whole answers: each request, body included, within
    `total` seconds and `max_bytes`; `stop` (set by the caller) leaves it `grace` seconds.

    A 2xx answer whose body is not JSON raises too: the request may have done its
    work (a toot may exist), so it must read as a network failure, not a refusal.
    """

    def __init__(self, total: float, max_bytes: int = API_MAX_BYTES, grace: float = 0.0) -> None:
        super().__init__()
        self.total = total
        self.max_bytes = max_bytes
        self.grace = grace
        self.stop: threading.Event | None = None

    def send(self, request: Any, stream: bool = False, **kwargs: Any) -> requests.Response:
        with Cutoff(self.total, self.stop, self.grace) as cutoff:
            cutoff.check()
            response = super().send(request, stream=True, **kwargs)
            try:
                body = read_capped(response, self.max_bytes, cutoff)
            except (CutOff, TooLarge, requests.RequestException) as error:
                response.close()
                raise UnreadableAnswer(
                    f"HTTP {response.status_code}, but its body could not be read: {error}",
                    request=request,
                    response=response,
                ) from None
        if 200 <= response.status_code < 300 and body.strip():
            try:
                json.loads(body)
            except ValueError:
                raise UnreadableAnswer(
                    f"HTTP {response.status_code}, but its body is not JSON",
                    request=request,
                    response=response,
                ) from None
        # What requests itself does once it has read a body.
        response._content = body
        response._content_consumed = True
        return response


def api_session(total: float, max_bytes: int = API_MAX_BYTES, grace: float = 0.0) -> tuple[
    requests.Session, ApiAdapter
]:
    """A session for an API; its adapter, to set `stop` on, comes with it."""
    session = NoNetrcSession()
    adapter = ApiAdapter(total, max_bytes, grace)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session, adapter
