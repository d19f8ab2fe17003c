"""The heartbeat `run --loop` leaves after each pass, and what `crossposter health` makes of it.

With a state file, a file beside it, not the state: the health check must answer
while a pass holds the state's lock, and must never be able to damage it. With a
state database, each worker (CROSSPOSTER_WORKER_ID) keeps its own in the database,
which a health check reads without locking anything.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from crossposter.duration import format_duration
from crossposter.exit_codes import EXIT_OK
from crossposter.files import write_atomically
from crossposter.models import Heartbeat

if TYPE_CHECKING:
    from crossposter.config import Settings


@dataclass(frozen=True)
class Health:
    healthy: bool
    message: str


WORKER_VARIABLE = "CROSSPOSTER_WORKER_ID"


def worker_id() -> str:
    """This process's name among those sharing a state database: who holds a lease."""
    return os.environ.get(WORKER_VARIABLE) or f"{socket.gethostname()}-{os.getpid()}"


def next_heartbeat(
    previous: Heartbeat | None, *, interval_seconds: float, exit_code: int, at: datetime
) -> Heartbeat:
    """The heartbeat after a pass that ended with `exit_code`; a success moves
    `last_success_at`."""
    last_success = at if exit_code == EXIT_OK else (previous.last_success_at if previous else None)
    return Heartbeat(interval_seconds, at, exit_code, last_success)


def record_pass(
    path: Path, *, interval_seconds: float, exit_code: int, at: datetime | None = None
) -> Heartbeat:
    """Note in the heartbeat file that a pass ended with `exit_code`."""
    heartbeat = next_heartbeat(
        _read(path), interval_seconds=interval_seconds, exit_code=exit_code,
        at=at or datetime.now(UTC),
    )
    _write(path, heartbeat)
    return heartbeat


def check_health(
    path: Path, *, max_age: float | None = None, now: datetime | None = None
) -> Health:
    """Healthy when a pass succeeded within `max_age` seconds (default: twice the interval)."""
    try:
        heartbeat = _read(path)
    except ValueError as error:
        return Health(False, f"heartbeat {path} is unreadable: {error}")
    if heartbeat is None:
        return Health(False, f"no heartbeat at {path}: `run --loop` has not finished a pass")
    return judge(heartbeat, max_age=max_age, now=now)


def check_worker_health(settings: Settings, *, max_age: float | None = None) -> Health:
    """The verdict on this worker's heartbeat (CROSSPOSTER_WORKER_ID) in the state database."""
    from crossposter.storage import open_read_only

    named = os.environ.get(WORKER_VARIABLE)
    with open_read_only(settings) as state:
        if named:
            worker, heartbeat = named, state.heartbeat(named)
        else:
            # An unnamed loop is host-pid, and this check runs as another process: the
            # newest heartbeat of this host's workers is the loop's (one a container).
            found = state.newest_heartbeat(f"{socket.gethostname()}-")
            worker, heartbeat = found if found else (f"{socket.gethostname()}-*", None)
    if heartbeat is None:
        return Health(
            False,
            f"no heartbeat of worker {worker} in the state database: its `run --loop` has "
            f"not finished a pass (is {WORKER_VARIABLE} the same as the loop's?)",
        )
    return judge(heartbeat, max_age=max_age)


def judge(
    heartbeat: Heartbeat, *, max_age: float | None = None, now: datetime | None = None
) -> Health:
    """The verdict on a heartbeat, wherever it was kept."""
    now = now or datetime.now(UTC)
    limit = timedelta(seconds=max_age if max_age is not None else 2 * heartbeat.interval_seconds)
    last_run = (
        f"last pass {_ago(now - heartbeat.last_run_at)} ago exited {heartbeat.last_exit_code}"
    )
    if heartbeat.last_success_at is None:
        return Health(False, f"no pass has succeeded yet; {last_run}")
    age = now - heartbeat.last_success_at
    if age > limit:
        return Health(
            False,
            f"last successful pass {_ago(age)} ago, more than {_ago(limit)}; {last_run}",
        )
    return Health(True, f"last successful pass {_ago(age)} ago; {last_run}")


def _ago(delta: timedelta) -> str:
    return format_duration(max(1, round(delta.total_seconds())))


def _read(path: Path) -> Heartbeat | None:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(str(error)) from None
    try:
        success = document["last_success_at"]
        return Heartbeat(
            interval_seconds=float(document["interval_seconds"]),
            last_run_at=datetime.fromisoformat(document["last_run_at"]),
            last_exit_code=int(document["last_exit_code"]),
            last_success_at=datetime.fromisoformat(success) if success else None,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"not a crossposter heartbeat ({error})") from None


def _write(path: Path, heartbeat: Heartbeat) -> None:
    document = {
        "interval_seconds": heartbeat.interval_seconds,
        "last_run_at": heartbeat.last_run_at.isoformat(timespec="seconds"),
        "last_exit_code": heartbeat.last_exit_code,
        "last_success_at": heartbeat.last_success_at.isoformat(timespec="seconds")
        if heartbeat.last_success_at
        else None,
    }
    # Written aside and renamed, so a health check never reads half a file.
    write_atomically(path, json.dumps(document))
