"""Each new article becomes exactly one toot, whatever the Mastodon server does:
lost answers, 5xx, a concurrent key, rate limits, slow answers, a forgotten
Idempotency-Key. Driven through `crossposter run` against the loopback API."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from crossposter.cli import main

from support.blog import TOKEN, feed_of, write_config

HOUR_AND_A_BIT = 3601


@pytest.fixture
def blog(tmp_path, api, feeds, token):
    """A feed already seen by a first run; posts retried for half a second at most."""
    feeds.set_feed("/feed", feed_of(1))
    config = write_config(
        tmp_path,
        api,
        f"- {{name: blog, url: '{feeds.url('/feed')}'}}",
        post_retry_seconds=0.5,
        request_timeout=1,
    )
    assert main(["run", "--config", config]) == 0
    return config


def statuses_linking(api, n: int) -> list[dict]:
    return [s for s in api.statuses if f"https://blog.example.org/{n}/" in s["text"]]


def entry_statuses(tmp_path) -> dict[str, str]:
    db = sqlite3.connect(tmp_path / "state.sqlite3")
    return dict(db.execute("SELECT entry_id, status FROM entries").fetchall())


def the_pending_posts_are_old(tmp_path, seconds: float = HOUR_AND_A_BIT) -> None:
    """This machine's clock moves on as the server's does with api.advance()."""
    db = sqlite3.connect(tmp_path / "state.sqlite3")
    moment = (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat(timespec="seconds")
    with db:
        db.execute("UPDATE entries SET pending_since = ? WHERE status = 'pending'", (moment,))


def the_rate_limit_is_over(tmp_path) -> None:
    """As if the clock had passed the recorded reset (the server's fault is used up)."""
    db = sqlite3.connect(tmp_path / "state.sqlite3")
    with db:
        db.execute("DELETE FROM account_limits")


def test_an_answer_lost_after_the_status_was_created_is_posted_once(blog, api, feeds):
    feeds.set_feed("/feed", feed_of(1, 2, 3))
    api.fail_next("POST", "/api/v1/statuses", "drop_after_create")
    assert main(["run", "--config", blog]) == 0
    assert len(statuses_linking(api, 2)) == 1
    assert len(statuses_linking(api, 3)) == 1
    assert len(api.statuses) == 2


def test_server_errors_are_retried_within_the_run(blog, api, feeds, monkeypatch):
    # The backoff before the third attempt alone may reach 1.5 s: the budget must cover it
    # and two answers however slowly a loaded machine serves them.
    monkeypatch.setenv("CROSSPOSTER_POST_RETRY_SECONDS", "30")
    feeds.set_feed("/feed", feed_of(1, 2))
    api.fail_next("POST", "/api/v1/statuses", 502, times=2)
    assert main(["run", "--config", blog]) == 0
    assert len(statuses_linking(api, 2)) == 1
    assert api.count("POST", "/api/v1/statuses") == 3


def test_the_503_of_a_concurrent_key_is_transient(blog, api, feeds):
    feeds.set_feed("/feed", feed_of(1, 2))
    api.fail_next(
        "POST",
        "/api/v1/statuses",
        503,
        message="Another request with the same Idempotency-Key is in progress",
    )
    assert main(["run", "--config", blog]) == 0
    assert len(statuses_linking(api, 2)) == 1


def test_an_answer_slower_than_the_timeout_is_retried_with_the_same_key(
    blog, api, feeds, monkeypatch
):
    monkeypatch.setenv("CROSSPOSTER_POST_RETRY_SECONDS", "10")
    feeds.set_feed("/feed", feed_of(1, 2))
    api.fail_next("POST", "/api/v1/statuses", "delay", seconds=3, create=True)
    assert main(["run", "--config", blog]) == 0
    assert len(statuses_linking(api, 2)) == 1
    assert api.count("POST", "/api/v1/statuses") >= 2


def test_a_near_rate_limit_reset_is_waited_out(blog, api, feeds):
    feeds.set_feed("/feed", feed_of(1, 2))
    api.fail_next("POST", "/api/v1/statuses", "rate_limit", reset_in=1)
    assert main(["run", "--config", blog]) == 0
    assert len(statuses_linking(api, 2)) == 1


def test_a_distant_rate_limit_says_when_posting_resumes_and_keeps_the_queue(
    blog, api, feeds, tmp_path, caplog
):
    feeds.set_feed("/feed", feed_of(1, 2, 3))
    api.fail_next("POST", "/api/v1/statuses", "rate_limit", reset_in=2 * 3600)
    assert main(["run", "--config", blog]) == 75
    assert api.statuses == []
    reset = datetime.fromtimestamp(api.now() + 2 * 3600, UTC)
    assert f"posting resumes after {reset:%Y-%m-%dT%H}" in caplog.text
    assert api.count("POST", "/api/v1/statuses") == 1, "the second entry was not even tried"
    # The reset is in the state: the next run does not knock before it either.
    assert main(["run", "--config", blog]) == 75
    assert api.count("POST", "/api/v1/statuses") == 1
    the_rate_limit_is_over(tmp_path)
    assert main(["run", "--config", blog]) == 0
    assert [len(statuses_linking(api, n)) for n in (2, 3)] == [1, 1]


def test_a_crash_after_the_post_then_a_forgotten_key_still_gives_one_toot(
    blog, api, feeds, tmp_path
):
    feeds.set_feed("/feed", feed_of(1, 2))
    # Every answer is lost: the status exists, this run cannot know it.
    api.fail_next("POST", "/api/v1/statuses", "drop_after_create", times=100)
    assert main(["run", "--config", blog]) == 75
    assert len(api.statuses) == 1
    assert "pending" in entry_statuses(tmp_path).values()
    api.clear_faults()

    api.advance(HOUR_AND_A_BIT)
    the_pending_posts_are_old(tmp_path)
    api.fail_next("POST", "/api/v1/statuses", "forget_idempotency", times=100)
    posts_before = api.count("POST", "/api/v1/statuses")

    assert main(["run", "--config", blog]) == 0
    assert len(statuses_linking(api, 2)) == 1
    assert api.count("POST", "/api/v1/statuses") == posts_before
    assert entry_statuses(tmp_path)["https://blog.example.org/?p=2"] == "posted"


def test_an_old_pending_post_that_never_reached_the_server_is_posted(blog, api, feeds, tmp_path):
    feeds.set_feed("/feed", feed_of(1, 2))
    api.fail_next("POST", "/api/v1/statuses", 500, times=100)
    assert main(["run", "--config", blog]) == 75
    api.clear_faults()
    api.advance(HOUR_AND_A_BIT)
    the_pending_posts_are_old(tmp_path)

    assert main(["run", "--config", blog]) == 0
    assert len(statuses_linking(api, 2)) == 1


def test_the_lookup_finds_the_toot_beyond_the_first_page(blog, api, feeds, tmp_path):
    feeds.set_feed("/feed", feed_of(1, 2))
    api.fail_next("POST", "/api/v1/statuses", "drop_after_create", times=100)
    assert main(["run", "--config", blog]) == 75
    api.clear_faults()
    for n in range(60):
        api.add_status(f"Something else {n}")
    api.advance(HOUR_AND_A_BIT)
    the_pending_posts_are_old(tmp_path)
    api.fail_next("POST", "/api/v1/statuses", "forget_idempotency", times=100)

    assert main(["run", "--config", blog]) == 0
    assert len(statuses_linking(api, 2)) == 1


def test_an_old_pending_post_is_not_posted_blindly_when_the_lookup_is_refused(
    blog, api, feeds, tmp_path, caplog
):
    feeds.set_feed("/feed", feed_of(1, 2))
    api.fail_next("POST", "/api/v1/statuses", "drop_after_create", times=100)
    assert main(["run", "--config", blog]) == 75
    api.clear_faults()
    api.grant_token(TOKEN, "write:statuses")
    api.advance(HOUR_AND_A_BIT)
    the_pending_posts_are_old(tmp_path)
    api.fail_next("POST", "/api/v1/statuses", "forget_idempotency", times=100)

    assert main(["run", "--config", blog]) == 1
    assert len(api.statuses) == 1
    assert "read:statuses" in caplog.text
    assert entry_statuses(tmp_path)["https://blog.example.org/?p=2"] == "pending"


def test_a_recent_pending_post_is_retried_by_key_without_a_lookup(blog, api, feeds, tmp_path):
    feeds.set_feed("/feed", feed_of(1, 2))
    api.fail_next("POST", "/api/v1/statuses", "drop_after_create", times=100)
    assert main(["run", "--config", blog]) == 75
    api.clear_faults()
    api.requests.clear()

    assert main(["run", "--config", blog]) == 0
    assert len(api.statuses) == 1
    assert api.count("GET", "/api/v1/accounts/verify_credentials") == 0
