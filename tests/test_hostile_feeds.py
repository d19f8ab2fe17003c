"""What a hostile feed's text can do, end to end: a toot mentions no one and shows what
it is, the state stays small, and the log shows what the network sent without obeying it."""

from __future__ import annotations

import json
import sqlite3

import pytest

from crossposter.cli import main

from support.blog import article, write_config
from support.feeds import rss
from support.mentions import MENTION_RE

HIDDEN = "\u202e\u202a\u2066\u200b\u2060\ufeff"


@pytest.fixture
def blog(tmp_path, api, feeds, token):
    """A feed with one article, already seen by a first run."""
    feeds.set_feed("/feed", rss([article(1)]))
    config = write_config(tmp_path, api, f"- {{name: blog, url: '{feeds.url('/feed')}'}}")
    assert main(["run", "--config", config]) == 0
    return config


def test_a_link_in_the_toot_mentions_no_one(blog, api, feeds):
    link = "https://t.example/post-@Gargron@mastodon.social"
    feeds.set_feed("/feed", rss([article(2, link=link), article(1)]))

    assert main(["run", "--config", blog]) == 0

    [status] = api.statuses
    assert "https://t.example/post-%40Gargron%40mastodon.social" in status["text"]
    assert MENTION_RE.search(status["text"]) is None


def test_a_bidi_override_is_removed_from_a_title_and_skips_an_article_in_a_link(
    blog, api, feeds, tmp_path, capsys
):
    feeds.set_feed(
        "/feed",
        rss(
            [
                article(3, link="https://blog.example.org/\u202egpj.exe/"),
                article(2, title="Invoice \u202efdp.exe", author="Eve\u2066"),
                article(1),
            ]
        ),
    )
    capsys.readouterr()

    assert main(["run", "--config", blog]) == 0

    [status] = api.statuses
    assert status["text"].startswith("Invoice fdp.exe\n")
    assert not any(char in status["text"] for char in HIDDEN)
    err = capsys.readouterr().err
    [warning] = [line for line in err.splitlines() if line.startswith("WARNING")]
    assert "skipping 'Article 3'" in warning and "U+202E RIGHT-TO-LEFT OVERRIDE" in warning
    assert "\u202e" not in err and "\\u202e" in warning

    assert main(["run", "--config", blog]) == 0
    assert len(api.statuses) == 1, "the skipped article is not tried again"


def test_an_article_with_a_space_inside_its_link_is_skipped(blog, api, feeds, capsys):
    feeds.set_feed("/feed", rss([article(2, link="https://blog.example.org/a b/"), article(1)]))

    assert main(["run", "--config", blog]) == 0

    assert api.statuses == []
    assert "U+0020 SPACE" in capsys.readouterr().err


def test_persian_and_emoji_keep_their_joiners(blog, api, feeds):
    title = "می\u200cخواهم 👨\u200d👩\u200d👧"
    feeds.set_feed("/feed", rss([article(2, title=title), article(1)]))

    assert main(["run", "--config", blog]) == 0

    [status] = api.statuses
    assert status["text"].startswith(title + "\n")


def test_a_ten_megabyte_title_is_cut_before_it_reaches_the_state(tmp_path, api, feeds, token):
    huge = "Long " * 2_000_000
    feeds.set_feed("/feed", rss([article(1, title=huge)]))
    config = write_config(
        tmp_path,
        api,
        f"- {{name: blog, url: '{feeds.url('/feed')}'}}",
        max_feed_bytes=20 * 1024 * 1024,
    )

    assert main(["run", "--config", config]) == 0

    [(title,)] = sqlite3.connect(tmp_path / "state.sqlite3").execute("SELECT title FROM entries")
    assert 0 < len(title) <= 1_000
    assert (tmp_path / "state.sqlite3").stat().st_size < 200_000


def test_megabyte_guids_and_links_do_not_reach_the_state(blog, tmp_path, api, feeds):
    feeds.set_feed(
        "/feed",
        rss(
            [
                article(3, guid="g" * 1_000_000),
                article(2, link="https://blog.example.org/" + "l" * 1_000_000),
                article(1),
            ]
        ),
    )

    assert main(["run", "--config", blog]) == 0

    [status] = api.statuses
    assert "https://blog.example.org/3/" in status["text"]
    rows = sqlite3.connect(tmp_path / "state.sqlite3").execute("SELECT entry_id, link FROM entries")
    assert all(len(entry_id) <= 1_000 and len(link or "") <= 4_000 for entry_id, link in rows)
    assert (tmp_path / "state.sqlite3").stat().st_size < 200_000


ESCAPE = "\x1b[2J\x1b]0;pwned\x07"


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_reason_phrase_with_terminal_escapes_is_shown_escaped(
    blog, feeds, capsys, log_format
):
    feeds.set_status("/feed", 503, reason=ESCAPE + "Unavailable")
    capsys.readouterr()

    assert main(["run", "--config", blog, "--log-format", log_format]) == 75

    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err
    [line] = [line for line in err.splitlines() if "HTTP 503" in line]
    message = json.loads(line)["message"] if log_format == "json" else line
    assert "\\x1b[2J\\x1b]0;pwned\\x07Unavailable" in message
