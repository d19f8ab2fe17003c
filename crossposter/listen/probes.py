"""What Kubernetes' probes ask: is the loop alive (`/healthz`), may it take traffic (`/readyz`).

Alive is not healthy: a pass that ends in failure (a feed answering 404, the instance
down) is still a loop that runs, and restarting the pod would mend nothing. Only a loop
that stopped ending passes is dead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from crossposter.duration import format_duration
from crossposter.errors import StateError

# On top of twice the interval: a pass may itself take minutes (slow feeds, a rate limit).
ALIVE_MARGIN = 5 * 60.0


@dataclass(frozen=True)
class Verdict:
    ok: bool
    message: str


def alive(*, started: float, last_pass_end: float | None, interval: float, now: float) -> Verdict:
    """A pass ended, whatever its exit code, within twice the interval plus ALIVE_MARGIN,
    or the process started less than that ago (times on one monotonic clock)."""
    limit = 2 * interval + ALIVE_MARGIN
    if last_pass_end is not None and now - last_pass_end <= limit:
        return Verdict(True, f"last pass ended {_ago(now - last_pass_end)} ago")
    if now - started <= limit:
        return Verdict(True, f"started {_ago(now - started)} ago")
    if last_pass_end is None:
        return Verdict(False, f"no pass has ended since the start, {_ago(now - started)} ago")
    return Verdict(
        False, f"last pass ended {_ago(now - last_pass_end)} ago, more than {_ago(limit)}"
    )


class LoopProbes:
    """The loop's side of the probes: when it started, when its last pass ended."""

    def __init__(
        self,
        interval: float,
        state_reachable: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        # Raises (a StateError) when the state cannot be opened.
        self._state_reachable = state_reachable
        self._clock = clock
        self._started = clock()
        self._last_pass_end: float | None = None
        self._lock = threading.Lock()

    def pass_ended(self) -> None:
        with self._lock:
            self._last_pass_end = self._clock()

    def alive(self) -> Verdict:
        with self._lock:
            last = self._last_pass_end
        return alive(
            started=self._started, last_pass_end=last, interval=self.interval, now=self._clock()
        )

    def ready(self) -> Verdict:
        """The first pass has ended and the state is reachable."""
        with self._lock:
            if self._last_pass_end is None:
                return Verdict(False, "the first pass has not ended yet")
        try:
            self._state_reachable()
        except StateError as error:
            return Verdict(False, f"the state is out of reach: {error}")
        return Verdict(True, "ready")


def _ago(seconds: float) -> str:
    return format_duration(max(1, round(seconds)))
