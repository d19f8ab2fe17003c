"""A loopback HTTP server that serves RSS/Atom fixtures, with caching headers and faults.

Usage::

    with FeedServer() as server:
        server.set_feed("/feed.xml", feeds.rss([{"title": "Hello", "link": "https://b.example/1"}]))
        requests.get(server.url("/feed.xml"))

Normal answers carry a strong ``ETag`` (a hash of the body) and ``Last-Modified`` (the server
clock when ``set_feed`` was called, or the ``last_modified`` given); a matching
``If-None-Match`` (which takes precedence) or a not-older ``If-Modified-Since`` gets 304.
The body is gzip-encoded when the client accepts gzip and ``server.gzip`` is true (the ETag
is the same for both encodings). Unknown paths answer 404.

Faults (each helper takes ``times=None``: None = until replaced/cleared, N = the next N
requests only, then the path serves its feed again):

======================================================  ======================================
helper                                                  the client sees
======================================================  ======================================
``set_status(path, code, body=b"", headers=None,``       that status (404, 410, 429, 500, 503…),
``           reason=None)``                               with ``reason`` as its reason phrase
``set_redirect(path, target, code=301)``                redirect to ``url(target)`` (or to
                                                        ``target`` if absolute; relative=True
                                                        sends the path as is)
``set_redirect_loop(path, other=None, code=302)``       path -> other -> path -> …
``set_large(path, size, declare_length=True)``          a ``size``-byte 200 body, streamed in
                                                        chunks (Content-Length or chunked)
``set_gzip_bomb(path, decompressed_size=100 MiB)``      ~100 KB gzip body that inflates to
                                                        ``decompressed_size`` (always gzip)
``set_html(path)``                                      a 200 text/html page (not a feed)
``set_empty(path, content_type=RSS)``                   200 with an empty body
``set_reset(path)``                                     connection reset (RST), no answer
``set_drop(path)``                                      connection closed (FIN), no answer
``set_slow(path, seconds)``                             the normal answer after ``seconds``
``set_drip(path, interval=1.0)``                        the normal headers at once, then the
                                                        body one byte every ``interval``
======================================================  ======================================

``server.delay`` (seconds) delays every answer. ``server.requests`` lists
``(method, path_with_query, headers)``; ``server.count(method, path)`` counts them.
"""

from __future__ import annotations

import gzip as _gzip
import hashlib
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

from ._http import LoopbackServer, drop_connection, read_body, reset_connection, send

__all__ = ["ATOM", "HTML", "RSS", "FeedServer", "InFlight", "gzip_bomb"]

RSS = "application/rss+xml; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"
HTML = "text/html; charset=utf-8"

_BOMB_CACHE: dict[int, bytes] = {}
_FEED_PREFIX = (
    b'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>big</title>'
)


def gzip_bomb(decompressed_size: int = 100 * 1024 * 1024) -> bytes:
    """gzip bytes (~1/1000 of the size) inflating to an RSS prefix + zeros; cached per size."""
    cached = _BOMB_CACHE.get(decompressed_size)
    if cached is None:
        co = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31 = gzip container
        parts = [co.compress(_FEED_PREFIX)]
        left = decompressed_size - len(_FEED_PREFIX)
        chunk = b"\0" * (1 << 20)
        while left > 0:
            piece = chunk if left >= len(chunk) else chunk[:left]
            parts.append(co.compress(piece))
            left -= len(piece)
        parts.append(co.flush())
        cached = _BOMB_CACHE[decompressed_size] = b"".join(parts)
    return cached


@dataclass
class _Feed:
    body: bytes
    content_type: str
    etag: str | None
    last_modified: float | None
    headers: list[tuple[str, str]]
    gzipped: bytes | None = None


@dataclass
class _Fault:
    kind: str
    times: int | None
    params: dict[str, Any] = field(default_factory=dict)


