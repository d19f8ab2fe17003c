"""A feed that misbehaves gives one clear line naming the feed and the reason,
never a traceback, and leaves the state as it was; the other feeds go on."""

from __future__ import annotations

import sqlite3

import pytest

from crossposter.cli import main

from support.blog import article, feed_of, write_config
from support.feeds import rss

MAX_FEED_BYTES = 100_000


@pytest.fixture
def config(tmp_path, api, feeds, token):
    """Two feeds seen by a first run: `bad` is about to misbehave, `good` gets a new article."""
    feeds.set_feed("/bad", feed_of(1))
    feeds.set_feed("/good", feed_of(1))
    path = write_config(
        tmp_path,
        api,
        f"""
        - {{name: bad, url: '{feeds.url("/bad")}'}}
        - {{name: good, url: '{feeds.url("/good")}'}}
        """,
        fetch_timeout=0.5,
        max_feed_bytes=MAX_FEED_BYTES,
    )
    assert main(["run", "--config", path]) == 0
    feeds.set_feed("/good", feed_of(1, 2))
    return path


def state_rows(tmp_path) -> tuple[list, list]:
    """What the state knows of the misbehaving feed."""
    db = sqlite3.connect(tmp_path / "state.sqlite3")
    feeds = db.execute("SELECT etag, last_modified FROM feeds WHERE name = 'bad'").fetchall()
    entries = db.execute(
        "SELECT feed, entry_id, status FROM entries WHERE feed = 'bad' ORDER BY entry_id"
    ).fetchall()
    return feeds, entries


FAULTS = [
    ("timeout", lambda s: s.set_slow("/bad", 3), 75, "timed out"),
    ("connection reset", lambda s: s.set_reset("/bad"), 75, "connection"),
    ("server error", lambda s: s.set_status("/bad", 503), 75, "HTTP 503"),
    ("not found", lambda s: s.set_status("/bad", 404), 1, "HTTP 404"),
    ("redirect loop", lambda s: s.set_redirect_loop("/bad"), 1, "redirect"),
    ("oversized body", lambda s: s.set_large("/bad", 3 * MAX_FEED_BYTES), 1, "larger than"),
    (
        "oversized body of unknown length",
        lambda s: s.set_large("/bad", 3 * MAX_FEED_BYTES, declare_length=False),
        1,
        "larger than",
    ),
    ("gzip bomb", lambda s: s.set_gzip_bomb("/bad", 50 * MAX_FEED_BYTES), 1, "larger than"),
    ("HTML page", lambda s: s.set_html("/bad"), 1, "HTML page"),
    ("empty 200", lambda s: s.set_empty("/bad"), 1, "empty"),
    ("not XML at all", lambda s: s.set_status("/bad", 200, b"\x00\xff garbage {"), 1, "not a feed"),
]


@pytest.mark.parametrize(
    ("fault", "expected_exit", "reason"),
    [(fault, code, reason) for _, fault, code, reason in FAULTS],
    ids=[name for name, *_ in FAULTS],
)
def test_a_misbehaving_feed_gives_one_clear_line_and_leaves_the_state_alone(
    config, api, feeds, tmp_path, capsys, caplog, fault, expected_exit, reason
):
    before = state_rows(tmp_path)
    fault(feeds)
    capsys.readouterr()

    assert main(["run", "--config", config]) == expected_exit

    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert all(record.exc_info is None for record in caplog.records)
    lines = [line for line in err.splitlines() if "feed bad" in line]
    assert len(lines) == 1, lines
    assert reason in lines[0]
    # The feed's address, as `check` gives it: a 404 is fixed there.
    assert f"({feeds.url('/bad')})" in lines[0]
    assert state_rows(tmp_path) == before
    assert len(api.statuses) == 1, "the good feed still posted its new article"

    feeds.clear_faults()
    # An article of its own: `good` already announced blog.example.org/2/ on this account.
    feeds.set_feed("/bad", feed_of(1, 2, link="https://bad.example.org/{n}/"))
    assert main(["run", "--config", config]) == 0
    assert len(api.statuses) == 2, "the repaired feed posts its new article once"


def test_a_wrongly_declared_encoding_is_still_read(config, api, feeds):
    body = rss([article(2, title="Café crème"), article(1)]).encode("utf-8")
    latin1 = body.replace("Café crème".encode(), "Café crème".encode("latin-1"))
    feeds.set_feed("/bad", latin1, "application/rss+xml; charset=utf-8")

    assert main(["run", "--config", config]) == 0

    [toot] = [s["text"] for s in api.statuses if "blog.example.org/2/" in s["text"]][:1]
    assert "Caf" in toot and "\ufffd" not in toot
