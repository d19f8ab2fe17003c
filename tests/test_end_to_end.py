"""The whole tool, as a user runs it: `crossposter run --config FILE`, a feed on
loopback, the real Mastodon.py talking HTTP to a loopback Mastodon API."""

from __future__ import annotations

import sqlite3
import time

import pytest

from crossposter.cli import main

from support.blog import TOKEN, write_config
from support.blog import feed_of as any_feed_of
from support.pictures import png


def feed_of(*numbers: int, **extra) -> str:
    """The blog in French: each article titled and summed up in French, tagged Python."""
    return any_feed_of(
        *numbers,
        language="fr-FR",
        title="Article numéro {n}",
        description="<p>Le résumé de l&#8217;article {n}.</p>",
        categories=["Python"],
        **extra,
    )


@pytest.fixture
def token(token, monkeypatch):
    """The shared token, with posts retried for half a second at most."""
    monkeypatch.setenv("CROSSPOSTER_POST_RETRY_SECONDS", "0.5")
    return token


@pytest.fixture
def blog(tmp_path, api, feeds, token):
    """One feed with two articles, already seen by a first run."""
    feeds.set_feed("/feed", feed_of(1, 2))
    config = write_config(tmp_path, api, f"- {{name: blog, url: '{feeds.url('/feed')}'}}")
    assert main(["run", "--config", config]) == 0
    assert api.statuses == []
    return config


def statuses_posted(api) -> int:
    return api.count("POST", "/api/v1/statuses")


def test_first_run_records_the_feed_and_posts_nothing(blog, api):
    assert api.statuses == []
    assert statuses_posted(api) == 0


def test_a_new_article_is_announced_exactly_once(blog, api, feeds):
    feeds.set_feed("/feed", feed_of(1, 2, 3))
    assert main(["run", "--config", blog]) == 0
    [status] = api.statuses
    assert status["text"].startswith("Article numéro 3\n\nLe résumé de l’article 3.")
    assert "https://blog.example.org/3/" in status["text"]
    assert "#Python" in status["text"]
    assert status["language"] == "fr"
    assert status["idempotency_key"]

    before = len(feeds.requests)
    assert main(["run", "--config", blog]) == 0
    assert len(api.statuses) == 1
    assert statuses_posted(api) == 1
    _, _, headers = feeds.requests[before]
    assert headers.get("If-None-Match") == feeds.etag("/feed")


def test_an_unchanged_feed_costs_one_conditional_request_and_no_mastodon_call(blog, api, feeds):
    api.requests.clear()
    assert main(["run", "--config", blog]) == 0
    assert api.requests == []
    assert feeds.count("GET", "/feed") == 2


def test_a_posting_run_asks_the_instance_its_limits_and_the_posts_and_nothing_else(
    blog, api, feeds
):
    # The account has a picture to fetch: the run records where it is, the page fetches it.
    api.avatar = png(40, 40)
    feeds.set_feed("/feed", feed_of(1, 2, 3, 4))
    api.requests.clear()

    assert main(["run", "--config", blog]) == 0

    assert sorted((method, path) for method, path, _ in api.requests) == [
        ("GET", "/api/v2/instance"),
        ("POST", "/api/v1/statuses"),
        ("POST", "/api/v1/statuses"),
    ]


def test_dry_run_shows_the_toot_and_changes_nothing(blog, api, feeds, tmp_path, capsys):
    feeds.set_feed("/feed", feed_of(1, 2, 3))
    state = tmp_path / "state.sqlite3"
    before = state.read_bytes()
    api.requests.clear()
    capsys.readouterr()

    assert main(["run", "--dry-run", "--config", blog]) == 0

    out = capsys.readouterr().out
    assert "Article numéro 3" in out
    assert "https://blog.example.org/3/" in out
    assert "/500 characters" in out and "language fr" in out
    assert api.requests == []
    assert state.read_bytes() == before
    # The real run afterwards still announces it.
    assert main(["run", "--config", blog]) == 0
    assert len(api.statuses) == 1


