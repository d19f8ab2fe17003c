"""The HTTP server: cheroot's, in threads of the loop's process, stopped with the loop."""

from __future__ import annotations

import logging
import threading

from cheroot import wsgi

log = logging.getLogger(__name__)

# Ghost's payload carries the whole post: a few hundred KiB at worst.
MAX_BODY_BYTES = 2 * 1024 * 1024
# A client that sends nothing for this long is dropped: a stalled one holds a thread.
SOCKET_TIMEOUT = 10.0
# Probes, scrapes and webhooks: a few at a time, each answered at once.
THREADS = 4


class _Server(wsgi.Server):
    def error_log(self, msg: str = "", level: int = logging.INFO, traceback: bool = False):
        # cheroot writes to stderr; ours goes through logging, escaped like every line.
        log.log(level, "listener: %s", msg, exc_info=traceback)


class HttpServer:
    """Serves `app` on `address` from `start()` until `stop()`."""

    def __init__(self, address: tuple[str, int], app) -> None:
        self._server = _Server(
            address,
            app,
            numthreads=THREADS,
            timeout=int(SOCKET_TIMEOUT),
            server_name="crossposter",
        )
        self._server.max_request_body_size = MAX_BODY_BYTES
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """Where it listens: the port the system chose when asked for port 0."""
        host, port = self._server.bind_addr[:2]
        return host, port

    def start(self) -> None:
        """Bind (OSError when the address is in use or not ours) and serve in a thread."""
        self._server.prepare()
        self._thread = threading.Thread(target=self._server.serve, name="listener", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Stop accepting, let the requests in flight end for up to `timeout` seconds, then
        close their connections."""
        self._server.shutdown_timeout = max(0.1, timeout)
        self._server.stop()
        if self._thread is not None:
            self._thread.join(timeout)
