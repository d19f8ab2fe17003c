"""The way back to the blog: `retract`, `links`, links_file, replies_file and on_posted,
driven through the real Mastodon.py against the loopback API."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import sqlite3
import stat
import sys
import time

import pytest

from crossposter.after_posting.hooks import HookEvent, run_command
from crossposter.cli import main
from crossposter.state import SqliteState

from support.blog import TOKEN, feed_of, write_config

ISO_Z = re.compile(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")


def article_url(n: int) -> str:
    return f"https://blog.example.org/{n}/"


def guid(n: int) -> str:
    return f"https://blog.example.org/?p={n}"


def blog(tmp_path, api, feeds, *articles: int, extra: str = "", **settings) -> str:
    """A blog whose first run announced `articles` (backfill)."""
    feeds.set_feed("/feed", feed_of(*articles))
    feed = f"- {{name: blog, url: '{feeds.url('/feed')}', backfill: {len(articles)}{extra}}}"
    return write_config(tmp_path, api, feed, post_retry_seconds=0.2, **settings)


def links(config: str, capsys, *options: str) -> str:
    capsys.readouterr()
    assert main(["links", "--config", config, *options]) == 0
    return capsys.readouterr().out


# -- links ---------------------------------------------------------------------


def test_links_lists_each_article_with_its_toot_account_and_times(
    tmp_path, api, feeds, token, capsys, backend
):
    config = blog(tmp_path, api, feeds, 1, 2, **backend.settings)
    assert main(["run", "--config", config]) == 0

    document = json.loads(links(config, capsys))

    assert sorted(document) == [article_url(1), article_url(2)]
    (toot,) = document[article_url(2)]
    posted = next(s for s in api.statuses if "/2/" in s["text"])
    assert toot["feed"] == "blog"
    assert toot["entry_id"] == guid(2)
    assert toot["toot_id"] == posted["id"]
    assert toot["host"] == f"127.0.0.1:{api.port}"
    assert toot["username"] == "bot"
    assert toot["toot_url"] == posted["url"]
    assert toot["account"] == "default"
    assert toot["instance"] == api.base_url
    assert ISO_Z.match(toot["posted_at"])
    assert toot["edited_at"] is None
    assert toot["status"] == "posted"


def test_links_as_csv_has_a_header_and_one_row_per_toot(tmp_path, api, feeds, token, capsys):
    config = blog(tmp_path, api, feeds, 1, 2)
    assert main(["run", "--config", config]) == 0

    rows = list(csv.DictReader(io.StringIO(links(config, capsys, "--format", "csv"))))

    assert sorted(row["article_url"] for row in rows) == [article_url(1), article_url(2)]
    assert set(rows[0]) == {
        "article_url",
        "feed",
        "entry_id",
        "toot_id",
        "host",
        "username",
        "toot_url",
        "card",
        "account",
        "instance",
        "posted_at",
        "edited_at",
        "status",
    }
    assert {row["toot_url"] for row in rows} == {s["url"] for s in api.statuses}


def test_links_of_one_feed_only(tmp_path, api, feeds, token, capsys):
    config = blog(tmp_path, api, feeds, 1)
    assert main(["run", "--config", config]) == 0

    assert list(json.loads(links(config, capsys, "--feed", "blog"))) == [article_url(1)]


def test_links_of_a_configured_feed_that_announced_nothing_yet_is_empty(
    tmp_path, api, feeds, token, capsys
):
    config = blog(tmp_path, api, feeds, 1)

    assert json.loads(links(config, capsys, "--feed", "blog")) == {}


def test_links_of_a_feed_neither_configured_nor_in_the_state_is_a_usage_error(
    tmp_path, api, feeds, token, capsys, caplog
):
    # A misspelt name must not look like a feed that announced nothing (a site build
    # reading `{}` would drop every link).
    config = blog(tmp_path, api, feeds, 1)
    assert main(["run", "--config", config]) == 0
    capsys.readouterr()

    assert main(["links", "--config", config, "--feed", "blgo"]) == 2

    assert capsys.readouterr().out == ""
    assert "no feed 'blgo' in the configuration or the state" in caplog.text


# -- retract -------------------------------------------------------------------


@pytest.mark.parametrize("entry", [guid(2), article_url(2)], ids=["by id", "by URL"])
def test_retract_deletes_the_toot_and_the_entry_is_never_announced_again(
    tmp_path, api, feeds, token, capsys, entry, backend
):
    config = blog(tmp_path, api, feeds, 1, 2, **backend.settings)
    assert main(["run", "--config", config]) == 0
    assert len(api.statuses) == 2

    assert main(["retract", "--config", config, "blog", entry]) == 0

    assert [s["text"] for s in api.statuses if "/2/" in s["text"]] == []
    assert api.count("DELETE") == 1
    assert json.loads(links(config, capsys))[article_url(2)][0]["status"] == "retracted"
    assert main(["run", "--config", config]) == 0
    assert len(api.statuses) == 1


def test_retract_of_a_toot_deleted_by_hand_records_it_as_deleted(
    tmp_path, api, feeds, token, capsys, backend
):
    config = blog(tmp_path, api, feeds, 1, **backend.settings)
    assert main(["run", "--config", config]) == 0
    api.statuses.clear()

    assert main(["retract", "--config", config, "blog", article_url(1)]) == 0

    assert json.loads(links(config, capsys))[article_url(1)][0]["status"] == "deleted"


def test_retract_of_an_unknown_entry_is_a_usage_error_and_deletes_nothing(
    tmp_path, api, feeds, token
):
    config = blog(tmp_path, api, feeds, 1)
    assert main(["run", "--config", config]) == 0

    assert main(["retract", "--config", config, "blog", "https://blog.example.org/9/"]) == 2
    assert api.count("DELETE") == 0
    assert len(api.statuses) == 1


def test_retract_in_a_feed_the_state_does_not_have_names_the_feed(
    tmp_path, api, feeds, token, caplog
):
    config = blog(tmp_path, api, feeds, 1)
    assert main(["run", "--config", config]) == 0

    assert main(["retract", "--config", config, "blgo", guid(1)]) == 2

    assert "no feed 'blgo' in the state" in caplog.text
    assert api.count("DELETE") == 0


def test_a_retraction_the_instance_refuses_changes_nothing(tmp_path, api, feeds, token, capsys):
    config = blog(tmp_path, api, feeds, 1)
    assert main(["run", "--config", config]) == 0
    # A 503 is retried for a while, as a post is: this one lasts longer than that.
    api.fail_next("DELETE", "/api/v1/statuses/*", 503, times=1000)

    assert main(["retract", "--config", config, "blog", guid(1)]) == 75

    assert json.loads(links(config, capsys))[article_url(1)][0]["status"] == "posted"


# -- links_file and replies_file ---------------------------------------------


def test_links_file_is_written_after_a_run_readable_by_all_and_replaced_whole(
    tmp_path, api, feeds, token, capsys
):
    config = blog(tmp_path, api, feeds, 1, links_file="site/data/toots.json")
    path = tmp_path / "site" / "data" / "toots.json"
    assert main(["run", "--config", config]) == 0
    first = path.stat()

    assert json.loads(path.read_text()) == json.loads(links(config, capsys))
    assert stat.S_IMODE(first.st_mode) == 0o644

    # Nothing new: the file is left as it is.
    assert main(["run", "--config", config]) == 0
    assert path.stat().st_ino == first.st_ino

    # A new toot: a new file renamed over the old one, never the old one rewritten in place.
    feeds.set_feed("/feed", feed_of(1, 2))
    assert main(["run", "--config", config]) == 0
    assert path.stat().st_ino != first.st_ino
    assert sorted(json.loads(path.read_text())) == [article_url(1), article_url(2)]
    assert [p.name for p in path.parent.iterdir()] == ["toots.json"]


def test_retract_rewrites_the_links_file(tmp_path, api, feeds, token):
    config = blog(tmp_path, api, feeds, 1, links_file="toots.json")
    assert main(["run", "--config", config]) == 0

    assert main(["retract", "--config", config, "blog", guid(1)]) == 0

    document = json.loads((tmp_path / "toots.json").read_text())
    assert document[article_url(1)][0]["status"] == "retracted"


def test_replies_file_holds_public_replies_only(tmp_path, api, feeds, token, backend):
    config = blog(tmp_path, api, feeds, 1, links_file="toots.json", **backend.settings)
    assert main(["run", "--config", config]) == 0
    (toot,) = api.statuses
    public = api.add_reply(toot["id"], "Nice post!", display_name="Alice")
    api.add_reply(public["id"], "Agreed", acct="bob@other.example", display_name="Bob")
    for visibility in ("unlisted", "private", "direct"):
        api.add_reply(toot["id"], f"a {visibility} word", visibility=visibility)
    config = write_config(
        tmp_path,
        api,
        f"- {{name: blog, url: '{feeds.url('/feed')}'}}",
        replies_file="replies.json",
        **backend.settings,
    )

    assert main(["run", "--config", config]) == 0

    document = json.loads((tmp_path / "replies.json").read_text())
    assert list(document) == [article_url(1)]
    first, second = document[article_url(1)]
    assert first["url"] == public["url"]
    assert first["in_reply_to_id"] == toot["id"]
    assert first["content"] == public["content"]
    assert first["text"] == "Nice post!"
    assert ISO_Z.match(first["created_at"])
    assert first["account"] == {
        "display_name": "Alice",
        "acct": "alice@elsewhere.example",
        "avatar": public["account"]["avatar"],
        "url": public["account"]["url"],
    }
    assert first["replies_count"] == 1
    assert (first["reblogs_count"], first["favourites_count"]) == (0, 0)
    assert second["account"]["acct"] == "bob@other.example"
    assert stat.S_IMODE((tmp_path / "replies.json").stat().st_mode) == 0o644


def test_replies_are_read_at_most_once_an_interval_and_not_for_old_toots(
    tmp_path, api, feeds, token
):
    feed = f"- {{name: blog, url: '{feeds.url('/feed')}', backfill: 1}}"
    feeds.set_feed("/feed", feed_of(1))
    config = write_config(tmp_path, api, feed, replies_file="replies.json")
    assert main(["run", "--config", config]) == 0
    assert context_requests(api) == 1

    assert main(["run", "--config", config]) == 0
    assert context_requests(api) == 1

    config = write_config(
        tmp_path, api, feed, replies_file="replies.json", replies_interval="1s", replies_window="1s"
    )
    time.sleep(1.1)
    assert main(["run", "--config", config]) == 0
    # Older than the window by now: never asked again.
    assert context_requests(api) == 1


def test_reading_replies_stops_at_a_rate_limit_and_never_costs_a_post(
    tmp_path, api, feeds, token
):
    feed = f"- {{name: blog, url: '{feeds.url('/feed')}', backfill: 2}}"
    feeds.set_feed("/feed", feed_of(1, 2))
    config = write_config(tmp_path, api, feed, replies_file="replies.json")
    api.fail_next("GET", "/api/v1/statuses/*/context", "rate_limit", reset_in=3600)

    assert main(["run", "--config", config]) == 0

    assert len(api.statuses) == 2
    assert context_requests(api) == 1
    assert json.loads((tmp_path / "replies.json").read_text()) == {}
    # The next run reads them.
    assert main(["run", "--config", config]) == 0
    assert context_requests(api) == 3
    assert sorted(json.loads((tmp_path / "replies.json").read_text())) == [
        article_url(1),
        article_url(2),
    ]


def context_requests(api) -> int:
    return sum(1 for _, path, _ in api.requests if path.endswith("/context"))


def test_a_preview_runs_no_hook_writes_no_file_and_reads_no_replies(tmp_path, api, feeds, token):
    marker = tmp_path / "hook-ran"
    config = blog(
        tmp_path,
        api,
        feeds,
        1,
        extra=f", on_posted: 'touch {marker}'",
        links_file="toots.json",
        replies_file="replies.json",
    )

    assert main(["run", "--config", config, "--dry-run"]) == 0

    assert not marker.exists()
    assert not (tmp_path / "toots.json").exists()
    assert not (tmp_path / "replies.json").exists()
    assert api.statuses == []
    assert context_requests(api) == 0


# -- on_posted ---------------------------------------------------------------


def hook_writing_its_environment(tmp_path) -> str:
    script = tmp_path / "hook.py"
    script.write_text(
        "import json, os, sys\n"
        "with open(sys.argv[1], 'a') as out:\n"
        "    out.write(json.dumps(dict(os.environ)) + '\\n')\n"
    )
    return f"{sys.executable} {script} {tmp_path / 'events.jsonl'}"


def events(tmp_path) -> list[dict[str, str]]:
    path = tmp_path / "events.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_on_posted_gets_the_event_without_any_token(tmp_path, api, feeds, token, monkeypatch):
    monkeypatch.setenv("OTHER_VARIABLE", "kept")
    monkeypatch.setenv("CROSSPOSTER_WEBHOOK_SECRET", "webhook-secret")
    hook = hook_writing_its_environment(tmp_path)
    config = blog(tmp_path, api, feeds, 1, extra=f", on_posted: '{hook}'")

    assert main(["run", "--config", config]) == 0

    (environment,) = events(tmp_path)
    (toot,) = api.statuses
    assert environment["CROSSPOSTER_EVENT"] == "posted"
    assert environment["CROSSPOSTER_FEED"] == "blog"
    assert environment["CROSSPOSTER_ARTICLE_URL"] == article_url(1)
    assert environment["CROSSPOSTER_TOOT_URL"] == toot["url"]
    assert environment["CROSSPOSTER_TOOT_ID"] == toot["id"]
    assert environment["OTHER_VARIABLE"] == "kept"
    assert TOKEN not in json.dumps(environment)
    assert "CROSSPOSTER_ACCESS_TOKEN" not in environment
    assert "webhook-secret" not in json.dumps(environment)


def test_on_posted_runs_for_a_retraction_and_once_per_event(tmp_path, api, feeds, token):
    hook = hook_writing_its_environment(tmp_path)
    config = blog(tmp_path, api, feeds, 1, extra=f", on_posted: '{hook}'")
    assert main(["run", "--config", config]) == 0
    assert main(["run", "--config", config]) == 0

    assert main(["retract", "--config", config, "blog", guid(1)]) == 0

    assert [e["CROSSPOSTER_EVENT"] for e in events(tmp_path)] == ["posted", "retracted"]


def test_a_failing_hook_is_a_warning_and_changes_neither_state_nor_exit_code(
    tmp_path, api, feeds, token, caplog, capsys
):
    config = blog(tmp_path, api, feeds, 1, extra=", on_posted: 'echo no CMS here; exit 3'")

    with caplog.at_level(logging.WARNING, logger="crossposter"):
        assert main(["run", "--config", config]) == 0

    assert "exit status 3" in caplog.text
    assert "no CMS here" in caplog.text
    assert json.loads(links(config, capsys))[article_url(1)][0]["status"] == "posted"


def test_a_hook_past_its_deadline_is_stopped_with_its_children(tmp_path, caplog):
    child = tmp_path / "child-finished"
    event = HookEvent("posted", "blog", guid(1), article_url(1), "1", "https://x.example/1")

    with caplog.at_level(logging.WARNING, logger="crossposter"):
        ok = run_command(f"(sleep 3; touch {child}) & sleep 3", event, deadline=0.5)

    assert not ok
    assert "stopped after 0.5 s" in caplog.text
    # The group was killed: its background child never gets to finish.
    time.sleep(3.2)
    assert not child.exists()


def test_a_hook_never_runs_twice_for_the_same_event(tmp_path, backend):
    out = tmp_path / "count"
    event = HookEvent("posted", "blog", guid(1), article_url(1), "7", None)
    from crossposter.after_posting.hooks import notify

    with backend.open() as state:
        assert notify(state, f"echo x >> {out}", event)
        assert not notify(state, f"echo x >> {out}", event)
    assert out.read_text() == "x\n"


def test_hook_environment_hides_every_configured_token_variable(tmp_path, api):
    from crossposter.after_posting.hooks import hook_environment, token_variables
    from crossposter.config import load_settings

    (tmp_path / "feeds.yaml").write_text(
        f"instance: {api.base_url}\n"
        "accounts:\n"
        f"  second: {{instance: '{api.base_url}', access_token_env: SECOND_TOKEN}}\n"
        "feeds: []\n"
    )
    settings = load_settings(tmp_path / "feeds.yaml")
    environment = {"SECOND_TOKEN": "s", "CROSSPOSTER_ACCESS_TOKEN": "t", "PATH": "/bin"}

    assert hook_environment(environment, token_variables(settings)) == {"PATH": "/bin"}


# -- the state -----------------------------------------------------------------


def version_2_export(api) -> dict:
    """What `state export` wrote before toots recorded their account."""
    return {
        "format": "crossposter-state",
        "version": 2,
        "exported_at": "20261201T090000Z",
        "feeds": [],
        "entries": [
            {
                "feed": "blog",
                "entry_id": guid(1),
                "status": "posted",
                "link": article_url(1),
                "title": "Article 1",
                "first_seen": "20261201T080000Z",
                "last_seen": "20261201T080000Z",
                "idempotency_key": "k",
                "toot": None,
                "pending_since": None,
                "toot_id": "42",
                "toot_url": f"{api.base_url}/@bot/42",
                "reason": None,
                "updated": "20261201T081500Z",
            }
        ],
        "instances": [],
    }


def test_an_export_from_before_imports_and_links_name_the_configured_account(
    tmp_path, api, feeds, capsys
):
    config = blog(tmp_path, api, feeds, 1)
    backup = tmp_path / "old.json"
    backup.write_text(json.dumps(version_2_export(api)))

    assert main(["state", "import", str(backup), "--config", config]) == 0

    (toot,) = json.loads(links(config, capsys))[article_url(1)]
    assert toot["account"] == "default"
    assert toot["instance"] == api.base_url
    assert toot["posted_at"] == "2026-12-01T08:15:00Z"
    # And it exports again, hook records and all, and imports once more.
    assert main(["state", "export", str(tmp_path / "new.json"), "--config", config]) == 0
    assert main(["state", "import", str(tmp_path / "new.json"), "--config", config]) == 0


def test_a_version_2_state_file_is_upgraded_and_accepts_retracted_entries(tmp_path):
    path = tmp_path / "state.sqlite3"
    with SqliteState.open(path):
        pass
    db = sqlite3.connect(path)
    db.executescript(
        "DROP TABLE entries; DROP TABLE hook_runs;"
        "CREATE TABLE entries (feed TEXT NOT NULL, entry_id TEXT NOT NULL, status TEXT NOT NULL "
        "CHECK (status IN ('seen', 'pending', 'posted', 'failed')), link TEXT, title TEXT, "
        "first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, idempotency_key TEXT, toot TEXT, "
        "pending_since TEXT, toot_id TEXT, toot_url TEXT, reason TEXT, updated TEXT NOT NULL, "
        "PRIMARY KEY (feed, entry_id)) WITHOUT ROWID;"
        "INSERT INTO entries VALUES ('blog', 'a', 'posted', 'https://b.example/a', 'A', "
        "'20261201T080000Z', '20261201T080000Z', NULL, NULL, NULL, '7', 'https://m/7', NULL, "
        "'20261201T080000Z');"
        "UPDATE meta SET value = '2' WHERE key = 'schema_version';"
    )
    db.commit()
    db.close()

    with SqliteState.open(path) as state:
        (post,) = state.announced()
        assert (post.account, post.toot_id, post.status) == (None, "7", "posted")
        assert state.mark_retracted("blog", "a")
        assert state.announced()[0].status == "retracted"
        assert "a" in state.known_ids("blog")


def test_on_posted_is_no_part_of_the_feeds_settings_fingerprint():
    from crossposter.config import FeedConfig

    plain = FeedConfig(name="blog", url="https://blog.example.org/feed")
    hooked = FeedConfig(name="blog", url="https://blog.example.org/feed", on_posted="true")

    assert plain.settings_fingerprint == hooked.settings_fingerprint


def test_the_hook_environment_is_the_process_environment_minus_tokens(monkeypatch):
    from crossposter.after_posting.hooks import hook_environment

    monkeypatch.setenv("CROSSPOSTER_ACCESS_TOKEN", "secret")
    assert "CROSSPOSTER_ACCESS_TOKEN" not in hook_environment(os.environ, ())
