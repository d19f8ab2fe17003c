"""Failures that last: a feed or an account failing only temporarily for longer than
`alert_after` since its last success needs a person, so each run says so at ERROR level
(cron's `-q` mails it) and exits 1 instead of 75 while it lasts.

The state keeps, for each feed and account failing now, since when and the last error
(`models.Failing`; the functions here say, without I/O, what that means); `Alerts` keeps that
record up to date during a run and says what is overdue at its end.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from crossposter.duration import format_duration
from crossposter.errors import LeaseLost
from crossposter.models import Failing

log = logging.getLogger(__name__)

FEED = "feed"
ACCOUNT = "account"


def overdue(failing: Failing, now: datetime, alert_after: float) -> bool:
    """Whether it has failed for longer than `alert_after` seconds: a person must know."""
    return (now - failing.since).total_seconds() > alert_after


def alert_line(failing: Failing, now: datetime) -> str:
    """The ERROR line a run logs while it is overdue."""
    return (
        f"{failing.kind} {failing.name}: failing since {_moment(failing.since)} "
        f"({format_duration(_age(failing, now))}); last error: {failing.last_error}"
    )


def recovered_line(failing: Failing, now: datetime) -> str:
    """The INFO line of the run that finds it working again."""
    return (
        f"{failing.kind} {failing.name}: recovered; it had been failing since "
        f"{_moment(failing.since)} ({format_duration(_age(failing, now))})"
    )


def describe(failing: Failing) -> str:
    """How `state feeds`, `check` and `health` show it."""
    return f"failing since {_moment(failing.since)}: {failing.last_error}"


def _age(failing: Failing, now: datetime) -> float:
    return max((now - failing.since).total_seconds(), 0.0)


def _moment(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


class Alerts:
    """One run's bookkeeping of what failed and what worked again, against the state.

    The state keeps one `Failing` per feed or account failing now (`record_failure`
    returns it, with since when; `record_success` clears it and returns what it was).
    At the end of the run, `overdue` gives the ERROR lines of those failing for longer
    than their `alert_after`.
    """

    def __init__(
        self, state: Any, settings: Any, clock: Callable[[], datetime], *, preview: bool
    ) -> None:
        self._state = state
        self._settings = settings
        self._clock = clock
        # A preview records nothing: it neither starts nor ends a failure.
        self._preview = preview
        self._failing: dict[tuple[str, str], Failing] = {}

    def failed(self, kind: str, name: str, error: str) -> None:
        if not self._preview:
            failing = self._state.record_failure(kind, name, error, self._clock())
            self._failing[(kind, name)] = failing

    def feed_failed(self, feed: Any, report: Any, error: Exception, stopping: bool) -> None:
        """A feed failed, said in its report with its address (as `check` gives it: a 404
        or a refused connection is fixed there); only a temporary failure counts for
        alert_after, and a stop asked for is none, nor a lease lost (the feed changed
        hands: another process serves it)."""
        said = str(error) if feed.url in str(error) else f"{error} ({feed.url})"
        report.fail(error, said)
        changed_hands = isinstance(error, LeaseLost)
        if getattr(error, "temporary", False) and not stopping and not changed_hands:
            self.failed(FEED, feed.name, said)

    def sum_up(self, sessions: Iterable[Any]) -> list[str]:
        """At the pass's end: the accounts whose posts failed temporarily (`session.failing`)
        recorded, then the ERROR lines of what is overdue."""
        for session in sessions:
            if session.failing:
                self.failed(ACCOUNT, session.account.name, session.failing)
        return self.overdue()

    def worked(self, kind: str, name: str) -> None:
        """It works (again): a failure it had is cleared, with one INFO line."""
        if self._preview:
            return
        self._failing.pop((kind, name), None)
        cleared = self._state.record_success(kind, name)
        if cleared is not None:
            log.info("%s", recovered_line(cleared, self._clock()))

    def overdue(self) -> list[str]:
        """The failures of this run past their alert_after, each logged at ERROR."""
        now = self._clock()
        lines = [
            alert_line(failing, now)
            for (kind, name), failing in self._failing.items()
            if overdue(failing, now, self._alert_after(kind, name))
        ]
        for line in lines:
            # ERROR, so that cron's -q mails it on every run while it lasts.
            log.error("%s", line)
        return lines

    def _alert_after(self, kind: str, name: str) -> float:
        feed = self._settings.feed_named(name) if kind == FEED else None
        if feed is not None and feed.alert_after is not None:
            return feed.alert_after
        return self._settings.alert_after
