"""A failure that lasts reaches a person: `alert_after` since the last success, then an
ERROR on every run and exit 1; back to normal, one INFO line."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from crossposter.alerts import FEED, alert_line, overdue, recovered_line
from crossposter.cli import main
from crossposter.config import load_settings
from crossposter.models import Failing
from crossposter.pipeline import run
from crossposter.state import now_utc

from support.blog import feed_of, write_config

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
SIX_HOURS = 6 * 3600


@pytest.mark.parametrize(
    ("failing_for", "is_overdue"),
    [
        (timedelta(0), False),
        (timedelta(hours=5, minutes=59), False),
        (timedelta(hours=6), False),
        (timedelta(hours=6, seconds=1), True),
        (timedelta(days=3), True),
    ],
)
def test_a_failure_is_overdue_only_past_alert_after(failing_for, is_overdue):
    failing = Failing(FEED, "blog", T0, "timed out after 20 s")
    assert overdue(failing, T0 + failing_for, SIX_HOURS) is is_overdue


def test_the_alert_says_since_when_and_the_last_error():
    failing = Failing(FEED, "blog", T0, "connection failed: certificate has expired")
    line = alert_line(failing, T0 + timedelta(hours=7, minutes=30))
    assert line == (
        "feed blog: failing since 2026-12-01 08:00 UTC (7 h 30 min); "
        "last error: connection failed: certificate has expired"
    )
    assert recovered_line(failing, T0 + timedelta(days=1)) == (
        "feed blog: recovered; it had been failing since 2026-12-01 08:00 UTC (1 d)"
    )


# -- end to end: time injected ---------------------------------------------------------


def passing(config: str, at: datetime) -> int:
    """One run at `at` (the pass's clock), as cron starts it; its exit code."""
    return run(load_settings(config), clock=lambda: at).exit_code


def errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_feed_failing_past_alert_after_is_an_error_on_every_run_until_it_recovers(
    tmp_path, api, feeds, token, caplog, capsys, backend
):
    feeds.set_feed("/feed", feed_of(1))
    config = write_config(
        tmp_path, api, f"- {{name: blog, url: '{feeds.url('/feed')}'}}", **backend.settings
    )
    start = now_utc()
    assert passing(config, start) == 0
    feeds.set_status("/feed", 503)
    caplog.set_level(logging.INFO, logger="crossposter")

    assert passing(config, start + timedelta(minutes=15)) == 75
    assert passing(config, start + timedelta(hours=6)) == 75
    assert errors(caplog) == []

    assert passing(config, start + timedelta(hours=6, minutes=30)) == 1
    [alert] = errors(caplog)
    assert alert.startswith("feed blog: failing since ")
    assert "(6 h 15 min); last error: HTTP 503" in alert
    # While it lasts, every run says it again.
    caplog.clear()
    assert passing(config, start + timedelta(hours=7)) == 1
    assert len(errors(caplog)) == 1
    assert main(["state", "feeds", "--config", config]) == 0
    assert "failing since" in capsys.readouterr().out
    main(["health", "--config", config])
    assert "feed blog failing since " in caplog.text
    main(["check", "--config", config])
    [line] = [line for line in capsys.readouterr().out.splitlines() if "feed blog" in line]
    assert "note: the runs found it failing since " in line and "HTTP 503" in line

    feeds.clear_faults()
    feeds.set_feed("/feed", feed_of(1))
    caplog.clear()
    assert passing(config, start + timedelta(hours=8)) == 0
    [recovered] = [r.getMessage() for r in caplog.records if "recovered" in r.getMessage()]
    assert recovered.startswith("feed blog: recovered; it had been failing since")
    caplog.clear()
    assert passing(config, start + timedelta(hours=9)) == 0
    assert "recovered" not in caplog.text and errors(caplog) == []


def test_a_feed_may_set_its_own_alert_after_also_under_defaults(tmp_path, api, feeds, token):
    feeds.set_feed("/feed", feed_of(1))
    config = write_config(
        tmp_path, api, f"- {{name: blog, url: '{feeds.url('/feed')}'}}",
        defaults="{alert_after: 1h}",
    )
    start = now_utc()
    assert passing(config, start) == 0
    feeds.set_status("/feed", 503)
    assert passing(config, start + timedelta(minutes=10)) == 75
    assert passing(config, start + timedelta(minutes=75)) == 1


def test_an_account_failing_past_alert_after_is_an_error_then_recovers(
    tmp_path, api, feeds, token, caplog, monkeypatch
):
    monkeypatch.setenv("CROSSPOSTER_POST_RETRY_SECONDS", "0.2")
    feeds.set_feed("/feed", feed_of(1))
    config = write_config(tmp_path, api, f"- {{name: blog, url: '{feeds.url('/feed')}'}}")
    start = now_utc()
    assert passing(config, start) == 0
    feeds.set_feed("/feed", feed_of(1, 2))
    api.fail_next("POST", "/api/v1/statuses", 503, times=1000)
    caplog.set_level(logging.INFO, logger="crossposter")

    assert passing(config, start + timedelta(minutes=15)) == 75
    assert passing(config, start + timedelta(hours=7)) == 1
    [alert] = errors(caplog)
    assert alert.startswith("account default: failing since ")

    api.clear_faults()
    assert passing(config, start + timedelta(hours=8)) == 0
    assert len(api.statuses) == 1
    assert "account default: recovered" in caplog.text