def test_dry_run_without_a_token_or_a_state_file(tmp_path, api, feeds, monkeypatch, capsys):
    feeds.set_feed("/feed", feed_of(1, 2))
    config = write_config(
        tmp_path, api, f"- {{name: blog, url: '{feeds.url('/feed')}', backfill: 1}}"
    )
    assert main(["run", "--dry-run", "--config", config]) == 0
    assert "Article numéro 2" in capsys.readouterr().out
    assert not (tmp_path / "state.sqlite3").exists()
    assert api.requests == []


def test_a_preview_with_a_pending_post_changes_nothing_and_asks_the_instance_nothing(
    blog, api, feeds, tmp_path, capsys
):
    """A preview runs the same pass as a run: the pending post is retried, the new article
    announced, but on a copy of the state, and through an outbox that sends nothing."""
    feeds.set_feed("/feed", feed_of(1, 2, 3))
    api.fail_next("POST", "/api/v1/statuses", 503, times=1000)
    assert main(["run", "--config", blog]) == 75
    api.clear_faults()
    feeds.set_feed("/feed", feed_of(1, 2, 3, 4))
    state = tmp_path / "state.sqlite3"
    before = state.read_bytes()
    api.requests.clear()
    capsys.readouterr()

    assert main(["run", "--dry-run", "--config", blog]) == 0

    out = capsys.readouterr().out
    assert "=== blog: Article numéro 3" in out and "=== blog: Article numéro 4" in out
    assert "dry run: 2 toots would be posted" in out
    assert api.requests == []
    assert state.read_bytes() == before
    with sqlite3.connect(state) as db:
        assert db.execute("SELECT status FROM entries WHERE entry_id LIKE '%3%'").fetchall() == [
            ("pending",)
        ]


def test_a_preview_works_while_a_run_holds_the_state(blog, api, feeds, tmp_path, capsys):
    from crossposter.state import SqliteState

    feeds.set_feed("/feed", feed_of(1, 2, 3))
    state = tmp_path / "state.sqlite3"
    with SqliteState.open(state) as running, running.batch():
        # The run holds the lock and has written something it has not committed yet.
        running.record_fetch("blog", "https://elsewhere.example/feed", "ok")
        capsys.readouterr()
        assert main(["run", "--dry-run", "--config", blog]) == 0
    assert "Article numéro 3" in capsys.readouterr().out
    assert api.statuses == []


def test_backfill_announces_the_newest_entries_oldest_first(tmp_path, api, feeds, token):
    feeds.set_feed("/feed", feed_of(1, 2, 3, 4))
    config = write_config(
        tmp_path, api, f"- {{name: blog, url: '{feeds.url('/feed')}', backfill: 2}}"
    )
    assert main(["run", "--config", config]) == 0
    assert [s["text"].split("\n")[0] for s in api.statuses] == [
        "Article numéro 3",
        "Article numéro 4",
    ]


def test_a_flood_drains_over_several_runs(blog, api, feeds):
    feeds.set_feed("/feed", feed_of(*range(1, 9)))
    assert main(["run", "--config", blog]) == 0
    assert len(api.statuses) == 3
    # The rest must not hide behind a 304: validators wait until everything is handled.
    assert main(["run", "--config", blog]) == 0
    assert len(api.statuses) == 6
    assert main(["run", "--config", blog]) == 0
    assert [s["text"].split("\n")[0][-1] for s in api.statuses] == list("345678")


def test_a_broken_feed_does_not_stop_the_others(tmp_path, api, feeds, token, caplog):
    feeds.set_feed("/good", feed_of(1))
    feeds.set_feed("/html", "<!DOCTYPE html><html><body>Blog</body></html>", "text/html")
    config = write_config(
        tmp_path,
        api,
        f"""
        - {{name: missing, url: '{feeds.url("/missing")}'}}
        - {{name: html, url: '{feeds.url("/html")}'}}
        - {{name: good, url: '{feeds.url("/good")}'}}
        """,
    )
    assert main(["run", "--config", config]) == 1
    feeds.set_feed("/good", feed_of(1, 2))
    caplog.clear()
    assert main(["run", "--config", config]) == 1
    assert len(api.statuses) == 1
    messages = "\n".join(record.getMessage() for record in caplog.records)
    assert "feed missing" in messages and "404" in messages
    assert "feed html" in messages and "HTML page" in messages


