"""`run --loop`: a pass, a sleep, again, until asked to stop — the container's way to run."""

from __future__ import annotations

import logging
import random
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
) -> None:
    """Call `run_pass` every `interval` seconds until `stop` is set; return once it is.

    Each pass's exit code goes to the heartbeat. A pass that finds the state
    locked (or its disk full) is a temporary failure like any other; configuration
    and state errors propagate, since waiting will not mend them.
    """
    jitter = jitter or _random_jitter
    while not stop.is_set():
        try:
            exit_code = run_pass()
        except TemporaryStateError as error:
            log.warning("%s; trying again next pass", error)
            exit_code = EXIT_TEMPFAIL
        try:
            record_pass(heartbeat, interval_seconds=interval, exit_code=exit_code)
        except OSError as error:
            log.warning("cannot write the heartbeat %s: %s", heartbeat, error)
        if stop.is_set():
            break
        delay = interval + jitter(interval)
        log.info("pass done (exit %d); next in %s", exit_code, format_duration(round(delay, 1)))
        stop.wait(delay)
    log.info("stopping: %s", stop.reason or "asked to")


def _random_jitter(interval: float) -> float:
    return random.uniform(0, min(interval * JITTER, MAX_JITTER_SECONDS))
