"""Bounding one HTTP exchange as a whole: a deadline, a stop request, a size limit.

A socket timeout bounds each wait for a byte, so a server dripping one byte a
second never trips it. A `Cutoff` therefore watches the sockets opened (or
reused) inside it, and shuts them down at its deadline or once a stop is
requested: that wakes a read blocked on them, whatever it waits for. Nothing
wakes a DNS lookup or a TCP connect, so a new connection is made aside and
abandoned when the Cutoff fires first.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError

from crossposter.net.session import NoNetrcSession

CHUNK = 64 * 1024
# Mastodon answers are small JSON documents; a bigger one is a broken or hostile server.
API_MAX_BYTES = 8 * 1024 * 1024
_POLL = 0.1
_current = threading.local()


class CutOff(Exception):
    """The exchange was abandoned: its deadline passed, or a stop was requested."""


class TooLarge(Exception):
    """The body is larger than the limit (declared, or read)."""


class Cutoff:
    """Ends the exchanges started inside the `with` block after `seconds`, or when `stop` is set.

    `grace` is how long a stop leaves to the exchange in flight, counted from the
    stop request: 0 abandons it at once (a fetch), a few seconds let a post finish.
    """

    def __init__(
        self,
        seconds: float,
        stop: threading.Event | None = None,
        grace: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self._clock = clock
        self._deadline = clock() + seconds
        self._stop = stop
        self._grace = grace
        self._stop_seen: float | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._outer: Cutoff | None = None
        self.why: str | None = None

    def __enter__(self) -> Cutoff:
        self._outer = getattr(_current, "cutoff", None)
        _current.cutoff = self
        threading.Thread(target=self._watch, name="cutoff", daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        _current.cutoff = self._outer

    def remaining(self) -> float:
        return max(0.0, self._effective_deadline() - self._clock())

    def check(self) -> None:
        """Raise CutOff if the exchange was (or is now due to be) abandoned."""
        if self.why is None and self.remaining() <= 0:
            self._fire()
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
        deadline = self._deadline
        if self._stop is not None and self._stop.is_set():
            if self._stop_seen is None:
                self._stop_seen = getattr(self._stop, "requested_at", None) or self._clock()
            deadline = min(deadline, self._stop_seen + self._grace)
        return deadline

    def _watch(self) -> None:
        while not self._done.wait(min(_POLL, self.remaining())):
            if self.remaining() <= 0:
                self._fire()
                return

    def _fire(self) -> None:
        stopped = self._stop is not None and self._stop.is_set()
        with self._lock:
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


def current_cutoff() -> Cutoff | None:
    return getattr(_current, "cutoff", None)


class _Watched:
    """A connection whose socket the current Cutoff may shut, when it connects or is reused,
    and whose connecting the Cutoff may abandon."""

    sock: socket.socket | None

    def _new_conn(self) -> socket.socket:
        cutoff = current_cutoff()
        connect = super()._new_conn  # type: ignore[misc]
        if cutoff is None:
            return connect()
        sock = _made_aside(connect, cutoff)
        if sock is None:
            raise ConnectTimeoutError(self, f"connecting abandoned: {cutoff.why}")
        return sock

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


def _made_aside(connect: Callable[[], socket.socket], cutoff: Cutoff) -> socket.socket | None:
    """What `connect()` returns, run in a thread of its own; None once `cutoff` fires first.

    A socket that comes too late is closed by that thread: nobody waits for it.
    """
    lock = threading.Lock()
    done = threading.Event()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["sock"] = connect()
        except BaseException as error:  # raised again in the waiting thread
            outcome["error"] = error
        with lock:
            done.set()
            late = outcome.get("abandoned") and outcome.get("sock")
        if late:
            late.close()

    threading.Thread(target=run, name="connect", daemon=True).start()
    while not done.wait(min(_POLL, cutoff.remaining())):
        if cutoff.remaining() <= 0:
            with lock:
                if not done.is_set():
                    outcome["abandoned"] = True
                    cutoff._fire()
                    return None
    if "error" in outcome:
        raise outcome["error"]
    return outcome["sock"]


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
