"""Stopping a crossposter that runs in this very process, the way `docker stop` does."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path


def terminate_when_exists(path: Path, timeout: float = 10.0) -> threading.Thread:
    """Send SIGTERM to this process once `path` exists (a heartbeat, after the first pass)."""
    return terminate_when(path.exists, timeout)


def terminate_when(condition: Callable[[], object], timeout: float = 10.0) -> threading.Thread:
    """Send SIGTERM to this process once `condition()` is true (or after `timeout`)."""
    unhandled = signal.getsignal(signal.SIGTERM)

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.01)
        # Only while crossposter handles SIGTERM: otherwise it would end pytest itself.
        if signal.getsignal(signal.SIGTERM) is not unhandled:
            os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread
