"""`run --loop` runs, sleeps, runs again until SIGTERM, leaving a heartbeat that
`crossposter health` reads: healthy while a pass succeeded within twice the interval."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from crossposter.cli import main
from crossposter.duration import format_duration, parse_duration
from crossposter.errors import ConfigError, StateLocked
from crossposter.health import check_health, record_pass
from crossposter.loop import run_loop
from crossposter.signals import StopRequest

from support.feed_server import FeedServer
from support.feeds import rss
from support.mastodon_api import MastodonAPI
from support.stopping import terminate_when_exists

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class RecordingStop(StopRequest):
    """A stop request whose waits return at once, remembering how long they would have been."""

    def __init__(self):
        super().__init__()
        self.waits: list[float] = []

    def sleep(self, seconds):
        self.waits.append(seconds)


def passes_then_stop(stop, exit_codes):
    codes = iter(exit_codes)
    calls = []

    def run_pass():
        calls.append(len(calls) + 1)
        code = next(codes)
        if len(calls) == len(exit_codes):
            stop.request("test")
        if isinstance(code, Exception):
            raise code
        return code

    return run_pass, calls


# -- the loop ---------------------------------------------------------------------


def test_the_loop_runs_a_pass_every_interval_plus_a_little_jitter(tmp_path):
    stop = RecordingStop()
    run_pass, calls = passes_then_stop(stop, [0, 0, 0])
    run_loop(
        run_pass,
        interval=900,
        stop=stop,
        heartbeat=tmp_path / "hb",
        jitter=lambda interval: interval * 0.05,
    )
    assert calls == [1, 2, 3]
    assert stop.waits == [945, 945]


def test_the_default_jitter_is_small_and_never_shortens_the_interval(tmp_path):
    stop = RecordingStop()
    run_pass, _ = passes_then_stop(stop, [0] * 20)
    run_loop(run_pass, interval=900, stop=stop, heartbeat=tmp_path / "hb")
    assert all(900 <= wait <= 960 for wait in stop.waits)
    assert len(set(stop.waits)) > 1


def test_a_stop_during_a_pass_ends_the_loop_without_sleeping(tmp_path):
    stop = RecordingStop()
    run_pass, calls = passes_then_stop(stop, [0])
    run_loop(run_pass, interval=900, stop=stop, heartbeat=tmp_path / "hb")
    assert calls == [1]
    assert stop.waits == []
    assert check_health(tmp_path / "hb").healthy


def test_failed_passes_do_not_end_the_loop_and_are_recorded(tmp_path):
    stop = RecordingStop()
    run_pass, calls = passes_then_stop(stop, [0, 75, StateLocked("another run holds it"), 1])
    run_loop(run_pass, interval=60, stop=stop, heartbeat=tmp_path / "hb")
    assert calls == [1, 2, 3, 4]
    heartbeat = json.loads((tmp_path / "hb").read_text())
    assert heartbeat["last_exit_code"] == 1
    assert heartbeat["last_success_at"] is not None
    assert heartbeat["interval_seconds"] == 60


def test_a_configuration_error_ends_the_loop(tmp_path):
    stop = RecordingStop()
    run_pass, _ = passes_then_stop(stop, [ConfigError("no access token")])
    with pytest.raises(ConfigError):
        run_loop(run_pass, interval=60, stop=stop, heartbeat=tmp_path / "hb")


# -- health -----------------------------------------------------------------------


def test_healthy_while_the_last_success_is_within_twice_the_interval(tmp_path):
    path = tmp_path / "hb"
    record_pass(path, interval_seconds=900, exit_code=0, at=NOW)
    assert check_health(path, now=NOW + timedelta(minutes=29)).healthy
    late = check_health(path, now=NOW + timedelta(minutes=31))
    assert not late.healthy
    assert "last successful pass 31 min ago, more than 30 min" in late.message


def test_failing_passes_keep_the_time_of_the_last_success(tmp_path):
    path = tmp_path / "hb"
    record_pass(path, interval_seconds=900, exit_code=0, at=NOW)
    record_pass(path, interval_seconds=900, exit_code=75, at=NOW + timedelta(minutes=15))
    record_pass(path, interval_seconds=900, exit_code=75, at=NOW + timedelta(minutes=30))
    health = check_health(path, now=NOW + timedelta(minutes=31))
    assert not health.healthy
    assert "last pass 1 min ago exited 75" in health.message


def test_max_age_overrides_twice_the_interval(tmp_path):
    path = tmp_path / "hb"
    record_pass(path, interval_seconds=900, exit_code=0, at=NOW)
    assert check_health(path, max_age=7200, now=NOW + timedelta(hours=1)).healthy
    assert not check_health(path, max_age=60, now=NOW + timedelta(minutes=2)).healthy


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "has not finished a pass"),
        ("{not json", "unreadable"),
        ('{"interval_seconds": 60}', "not a crossposter heartbeat"),
    ],
)
def test_no_or_a_broken_heartbeat_is_unhealthy(tmp_path, content, expected):
    path = tmp_path / "hb"
    if content is not None:
        path.write_text(content)
    health = check_health(path)
    assert not health.healthy
    assert expected in health.message


def test_no_success_yet_is_unhealthy_even_right_after_a_pass(tmp_path):
    path = tmp_path / "hb"
    record_pass(path, interval_seconds=900, exit_code=1, at=NOW)
    health = check_health(path, now=NOW)
    assert not health.healthy
    assert "no pass has succeeded yet" in health.message


# -- durations --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("1h", 3600), ("1h30m", 5400), ("2d", 172800), ("90", 90)],
)
def test_durations_are_written_the_usual_way(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (2.5, "2.5 s"),
        (45, "45 s"),
        (45.4, "45 s"),
        (60, "1 min"),
        (900, "15 min"),
        (903.6, "15 min 4 s"),
        (3600, "1 h"),
        (5400, "1 h 30 min"),
        (5400 + 59, "1 h 30 min"),
        (2 * 86400 + 3 * 3600, "2 d 3 h"),
        (2 * 86400 + 3 * 3600 + 4 * 60 + 5, "2 d 3 h"),
        (86400 + 5, "1 d 5 s"),
    ],
)
def test_durations_are_said_back_in_their_two_largest_units(seconds, words):
    assert format_duration(seconds) == words


@pytest.mark.parametrize("text", ["", "soon", "15x", "m15", "0s", "-1m", "1h 30m"])
def test_nonsense_durations_are_refused(text):
    with pytest.raises(ValueError):
        parse_duration(text)


# -- the command line -------------------------------------------------------------


@pytest.fixture
def loopback(tmp_path, monkeypatch):
    with MastodonAPI() as api, FeedServer() as feeds:
        item = {"title": "Bonjour", "link": "https://blog.example.org/1/", "guid": "p1"}
        feeds.set_feed("/feed", rss([item], language="fr"))
        config = tmp_path / "feeds.yaml"
        (tmp_path / "data").mkdir()
        config.write_text(
            f"instance: {api.base_url}\nstate_file: data/state.sqlite3\n"
            f"feeds:\n  - {{name: blog, url: '{feeds.url('/feed')}', backfill: 1}}\n"
        )
        monkeypatch.setenv("CROSSPOSTER_ACCESS_TOKEN", "test-token")
        yield api, str(config)


def test_run_loop_posts_writes_the_heartbeat_and_stops_on_sigterm(loopback, tmp_path, capsys):
    api, config = loopback
    heartbeat = tmp_path / "data" / "state.sqlite3.heartbeat"
    watcher = terminate_when_exists(heartbeat)

    assert main(["run", "--loop", "--interval", "1h", "--config", config]) == 0

    watcher.join()
    assert api.status_texts() and "Bonjour" in api.status_texts()[0]
    assert json.loads(heartbeat.read_text())["interval_seconds"] == 3600
    assert "stopping: SIGTERM" in capsys.readouterr().err
    assert main(["health", "--config", config]) == 0


def test_health_fails_before_the_loop_ever_ran(loopback, capsys):
    _, config = loopback
    assert main(["health", "--config", config]) == 1
    assert "has not finished a pass" in capsys.readouterr().err


def test_heartbeat_file_setting_moves_the_heartbeat(loopback, tmp_path):
    _, config = loopback
    with open(config, "a") as file:
        file.write("heartbeat_file: beat.json\n")
    watcher = terminate_when_exists(tmp_path / "beat.json")
    assert main(["run", "--loop", "--config", config]) == 0
    watcher.join()
    assert main(["health", "--config", config]) == 0


def test_loop_and_dry_run_do_not_mix(loopback, capsys):
    _, config = loopback
    assert main(["run", "--loop", "--dry-run", "--config", config]) == 2
    assert "--loop cannot be combined with --dry-run" in capsys.readouterr().err


def test_a_bad_interval_is_a_usage_error(loopback, capsys):
    _, config = loopback
    with pytest.raises(SystemExit) as exited:
        main(["run", "--loop", "--interval", "soon", "--config", config])
    assert exited.value.code == 2
    assert "not a duration" in capsys.readouterr().err