def test_a_server_error_on_a_feed_is_temporary(tmp_path, api, feeds, token):
    feeds.set_feed("/feed", feed_of(1))
    feeds.set_status("/feed", 503)
    config = write_config(tmp_path, api, f"- {{name: blog, url: '{feeds.url('/feed')}'}}")
    assert main(["run", "--config", config]) == 75


def test_a_second_run_while_the_first_holds_the_state_exits_75(blog, tmp_path, caplog):
    from crossposter.state import SqliteState

    with SqliteState.open(tmp_path / "state.sqlite3"):
        assert main(["run", "--config", blog]) == 75
    assert "another crossposter run" in caplog.text


def test_bad_configuration_exits_2_naming_the_key(tmp_path, api, capsys, caplog):
    config = write_config(tmp_path, api, "- {name: blog, url: x.xml, bakfill: 1}")
    assert main(["run", "--config", config]) == 2
    assert "bakfill" in caplog.text and "feeds.yaml" in caplog.text


def test_a_real_run_without_a_token_is_a_configuration_error(tmp_path, api, feeds, caplog):
    feeds.set_feed("/feed", feed_of(1))
    config = write_config(tmp_path, api, f"- {{name: blog, url: '{feeds.url('/feed')}'}}")
    assert main(["run", "--config", config]) == 2
    assert "CROSSPOSTER_ACCESS_TOKEN" in caplog.text


def test_a_refused_token_marks_nothing_posted(blog, api, feeds, monkeypatch, caplog, tmp_path):
    monkeypatch.setenv("CROSSPOSTER_ACCESS_TOKEN", "revoked-sekret")
    feeds.set_feed("/feed", feed_of(1, 2, 3))
    assert main(["run", "--config", blog]) == 1
    assert api.statuses == []
    assert "CROSSPOSTER_ACCESS_TOKEN" in caplog.text
    assert "revoked-sekret" not in caplog.text
    monkeypatch.setenv("CROSSPOSTER_ACCESS_TOKEN", TOKEN)
    assert main(["run", "--config", blog]) == 0
    assert len(api.statuses) == 1


def test_a_rejected_toot_is_marked_failed_and_not_retried_every_run(blog, api, feeds, tmp_path):
    feeds.set_feed("/feed", feed_of(1, 2, 3))
    api.fail_next("POST", "/api/v1/statuses", 422, message="Validation failed: Text is invalid")
    assert main(["run", "--config", blog]) == 1
    assert main(["run", "--config", blog]) == 0
    assert api.statuses == []
    db = sqlite3.connect(tmp_path / "state.sqlite3")
    [(status, reason)] = db.execute(
        "SELECT status, reason FROM entries WHERE entry_id LIKE '%p=3'"
    ).fetchall()
    assert status == "failed" and "Text is invalid" in reason


def test_a_temporary_failure_leaves_the_post_pending_for_the_next_run(blog, api, feeds):
    feeds.set_feed("/feed", feed_of(1, 2, 3))
    api.fail_next("POST", "/api/v1/statuses", 502, times=50)
    assert main(["run", "--config", blog]) == 75
    assert api.statuses == []
    api.clear_faults()
    assert main(["run", "--config", blog]) == 0
    assert main(["run", "--config", blog]) == 0
    assert len(api.statuses) == 1


def test_a_lost_answer_is_retried_with_the_same_key_and_posts_once(blog, api, feeds):
    feeds.set_feed("/feed", feed_of(1, 2, 3))
    api.fail_next("POST", "/api/v1/statuses", "drop_after_create")
    assert main(["run", "--config", blog]) == 0
    assert len(api.statuses) == 1
    assert statuses_posted(api) == 2


