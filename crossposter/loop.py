"""`run --loop`: a pass, a sleep, again, until asked to stop — the container's way to run."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from pathlib import Path

from crossposter.duration import format_duration
from crossposter.errors import TemporaryStateError
from crossposter.exit_codes import EXIT_TEMPFAIL
from crossposter.health import record_pass
from crossposter.signals import StopRequest

log = logging.getLogger(__name__)

# Passes start up to this share of the interval late, so many crossposters
# started together do not knock on the same feeds and instance at once.
JITTER = 0.1
MAX_JITTER_SECONDS = 60.0


def run_loop(
    run_pass: Callable[[], int],
    *,
    interval: float,
    stop: StopRequest,
    heartbeat: Path,
    jitter: Callable[[float], float] | None = None,
    reload: Callable[..., object] | None = None,
    sooner: Callable[[], float | None] | None = None,
    after_pass: Callable[[int, float], object] | None = None,
) -> None:
    """Call `run_pass` every `interval` seconds until `stop` is set; return once it is.

    `sooner()` says in how many seconds a pass is wanted before its time (a feed asked
    to be polled now), None when none is: the wait ends then, woken by `stop.wake()`.
    Such a pass does not move the next regular one. `after_pass(exit_code, seconds)` is
    told of every pass that ended, as the heartbeat is.

    Each pass's exit code goes to the heartbeat. A pass that finds the state
    locked (or its disk full) is a temporary failure like any other; configuration
    and state errors propagate, since waiting will not mend them. `reload(force=...)`
    is called before each pass (force=False: only if the file changed) and at once
    when `stop.request_reload()` is called during the wait (force=True).
    """
    jitter = jitter or _random_jitter
    deadline = time.monotonic()
    early = False
    while not stop.is_set():
        if reload is not None:
            reload(force=stop.take_reload())
        started = time.monotonic()
        try:
            exit_code = run_pass()
        except TemporaryStateError as error:
            log.warning("%s; trying again next pass", error)
            exit_code = EXIT_TEMPFAIL
        if after_pass is not None:
            after_pass(exit_code, time.monotonic() - started)
        try:
            record_pass(heartbeat, interval_seconds=interval, exit_code=exit_code)
        except OSError as error:
            log.warning("cannot write the heartbeat %s: %s", heartbeat, error)
        if stop.is_set():
            break
        if early:
            delay = max(0.0, deadline - time.monotonic())
            log.info("early pass done (exit %d)", exit_code)
        else:
            delay = interval + jitter(interval)
            deadline = time.monotonic() + delay
            log.info("pass done (exit %d); next in %s", exit_code, format_duration(delay))
        early = _wait(delay, stop, reload, sooner)
    log.info("stopping: %s", stop.reason or "asked to")


def _wait(
    delay: float,
    stop: StopRequest,
    reload: Callable[..., object] | None,
    sooner: Callable[[], float | None] | None,
) -> bool:
    """Sleep `delay`, reloading whenever asked to on the way, without moving the next pass.
    True when cut short because `sooner` wants a pass now."""
    deadline = time.monotonic() + delay
    stop.sleep(_shorter(delay, sooner))
    while not stop.is_set():
        wanted = sooner() if sooner is not None else None
        if wanted is not None and wanted <= 0:
            return True
        if reload is not None and stop.take_reload():
            reload(force=True)
        elif wanted is None:
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        stop.sleep(_shorter(remaining, sooner))
    return False


def _shorter(delay: float, sooner: Callable[[], float | None] | None) -> float:
    wanted = sooner() if sooner is not None else None
    return delay if wanted is None else min(delay, wanted)


def _random_jitter(interval: float) -> float:
    return random.uniform(0, min(interval * JITTER, MAX_JITTER_SECONDS))
