"""Stopping politely: SIGTERM or SIGINT asks the work to end within GRACE_SECONDS;
SIGHUP asks `run --loop` to read its configuration again, and stops nothing.

A `StopRequest` is an Event: the loop waits on it instead of sleeping, so a stop
wakes it at once, and a pass checks `stop.is_set` between posts. Fetches and
downloads in flight are abandoned at once; a post in flight gets what is left of
the grace, then is abandoned and stays pending (its Idempotency-Key makes the
retry safe).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# How long after a stop request the process may still take: `docker stop` waits 10 s.
GRACE_SECONDS = 5.0


class StopRequest(threading.Event):
    """Set once a stop was asked for; `reason` says by what."""

    def __init__(self) -> None:
        super().__init__()
        self.reason: str | None = None
        # time.monotonic() when the stop was asked for: the grace counts from there.
        self.requested_at: float | None = None

        # What the loop sleeps on: set by a stop, a request to reload, and a wake.
        self._wakeup = threading.Event()
        self._reload_requested = False

    def request(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            self.requested_at = time.monotonic()
        self.set()
        self._wakeup.set()

    def request_reload(self) -> None:
        """Ask for the configuration to be read again now; nothing stops."""
        self._reload_requested = True
        self._wakeup.set()

    def wake(self) -> None:
        """End the current wait at once (a feed asked to be polled now); nothing stops."""
        self._wakeup.set()

    def take_reload(self) -> bool:
        """Whether a reload was asked for since the last call."""
        requested, self._reload_requested = self._reload_requested, False
        return requested

    def sleep(self, seconds: float) -> None:
        """Wait up to `seconds`; a stop, a reload request or a wake ends the wait at once."""
        self._wakeup.wait(seconds)
        self._wakeup.clear()


@contextmanager
def stop_on_signals(
    stop: StopRequest | None = None, signals: Sequence[signal.Signals] = STOP_SIGNALS
) -> Iterator[StopRequest]:
    """Within the block, the first of `signals` sets `stop` instead of killing the process.

    A second signal acts as it would without us (SIGINT raises KeyboardInterrupt,
    SIGTERM terminates): a person pressing Ctrl-C twice wants out now. Outside the
    main thread, where Python cannot install handlers, the request is only returned.
    """
    stop = stop or StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {number: signal.getsignal(number) for number in signals}

    def restore() -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)

    def on_signal(number: int, _frame: object) -> None:
        restore()
        stop.requested_at = stop.requested_at or time.monotonic()
        # Event.set takes the lock Event.wait may hold in this very thread when the
        # signal lands; setting it from another thread cannot deadlock.
        threading.Thread(
            target=stop.request, args=(signal.Signals(number).name,), daemon=True
        ).start()

    for number in signals:
        signal.signal(number, on_signal)
    try:
        yield stop
    finally:
        restore()


@contextmanager
def reload_on_hangup(stop: StopRequest) -> Iterator[StopRequest]:
    """Within the block, SIGHUP asks `stop`'s owner to reload (the daemons' custom)."""
    hangup = getattr(signal, "SIGHUP", None)
    if hangup is None or threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = signal.getsignal(hangup)

    def on_hangup(_number: int, _frame: object) -> None:
        # As for a stop: never set an Event from the handler, the thread may hold its lock.
        threading.Thread(target=stop.request_reload, daemon=True).start()

    signal.signal(hangup, on_hangup)
    try:
        yield stop
    finally:
        signal.signal(hangup, previous)
