"""A failure that lasts reaches a person: `alert_after` since the last success, then an
ERROR on every run and exit 1; back to normal, one INFO line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crossposter.alerts import FEED, Failing

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
SIX_HOURS = 6 * 3600


@pytest.mark.parametrize(
    ("failing_for", "overdue"),
    [
        (timedelta(0), False),
        (timedelta(hours=5, minutes=59), False),
        (timedelta(hours=6), False),
        (timedelta(hours=6, seconds=1), True),
        (timedelta(days=3), True),
    ],
)
def test_a_failure_is_overdue_only_past_alert_after(failing_for, overdue):
    failing = Failing(FEED, "blog", T0, "timed out after 20 s")
    assert failing.overdue(T0 + failing_for, SIX_HOURS) is overdue


def test_the_alert_says_since_when_and_the_last_error():
    failing = Failing(FEED, "blog", T0, "connection failed: certificate has expired")
    line = failing.alert(T0 + timedelta(hours=7, minutes=30))
    assert line == (
        "feed blog: failing since 2026-12-01 08:00 UTC (7 h 30 min); "
        "last error: connection failed: certificate has expired"
    )
    assert failing.recovered(T0 + timedelta(days=1)) == (
        "feed blog: recovered; it had been failing since 2026-12-01 08:00 UTC (1 d)"
    )
