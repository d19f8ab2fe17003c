"""Feeds asked to be polled before their turn: a blog's webhook or a WebSub hub says it
has just published, and `run --loop` wakes to fetch the feed instead of waiting out
its interval.

Requests for a feed merge until a pass takes them, so a burst of calls is one poll;
and a feed is polled on request at most once every `spacing` seconds: a request
within that time of the feed's last poll on request waits for its end, merged with
any others.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# A blog that calls its webhook on every save must not make us fetch its feed each time.
POLL_SPACING_SECONDS = 10.0


class PollRequests:
    """Thread-safe: the listener's threads ask, the loop takes. `wake` ends the loop's wait."""

    def __init__(
        self,
        wake: Callable[[], None],
        *,
        spacing: float = POLL_SPACING_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._wake = wake
        self._spacing = spacing
        self._clock = clock
        self._lock = threading.Lock()
        # Feed name → the clock's time from which it may be polled.
        self._wanted: dict[str, float] = {}
        # Feed name → when its last poll on request started. Regular polls do not count:
        # the spacing keeps a flood of calls from becoming a flood of fetches.
        self._last_poll: dict[str, float] = {}

    def request(self, feed: str) -> None:
        """Ask for `feed` to be polled as soon as its spacing allows."""
        with self._lock:
            if feed not in self._wanted:
                self._wanted[feed] = self._earliest(feed)
        self._wake()

    def seconds_until_due(self) -> float | None:
        """How long until a requested poll is due (0 when one is); None when none is asked."""
        with self._lock:
            if not self._wanted:
                return None
            return max(0.0, min(self._wanted.values()) - self._clock())

    def take_due(self) -> set[str]:
        """The feeds whose requested poll is due, handed to a pass starting now."""
        now = self._clock()
        with self._lock:
            due = {feed for feed, at in self._wanted.items() if at <= now}
            for feed in due:
                del self._wanted[feed]
                self._last_poll[feed] = now
        return due

    def _earliest(self, feed: str) -> float:
        last = self._last_poll.get(feed)
        now = self._clock()
        return now if last is None else max(now, last + self._spacing)
