"""Shared plumbing for the loopback test servers (stdlib only).

A :class:`LoopbackServer` runs a ``ThreadingHTTPServer`` on 127.0.0.1 and a free port in a
daemon thread and hands every request to ``self.dispatch(handler)``. It records requests,
collects unexpected server-side exceptions in ``self.errors`` (so a test can assert the
fake itself did not crash) and offers helpers to answer, to drop a connection (FIN, no
answer) or to reset it (RST, no answer).
"""

from __future__ import annotations

import contextlib
import email.utils
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: LoopbackServer

    def handle_error(self, request, client_address):  # pragma: no cover - diagnostics only
        exc = sys.exc_info()[1]
        if isinstance(exc, _CLIENT_GONE):
            return
        self.owner.errors.append(traceback.format_exc())
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "loopback-test-server"
    sys_version = ""
    timeout = 30  # idle keep-alive connections give up after this
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms stalls
    server: _HTTPServer

    def log_message(self, format, *args):
        pass

    def date_time_string(self, timestamp=None):
        if timestamp is None:
            timestamp = self.server.owner.now()
        return email.utils.formatdate(timestamp, usegmt=True)

    def _dispatch(self):
        owner = self.server.owner
        try:
            owner.dispatch(self)
        except _CLIENT_GONE:
            self.close_connection = True
        except Exception:
            owner.errors.append(traceback.format_exc())
            self.close_connection = True
            with contextlib.suppress(Exception):
                send(
                    self,
                    500,
                    b'{"error": "test server crashed"}',
                    [("Content-Type", "application/json")],
                )

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch


class LoopbackServer:
    """Base class: lifecycle, request log, clock and connection helpers."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.errors: list[str] = []
        self.clock_offset: float = 0.0
        self._now_fn = time.time
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.host = "127.0.0.1"
        self.port: int | None = None
        # Set before start(): the server speaks TLS with it, and its URLs are https.
        self.tls: ssl.SSLContext | None = None

    # -- lifecycle -------------------------------------------------------------------
    def start(self):
        if self._httpd is not None:
            return self
        # A port set before start() is used (another loopback address, same port).
        httpd = _HTTPServer((self.host, self.port or 0), _Handler)
        httpd.owner = self
        if self.tls is not None:
            httpd.socket = self.tls.wrap_socket(httpd.socket, server_side=True)
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._stopping.clear()
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # wakes up handlers sleeping in self.sleep()
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("server not started: use it as a context manager or call start()")
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://{self.host}:{self.port}"

    # -- clock -----------------------------------------------------------------------
    def now(self) -> float:
        """The server's clock: the injected ``now`` function (default time.time) + clock_offset."""
        return self._now_fn() + self.clock_offset

    def advance(self, seconds: float) -> None:
        """Move the server clock forward (idempotency windows, rate-limit windows, dates)."""
        self.clock_offset += seconds

    def sleep(self, seconds: float) -> None:
        """Sleep in a handler thread; returns early when the server stops."""
        self._stopping.wait(seconds)

    # -- request log -----------------------------------------------------------------
    def record(self, handler: BaseHTTPRequestHandler) -> tuple[str, str]:
        path = urlsplit(handler.path).path
        with self.lock:
            self.requests.append((handler.command, path, dict(handler.headers.items())))
        return handler.command, path

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """Number of recorded requests with this method and path (trailing '/' ignored)."""
        want = (path.rstrip("/") or "/") if path is not None else None
        n = 0
        with self.lock:
            for m, p, _ in self.requests:
                if method is not None and m != method.upper():
                    continue
                if want is not None and (p.rstrip("/") or "/") != want:
                    continue
                n += 1
        return n

    def dispatch(self, handler: BaseHTTPRequestHandler) -> None:  # pragma: no cover
        raise NotImplementedError


# -- helpers usable from dispatch() ------------------------------------------------------
def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    length = int(handler.headers.get("Content-Length") or 0)
    if length:
        return handler.rfile.read(length)
    if "chunked" in (handler.headers.get("Transfer-Encoding") or "").lower():
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                handler.rfile.readline()
                break
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
        return b"".join(chunks)
    return b""


def send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes = b"",
    headers: Iterable[tuple[str, str]] = (),
    *,
    reason: str | None = None,
) -> None:
    """Answer with a complete body (Content-Length set unless given; no body for HEAD/304);
    `reason` is the reason phrase, the standard one when None (sent as Latin-1, as is)."""
    handler.send_response(status, reason)
    names = set()
    for name, value in headers:
        names.add(name.lower())
        handler.send_header(name, value)
    no_body = status in (204, 304) or 100 <= status < 200
    if "content-length" not in names and not no_body:
        handler.send_header("Content-Length", str(len(body)))
    if handler.close_connection:
        handler.send_header("Connection", "close")
    handler.end_headers()
    if body and handler.command != "HEAD" and not no_body:
        handler.wfile.write(body)


def drop_connection(handler: BaseHTTPRequestHandler) -> None:
    """Close the connection without answering (orderly FIN: client sees 'RemoteDisconnected')."""
    handler.close_connection = True


def reset_connection(handler: BaseHTTPRequestHandler) -> None:
    """Close the connection with an RST and no answer (client sees 'Connection reset by peer')."""
    handler.close_connection = True
    with contextlib.suppress(OSError):
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    # The real close happens when the handler's file objects are closed in finish(); no FIN
    # is sent first, because the socket is already closed when shutdown_request() runs.
    with contextlib.suppress(OSError):
        handler.connection.close()
