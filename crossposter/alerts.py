"""Failures that last: a feed or an account failing only temporarily for longer than
`alert_after` since its last success needs a person, so each run says so at ERROR level
(cron's `-q` mails it) and exits 1 instead of 75 while it lasts.

The state keeps, for each feed and account failing now, since when and the last error
(`Failing`); what that means for a run is decided here, without I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crossposter.duration import format_duration

FEED = "feed"
ACCOUNT = "account"


@dataclass(frozen=True)
class Failing:
    """A feed or an account (`kind`) failing since `since`, the last time with `last_error`."""

    kind: str
    name: str
    since: datetime
    last_error: str

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"

    def overdue(self, now: datetime, alert_after: float) -> bool:
        """Whether it has failed for longer than `alert_after` seconds: a person must know."""
        return (now - self.since).total_seconds() > alert_after

    def alert(self, now: datetime) -> str:
        """The ERROR line a run logs while it is overdue."""
        return (
            f"{self.label}: failing since {_moment(self.since)} "
            f"({format_duration(_age(self, now))}); last error: {self.last_error}"
        )

    def recovered(self, now: datetime) -> str:
        """The INFO line of the run that finds it working again."""
        return (
            f"{self.label}: recovered; it had been failing since {_moment(self.since)} "
            f"({format_duration(_age(self, now))})"
        )

    def describe(self) -> str:
        """How `state feeds`, `check` and `health` show it."""
        return f"failing since {_moment(self.since)}: {self.last_error}"


def _age(failing: Failing, now: datetime) -> float:
    return max((now - failing.since).total_seconds(), 0.0)


def _moment(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")