class FeedServer(LoopbackServer):
    """Serves feeds on 127.0.0.1; see the module docstring for faults."""

    def __init__(self, *, gzip: bool = True, delay: float = 0.0) -> None:
        super().__init__()
        self.gzip = gzip
        self.delay = delay
        self._feeds: dict[str, _Feed] = {}
        self._faults: dict[str, list[_Fault]] = {}

    # -- content -----------------------------------------------------------------------
    def url(self, path: str = "/") -> str:
        if not path.startswith("/"):
            path = "/" + path
        return self.base_url + path

    def set_feed(
        self,
        path: str,
        body: bytes | str,
        content_type: str = RSS,
        *,
        etag: bool | str = True,
        last_modified: float | bool | None = True,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        """Serve ``body`` at ``path`` (query string included, if any); faults stay queued.

        ``etag``: True = strong hash of the body, a str = that exact header value, False =
        none. ``last_modified``: True = now (server clock), a timestamp, or False/None = none.
        """
        data = body.encode("utf-8") if isinstance(body, str) else body
        if etag is True:
            etag_value: str | None = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        elif etag:
            etag_value = str(etag)
        else:
            etag_value = None
        if last_modified is True:
            lm: float | None = float(int(self.now()))
        elif last_modified is False or last_modified is None:
            lm = None
        else:
            lm = float(int(last_modified))
        with self.lock:
            self._feeds[path] = _Feed(data, content_type, etag_value, lm, list(headers or []))

    def remove(self, path: str) -> None:
        """Forget the feed and faults at ``path`` (it answers 404 again)."""
        with self.lock:
            self._feeds.pop(path, None)
            self._faults.pop(path, None)

    def clear_faults(self, path: str | None = None) -> None:
        with self.lock:
            if path is None:
                self._faults.clear()
            else:
                self._faults.pop(path, None)

    def etag(self, path: str) -> str | None:
        return self._feeds[path].etag

    # -- faults ------------------------------------------------------------------------
    def _add(self, path: str, kind: str, times: int | None, **params: Any) -> None:
        with self.lock:
            self._faults.setdefault(path, []).append(_Fault(kind, times, params))

    def set_status(
        self, path, code: int, body: bytes | str = b"", headers=None, *, reason=None, times=None
    ):
        data = body.encode() if isinstance(body, str) else body
        self._add(
            path, "status", times, code=code, body=data, headers=list(headers or []), reason=reason
        )

    def set_redirect(self, path, target: str, code: int = 301, *, relative=False, times=None):
        self._add(path, "redirect", times, target=target, code=code, relative=relative)

    def set_redirect_loop(self, path, other: str | None = None, code: int = 302, *, times=None):
        other = other or path.rstrip("/") + "-loop"
        self.set_redirect(path, other, code, times=times)
        self.set_redirect(other, path, code, times=times)

    def set_large(self, path, size: int, *, declare_length=True, content_type=RSS, times=None):
        self._add(
            path, "large", times, size=size, declare_length=declare_length, ctype=content_type
        )

    def set_gzip_bomb(self, path, decompressed_size: int = 100 * 1024 * 1024, *, times=None):
        self._add(path, "bomb", times, data=gzip_bomb(decompressed_size))

    def set_html(self, path, body: str | None = None, *, times=None):
        page = body or (
            "<!DOCTYPE html><html><head><title>My blog</title>"
            '<link rel="alternate" type="application/rss+xml" href="/feed.xml"></head>'
            "<body><h1>My blog</h1><p>Welcome!</p></body></html>"
        )
        self._add(
            path, "status", times, code=200, body=page.encode(), headers=[("Content-Type", HTML)]
        )

    def set_empty(self, path, content_type: str = RSS, *, times=None):
        self._add(
            path, "status", times, code=200, body=b"", headers=[("Content-Type", content_type)]
        )

    def set_reset(self, path, *, times=None):
        self._add(path, "reset", times)

    def set_drop(self, path, *, times=None):
        self._add(path, "drop", times)

    def set_slow(self, path, seconds: float, *, times=None):
        self._add(path, "slow", times, seconds=seconds)

    # -- HTTP --------------------------------------------------------------------------
    def set_drip(self, path, interval: float = 1.0, *, times=None):
        self._add(path, "drip", times, interval=interval)

    def record(self, handler: BaseHTTPRequestHandler) -> tuple[str, str]:
        with self.lock:
            self.requests.append((handler.command, handler.path, dict(handler.headers.items())))
        return handler.command, handler.path

    def count(self, method: str | None = None, path: str | None = None) -> int:
        with self.lock:
            return sum(
                1
                for m, p, _ in self.requests
                if (method is None or m == method.upper()) and (path is None or p == path)
            )

    def _take_fault(self, path: str) -> _Fault | None:
        with self.lock:
            faults = self._faults.get(path) or []
            for fault in faults:
                if fault.times is None:
                    return fault
                if fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        faults.remove(fault)
                    return fault
        return None

    def dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        _method, path = self.record(handler)
        read_body(handler)
        if self.delay:
            self.sleep(self.delay)
        fault = self._take_fault(path)
        if fault is not None:
            p = fault.params
            if fault.kind == "reset":
                return reset_connection(handler)
            if fault.kind == "drop":
                return drop_connection(handler)
            if fault.kind == "status":
                headers = p["headers"]
                if not any(k.lower() == "content-type" for k, _ in headers):
                    headers = [*headers, ("Content-Type", "text/plain; charset=utf-8")]
                return send(handler, p["code"], p["body"], headers, reason=p.get("reason"))
            if fault.kind == "redirect":
                target = p["target"]
                if not p["relative"] and target.startswith("/"):
                    target = self.url(target)
                body = f'<a href="{target}">moved</a>'.encode()
                return send(
                    handler, p["code"], body, [("Location", target), ("Content-Type", HTML)]
                )
            if fault.kind == "large":
                return self._send_large(handler, p["size"], p["declare_length"], p["ctype"])
            if fault.kind == "bomb":
                headers = [("Content-Type", RSS), ("Content-Encoding", "gzip")]
                return send(handler, 200, p["data"], headers)
            if fault.kind == "slow":
                self.sleep(p["seconds"])
            if fault.kind == "drip":
                return self._drip(handler, path, p["interval"])
        self._serve_feed(handler, path)

    def _drip(self, handler: BaseHTTPRequestHandler, path: str, interval: float) -> None:
        feed = self._feeds.get(path)
        body = feed.body if feed is not None else b"<rss>" + b" " * 10_000
        handler.send_response(200)
        handler.send_header("Content-Type", feed.content_type if feed else RSS)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.close_connection = True
        for index in range(len(body)):
            self.sleep(interval)
            if self._stopping.is_set():
                return
            try:
                handler.wfile.write(body[index : index + 1])
                handler.wfile.flush()
            except OSError:
                return  # the client gave up, as it should

    def _serve_feed(self, handler: BaseHTTPRequestHandler, path: str) -> None:
        feed = self._feeds.get(path)
        if feed is None:
            return send(handler, 404, b"Not Found", [("Content-Type", "text/plain")])
        validators = []
        if feed.etag:
            validators.append(("ETag", feed.etag))
        if feed.last_modified is not None:
            validators.append(("Last-Modified", formatdate(feed.last_modified, usegmt=True)))
        if self._not_modified(handler, feed):
            return send(handler, 304, b"", validators)
        headers = [("Content-Type", feed.content_type), *validators, *feed.headers]
        body = feed.body
        accept = (handler.headers.get("Accept-Encoding") or "").lower()
        if self.gzip:
            headers.append(("Vary", "Accept-Encoding"))
            if "gzip" in accept and "gzip;q=0" not in accept.replace(" ", ""):
                if feed.gzipped is None:
                    feed.gzipped = _gzip.compress(feed.body, mtime=0)
                body = feed.gzipped
                headers.append(("Content-Encoding", "gzip"))
        send(handler, 200, body, headers)

    @staticmethod
    def _not_modified(handler: BaseHTTPRequestHandler, feed: _Feed) -> bool:
        inm = handler.headers.get("If-None-Match")
        if inm is not None:
            if feed.etag is None:
                return False
            tags = [t.strip() for t in inm.split(",")]
            mine = feed.etag.removeprefix("W/")
            return "*" in tags or any(t.removeprefix("W/") == mine for t in tags)
        ims = handler.headers.get("If-Modified-Since")
        if ims is not None and feed.last_modified is not None:
            try:
                since = parsedate_to_datetime(ims).timestamp()
            except (TypeError, ValueError):
                return False
            return feed.last_modified <= since
        return False

    def _send_large(self, handler, size: int, declare_length: bool, ctype: str) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", ctype)
        if declare_length:
            handler.send_header("Content-Length", str(size))
        else:
            handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        if handler.command == "HEAD":
            return
        filler = b"<!-- padding padding padding padding padding padding padding -->\n" * 1000
        sent = 0
        first = _FEED_PREFIX[:size]
        while sent < size:
            piece = first if sent == 0 else filler[: size - sent]
            if not piece:
                piece = filler[: size - sent]
            if declare_length:
                handler.wfile.write(piece)
            else:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            sent += len(piece)
        if not declare_length:
            handler.wfile.write(b"0\r\n\r\n")


class InFlight:
    """Counts the requests `server` is answering at the same moment; `peak` is the most.

    `hold` runs inside each answer before it is sent, while the request counts as
    in flight (it stops counting as the answer is sent): a test makes requests overlap
    (or proves they cannot) with it.
    """

    def __init__(self, server: FeedServer, hold: Callable[[], None] = lambda: None) -> None:
        self.now = 0
        self.peak = 0
        self._lock = threading.Lock()
        self._hold = hold
        self._answer = server.dispatch
        server.dispatch = self._dispatch

    def _dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            self._hold()
        finally:
            # Out of flight before the answer goes: once the client has it, it may rightly
            # send its next request before this thread would have counted this one done.
            with self._lock:
                self.now -= 1
        self._answer(handler)