def test_a_distant_rate_limit_stops_posting_at_once(blog, api, feeds):
    feeds.set_feed("/feed", feed_of(1, 2, 3, 4))
    api.fail_next("POST", "/api/v1/statuses", "rate_limit", reset_in=3 * 3600)
    started = time.monotonic()
    assert main(["run", "--config", blog]) == 75
    assert time.monotonic() - started < 5
    assert api.statuses == []
    # Later runs wait for the reset recorded in the state.
    assert main(["run", "--config", blog]) == 75
    assert api.count("POST", "/api/v1/statuses") == 1


def test_the_demo_previews_toots_with_no_token_and_no_network(capsys):
    from conftest import EXAMPLES

    assert main(["run", "--dry-run", "--config", str(EXAMPLES / "demo.yaml")]) == 0
    out = capsys.readouterr().out
    assert "InfiniTime 2.0 : l’été des nouveautés" in out
    assert "https://codingfield.example/blog/2026/11/infinitime-2-0/" in out
    assert "#DéveloppementWeb" in out and "#Cpp" in out
    assert "Continuer la lecture" not in out and "&#8217;" not in out
    assert "3 toots would be posted" in out
    assert not (EXAMPLES / "demo-state.sqlite3").exists()


def test_a_permanent_redirect_is_logged_so_the_url_can_be_updated(blog, api, feeds, caplog):
    feeds.set_feed("/new-feed", feed_of(1, 2, 3))
    feeds.set_redirect("/feed", "/new-feed", code=301)
    assert main(["run", "--config", blog]) == 0
    assert len(api.statuses) == 1
    [moved] = [r for r in caplog.records if "moved permanently" in r.getMessage()]
    assert moved.levelname == "WARNING"
    assert "feed blog" in moved.getMessage() and feeds.url("/new-feed") in moved.getMessage()


def test_a_gone_feed_is_reported(blog, api, feeds, caplog):
    feeds.set_status("/feed", 410)
    assert main(["run", "--config", blog]) == 1
    [line] = [r.getMessage() for r in caplog.records if "feed blog" in r.getMessage()]
    assert "410" in line and "gone for good" in line


@pytest.mark.parametrize("code", [403, 422])
def test_a_forbidden_or_invalid_toot_is_failed_with_the_servers_reason(
    blog, api, feeds, tmp_path, caplog, code
):
    feeds.set_feed("/feed", feed_of(1, 2, 3))
    api.fail_next("POST", "/api/v1/statuses", code, message="Nope, said the server")
    assert main(["run", "--config", blog]) == 1
    assert "Nope, said the server" in caplog.text
    assert main(["run", "--config", blog]) == 0
    assert statuses_posted(api) == 1, "a refused toot is not sent again on every run"
    db = sqlite3.connect(tmp_path / "state.sqlite3")
    [(status, reason)] = db.execute("SELECT status, reason FROM entries WHERE reason IS NOT NULL")
    assert status == "failed" and f"HTTP {code}" in reason


def test_the_instance_limits_are_asked_only_when_posting_and_then_kept_for_a_day(
    blog, api, feeds, tmp_path
):
    assert api.count("GET", "/api/v2/instance") == 0, "nothing to post, nothing asked"
    feeds.set_feed("/feed", feed_of(1, 2, 3))
    assert main(["run", "--config", blog]) == 0
    assert api.count("GET", "/api/v2/instance") == 1
    feeds.set_feed("/feed", feed_of(1, 2, 3, 4))
    assert main(["run", "--config", blog]) == 0
    assert api.count("GET", "/api/v2/instance") == 1, "cached in the state"
    db = sqlite3.connect(tmp_path / "state.sqlite3")
    with db:
        db.execute("UPDATE instances SET fetched_at = '20000101T000000Z'")
    feeds.set_feed("/feed", feed_of(1, 2, 3, 4, 5))
    assert main(["run", "--config", blog]) == 0
    assert api.count("GET", "/api/v2/instance") == 2, "asked again a day later"
    assert len(api.statuses) == 3


