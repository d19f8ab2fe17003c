"""The machine misbehaves: a run killed with SIGKILL mid-post, stopped with
SIGTERM, or started three times at once still announces each article exactly
once. Each run here is a real `python -m crossposter run` process."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from crossposter.cli import main

from support.blog import feed_of, write_config

HOUR_AND_A_BIT = 3601
# Long enough that the killed run can only have been killed mid-request.
STUCK = 60


@pytest.fixture
def blog(tmp_path, api, feeds, token):
    feeds.set_feed("/feed", feed_of(1))
    config = write_config(
        tmp_path,
        api,
        f"- {{name: blog, url: '{feeds.url('/feed')}'}}",
        lock_timeout=60,
        request_timeout=STUCK * 2,
        post_retry_seconds=1,
    )
    assert main(["run", "--config", config]) == 0
    return config


def start_run(config: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "crossposter", "run", "--config", config],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting until {what}")
        time.sleep(0.02)


def statuses_linking(api, n: int) -> list[dict]:
    return [s for s in api.statuses if f"https://blog.example.org/{n}/" in s["text"]]


def entry_status(tmp_path, n: int) -> str | None:
    db = sqlite3.connect(tmp_path / "state.sqlite3")
    row = db.execute(
        "SELECT status FROM entries WHERE entry_id = ?", (f"https://blog.example.org/?p={n}",)
    ).fetchone()
    return row[0] if row else None


def killed_while_posting(config: str, api) -> None:
    """Run, and SIGKILL the run once the server has created the status it has not answered."""
    api.fail_next("POST", "/api/v1/statuses", "delay", seconds=STUCK, create=True)
    run = start_run(config)
    wait_until(lambda: len(api.statuses) == 1, "the server created the status")
    run.kill()
    run.wait()
    api.clear_faults()


def test_killed_mid_post_then_run_again_gives_one_toot(blog, api, feeds, tmp_path):
    feeds.set_feed("/feed", feed_of(1, 2))
    killed_while_posting(blog, api)
    assert entry_status(tmp_path, 2) == "pending"

    assert main(["run", "--config", blog]) == 0
    assert len(statuses_linking(api, 2)) == 1
    assert entry_status(tmp_path, 2) == "posted"


def test_killed_mid_post_then_run_after_the_key_expired_gives_one_toot(blog, api, feeds, tmp_path):
    feeds.set_feed("/feed", feed_of(1, 2))
    killed_while_posting(blog, api)

    api.advance(HOUR_AND_A_BIT)
    db = sqlite3.connect(tmp_path / "state.sqlite3")
    an_hour_ago = (datetime.now(UTC) - timedelta(seconds=HOUR_AND_A_BIT)).isoformat()
    with db:
        db.execute("UPDATE entries SET pending_since = ? WHERE status = 'pending'", (an_hour_ago,))
    api.fail_next("POST", "/api/v1/statuses", "forget_idempotency", times=10)

    assert main(["run", "--config", blog]) == 0
    assert len(statuses_linking(api, 2)) == 1
    assert entry_status(tmp_path, 2) == "posted"


def test_sigterm_lets_the_post_in_flight_finish_and_leaves_the_rest_for_later(
    blog, api, feeds, tmp_path
):
    feeds.set_feed("/feed", feed_of(1, 2, 3))
    api.fail_next("POST", "/api/v1/statuses", "delay", seconds=1, create=True)
    run = start_run(blog)
    wait_until(lambda: len(api.statuses) == 1, "the first post is in flight")
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=60)

    assert run.returncode == 75, err
    assert "Traceback" not in err
    assert "feed blog: new=2 posted=1 skipped=0 deferred=1" in err
    assert "WARNING stopped on request; 1 post waits for the next run" in err
    assert "ERROR" not in err, "a stop asked for is no error"
    assert entry_status(tmp_path, 2) == "posted", "the answer in flight was recorded"
    assert entry_status(tmp_path, 3) is None, "nothing new was started"
    assert len(api.statuses) == 1

    assert main(["run", "--config", blog]) == 0
    assert [len(statuses_linking(api, n)) for n in (2, 3)] == [1, 1]


def test_a_second_sigterm_leaves_at_once_and_nothing_is_lost(blog, api, feeds, tmp_path):
    feeds.set_feed("/feed", feed_of(1, 2))
    api.fail_next("POST", "/api/v1/statuses", "delay", seconds=STUCK, create=True)
    run = start_run(blog)
    wait_until(lambda: len(api.statuses) == 1, "the post is in flight")
    run.send_signal(signal.SIGTERM)
    wait_until(lambda: run.poll() is not None or _sent(run, signal.SIGTERM), "a second signal")
    run.wait(timeout=STUCK / 2)
    api.clear_faults()

    assert entry_status(tmp_path, 2) == "pending"
    assert main(["run", "--config", blog]) == 0
    assert len(statuses_linking(api, 2)) == 1


def _sent(process: subprocess.Popen, number: int) -> bool:
    # The first signal is handled by a thread; give it a moment, then send the second.
    time.sleep(0.2)
    process.send_signal(number)
    return True


def test_three_runs_at_once_post_each_article_once(blog, api, feeds):
    feeds.set_feed("/feed", feed_of(1, 2, 3, 4))
    runs = [start_run(blog) for _ in range(3)]
    results = [(run.wait(timeout=120), run.stderr.read()) for run in runs]
    for run in runs:
        run.stdout.close()
        run.stderr.close()

    assert [code for code, _ in results] == [0, 0, 0], results
    assert [len(statuses_linking(api, n)) for n in (2, 3, 4)] == [1, 1, 1]
    assert len(api.statuses) == 3
