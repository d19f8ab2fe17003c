"""A preview (`run --dry-run`) changes nothing, and its every line says so: what a run
would record, announce or try again is told in the conditional."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from test_flood_guard import two_feeds

from crossposter.cli import main

from support import blog
from support.blog import write_config
from support.feed_server import FeedServer
from support.feeds import rss


@pytest.fixture
def logged(caplog):
    caplog.set_level(logging.INFO, logger="crossposter")
    return caplog


def preview(config: str, logged) -> str:
    logged.clear()
    assert main(["run", "--dry-run", "--config", config]) == 0
    return logged.text


def test_a_flood_previewed_would_be_recorded(tmp_path, api, feeds, token, logged):
    feeds.set_feed("/feed", blog.feed_of(*range(1, 6)))
    config = write_config(tmp_path, api, f"- {{name: blog, url: '{feeds.url('/feed')}'}}")
    assert main(["run", "--config", config]) == 0
    feeds.set_feed("/feed", blog.feed_of(*range(1, 21)))

    said = preview(config, logged)
    assert "none would be announced, all would be recorded as seen" in said
    assert "none announced" not in said and "all recorded" not in said


def test_a_link_already_announced_previewed_would_be_recorded(
    tmp_path, api, feeds, token, logged
):
    config = two_feeds(tmp_path, api, feeds)
    feeds.set_feed("/a", blog.feed_of(1, 2))
    feeds.set_feed("/b", rss([blog.article(2, guid="b-2"), blog.article(1, guid="b-1")]))

    said = preview(config, logged)
    assert "was already announced on this account; would be recorded, not announced" in said
    assert "; recorded, not announced" not in said


def test_a_failed_entry_previewed_after_a_settings_change_would_be_tried_again(
    tmp_path, api, feeds, token, logged
):
    feeds.set_feed("/feed", blog.feed_of(1))
    line = f"- {{name: blog, url: '{feeds.url('/feed')}'"
    config = write_config(tmp_path, api, line + "}")
    assert main(["run", "--config", config]) == 0
    feeds.set_feed("/feed", blog.feed_of(1, 2))
    api.fail_next("POST", "/api/v1/statuses", 422, message="Validation failed")
    assert main(["run", "--config", config]) == 1
    write_config(tmp_path, api, line + ", hashtags: [blog]}")

    said = preview(config, logged)
    assert "its settings changed; 1 failed entry would be tried again" in said


def test_a_preview_uses_the_limits_a_run_stored_saying_how_old_and_check_stores_none(
    tmp_path, capsys, token
):
    import sqlite3

    from support.mastodon_api import MastodonAPI

    with MastodonAPI(max_characters=1000) as api, FeedServer() as feeds:
        # Links on the loopback server: check reads the newest article's page.
        link = feeds.url("/{n}/")
        feeds.set_feed("/feed", blog.feed_of(1, link=link))
        config = write_config(
            tmp_path, api, f"- {{name: blog, url: '{feeds.url('/feed')}', backfill: 1}}"
        )
        # check asks the instance, and stores nothing of what it says.
        assert main(["check", "--config", config]) == 0
        capsys.readouterr()
        assert main(["run", "--dry-run", "--config", config]) == 0
        assert "(Mastodon's defaults: no run has stored the instance's own yet)" in (
            capsys.readouterr().out
        )
        assert main(["run", "--config", config]) == 0
        # Three days later: a run would ask again; a preview asks nothing and says how old.
        with sqlite3.connect(tmp_path / "state.sqlite3") as db:
            long_ago = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y%m%dT%H%M%SZ")
            db.execute("UPDATE instances SET fetched_at = ?", (long_ago,))
        feeds.set_feed("/feed", blog.feed_of(1, 2, link=link))
        capsys.readouterr()
        assert main(["run", "--dry-run", "--config", config]) == 0
        shown = capsys.readouterr().out
        assert "limits: 1000 characters, each URL counting 23 " in shown
        assert "(as the instance told a run 3 d" in shown