def test_default_logging_names_each_announcement_and_sums_up_each_feed(
    blog, api, feeds, capsys
):
    feeds.set_feed("/feed", feed_of(1, 2, 3, 4))
    capsys.readouterr()
    assert main(["run", "--config", blog]) == 0
    first, second = api.statuses
    assert capsys.readouterr().err.splitlines() == [
        f"INFO feed blog: announced 'Article numéro 3' → {first['url']}",
        f"INFO feed blog: announced 'Article numéro 4' → {second['url']}",
        "INFO feed blog: new=2 posted=2 skipped=0 deferred=0",
    ]


def test_a_preview_logs_no_announcement_since_nothing_went_out(blog, api, feeds, capsys):
    feeds.set_feed("/feed", feed_of(1, 2, 3, 4))
    capsys.readouterr()
    assert main(["run", "--dry-run", "--config", blog]) == 0
    err = capsys.readouterr().err
    assert "announced" not in err
    assert "INFO feed blog: new=2 posted=0 skipped=0 deferred=0" in err
    assert api.statuses == []


@pytest.mark.parametrize("bad_token", ["sek\nret-token", "sekret-token\x7f", "sekret\u2019token"])
def test_a_token_that_cannot_be_sent_is_refused_without_showing_it(
    blog, api, feeds, monkeypatch, capsys, bad_token
):
    monkeypatch.setenv("CROSSPOSTER_ACCESS_TOKEN", bad_token)
    feeds.set_feed("/feed", feed_of(1, 2, 3))
    capsys.readouterr()
    assert main(["run", "-v", "--config", blog]) == 2
    out, err = capsys.readouterr()
    assert "CROSSPOSTER_ACCESS_TOKEN" in err
    assert "ret-token" not in out + err and "sekret" not in out + err
    assert api.statuses == []


def test_a_token_with_a_trailing_line_break_is_used_as_the_token(blog, api, feeds, monkeypatch):
    """A Kubernetes secret written with `echo` ends with a newline."""
    monkeypatch.setenv("CROSSPOSTER_ACCESS_TOKEN", f"{TOKEN}\n")
    feeds.set_feed("/feed", feed_of(1, 2, 3))
    assert main(["run", "--config", blog]) == 0
    assert len(api.statuses) == 1


def test_the_token_never_appears_in_verbose_logs_of_a_run_that_posts(blog, api, feeds):
    """Only the crossposter logger is set up: requests, urllib3 and Mastodon.py stay silent,
    so no Authorization header can be written, even with -v; nor in a retried error."""
    import os
    import subprocess
    import sys

    feeds.set_feed("/feed", feed_of(1, 2, 3))
    api.fail_next("POST", "/api/v1/statuses", 502, times=2)
    done = subprocess.run(
        [sys.executable, "-m", "crossposter", "run", "-v", "--config", blog],
        capture_output=True,
        text=True,
        env={**os.environ, "CROSSPOSTER_ACCESS_TOKEN": TOKEN},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "DEBUG" in done.stderr and "posted" in done.stderr
    assert TOKEN not in done.stdout + done.stderr
    assert "Authorization" not in done.stderr and "Bearer" not in done.stderr


def test_a_backfilled_first_run_does_not_suggest_the_backfill_it_already_has(
    tmp_path, api, feeds, token, caplog
):
    feeds.set_feed("/feed", feed_of(1, 2, 3))
    config = write_config(
        tmp_path, api, f"- {{name: blog, url: '{feeds.url('/feed')}', backfill: 2}}"
    )
    assert main(["run", "--config", config]) == 0
    assert "first run: 1 entry already there recorded, not announced" in caplog.text
    assert "`backfill: N`" not in caplog.text


def test_a_first_run_says_it_recorded_the_feed_rather_than_posting(
    tmp_path, api, feeds, token, caplog
):
    feeds.set_feed("/feed", feed_of(1, 2, 3))
    config = write_config(tmp_path, api, f"- {{name: blog, url: '{feeds.url('/feed')}'}}")
    assert main(["run", "--config", config]) == 0
    assert "first run: 3 entries already there recorded, not announced" in caplog.text
    caplog.clear()
    assert main(["run", "--config", config]) == 0
    assert "first run" not in caplog.text
