"""What becomes of a toot after it went out: edited when its article changes
(`on_change: edit`), deleted when its article is gone (`on_remove: delete`).

The pure decisions are tested by tables; the rest drives the real pass and the real
Mastodon.py against the loopback Mastodon API, with the pass's clock injected."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from crossposter.after_posting.decisions import article_change, mass_deletion, removal_confirmed
from crossposter.cli import main
from crossposter.config import load_settings
from crossposter.models import DEFAULT_ACCOUNT, Article, Toot
from crossposter.pipeline import run
from crossposter.state import now_utc
from crossposter.state.sqlite import SqliteState

from conftest import Backend
from support.blog import article, write_config
from support.feeds import rss

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WEEK = 7 * 86400
BASE = Article(title="Hello", summary="<p>Hi</p>", link="https://b.example/1")


@pytest.mark.parametrize(
    ("current", "posted_at", "now", "changed"),
    [
        (BASE, T0, T0 + timedelta(hours=1), None),
        (
            Article(title="Hallo", summary="<p>Hi</p>", link="https://b.example/1"),
            T0,
            T0 + timedelta(days=6),
            "its title changed",
        ),
        (
            Article(
                title="Hello", summary="<p>Hey</p>", link="https://b.example/1", categories=("x",)
            ),
            T0,
            T0,
            "its summary, categories changed",
        ),
        (
            Article(title="Hallo", summary="<p>Hi</p>", link="https://b.example/1"),
            T0,
            T0 + timedelta(days=8),
            None,
        ),
        (Article(title="Hallo", summary="<p>Hi</p>", link="https://b.example/1"), None, T0, None),
    ],
)
def test_an_article_change_counts_only_within_the_window(current, posted_at, now, changed):
    assert article_change(BASE, current, posted_at=posted_at, now=now, window=WEEK) == changed


def test_a_toot_posted_before_articles_were_recorded_is_never_edited():
    assert article_change(None, BASE, posted_at=T0, now=T0, window=WEEK) is None


@pytest.mark.parametrize(
    ("gone_since", "now", "confirmed"),
    [
        (None, T0, False),
        (T0, T0 + timedelta(minutes=59), False),
        (T0, T0 + timedelta(hours=1), True),
    ],
)
def test_a_removal_counts_on_the_second_gone_answer_an_hour_later(gone_since, now, confirmed):
    assert removal_confirmed(gone_since, now) is confirmed


@pytest.mark.parametrize(
    ("checked", "gone", "guarded"),
    [(5, 5, False), (6, 6, True), (18, 6, False), (17, 6, True), (30, 9, False)],
)
def test_the_mass_deletion_guard(checked, gone, guarded):
    assert mass_deletion(checked, gone) is guarded


# -- end to end ----------------------------------------------------------------------------


@pytest.fixture
def token(token, monkeypatch):
    monkeypatch.setenv("CROSSPOSTER_POST_RETRY_SECONDS", "0.3")
    return token


class Blog:
    """A blog whose article links are on the loopback feed server (404 unless served); its
    state on `backend` (default: a SQLite file in tmp_path)."""

    def __init__(
        self,
        tmp_path,
        api,
        feeds,
        options: str = "",
        backend: Backend | None = None,
        max_posts: int = 10,
    ):
        self.api, self.feeds, self.tmp_path = api, feeds, tmp_path
        self.options = options
        self.max_posts = max_posts
        self.backend = backend or Backend("sqlite", str(tmp_path / "state.sqlite3"))
        self.config = self.configure(options)
        # The site's home page answers: a deletion first asks it (and the newest article).
        feeds.set_feed("/", "<html>home</html>", content_type="text/html")

    def configure(self, options: str) -> str:
        return write_config(
            self.tmp_path,
            self.api,
            f"- {{name: blog, url: '{self.feeds.url('/feed')}', "
            f"max_posts_per_run: {self.max_posts}, "
            f"on_change: edit, on_remove: delete{options}}}",
            allow_private_urls_in_feeds=True,
            **self.backend.settings,
        )

    def article(self, n: int, **fields) -> dict:
        return article(n, link=self.feeds.url(f"/{n}/"), **fields)

    def publish(self, *items: dict) -> None:
        # No validators: every run reads the feed (a run that gets 304 goes by the state's
        # record of the last parse, which cannot tell apart two runs in the same second).
        self.feeds.set_feed("/feed", rss(list(items)), etag=False, last_modified=False)

    def run(self, clock=now_utc) -> int:
        return run(load_settings(self.config), clock=clock).exit_code

    def entry(self, n: int):
        with self.backend.open_read_only() as state:
            [record] = [e for e in state.entries("blog", limit=100) if e.link.endswith(f"/{n}/")]
            return record

    def puts(self) -> int:
        return sum(
            self.api.count("PUT", f"/api/v1/statuses/{s['id']}")
            for s in [*self.api.statuses, *self.api.deleted]
        )


@pytest.fixture
def blog(tmp_path, api, feeds, token, backend):
    """Article 1 known from the first run; article 2 announced with a typo in its title;
    on each state backend."""
    blog = Blog(tmp_path, api, feeds, backend=backend)
    blog.publish(blog.article(1))
    assert blog.run() == 0
    blog.publish(blog.article(2, title="Artcile 2"), blog.article(1))
    assert blog.run() == 0
    assert api.status_texts()[0].startswith("Artcile 2")
    return blog


def test_a_typo_fixed_in_the_feed_edits_the_toot_once_and_posts_nothing(blog, api):
    blog.publish(blog.article(2), blog.article(1))
    assert blog.run() == 0
    [status] = api.statuses
    assert status["text"].startswith("Article 2\n")
    assert status["edited_at"] is not None
    assert blog.puts() == 1
    assert api.count("POST", "/api/v1/statuses") == 1

    blog.publish(blog.article(2, description="<p>About 2.</p> "), blog.article(1))
    assert blog.run() == 0
    assert blog.puts() == 1


def flapping(blog, titles: list[str], minutes_apart: int) -> None:
    """The article's title as each run finds it, runs `minutes_apart` apart."""
    start = now_utc()
    for run_number, title in enumerate(titles):
        blog.publish(blog.article(2, title=title), blog.article(1))
        at = start + timedelta(minutes=run_number * minutes_apart)
        assert blog.run(clock=lambda at=at: at) == 0


def test_a_flapping_title_is_not_edited_back_and_forth(blog, api, caplog):
    """Run after run the feed alternates two titles: one edit, then a warning, once."""
    with caplog.at_level(logging.WARNING):
        flapping(blog, ["Article 2", "Artcile 2"] * 4, minutes_apart=61)
    assert blog.puts() == 1
    warnings = [r for r in caplog.records if "earlier version" in r.getMessage()]
    assert len(warnings) == 1


def test_edits_wait_for_edit_cooldown_and_stop_at_max_edits(tmp_path, api, feeds, token, caplog):
    blog = Blog(tmp_path, api, feeds, ", backfill: 1, max_edits: 2, edit_cooldown: 2h")
    blog.publish(blog.article(2, title="Version 0"))
    assert blog.run() == 0
    with caplog.at_level(logging.WARNING):
        flapping(blog, [f"Version {n}" for n in range(1, 7)], minutes_apart=61)
    # Version 1 at once; 2 two hours later (the run an hour after waits); then no more.
    assert blog.puts() == 2
    assert api.statuses[0]["text"].startswith("Version 3")
    assert "max_edits" in caplog.text


def test_two_edits_within_one_second_run_the_hook_twice(tmp_path, api, feeds, token):
    """One hook per event: an edit is told apart by its own number, not by its second."""
    hook = "echo $CROSSPOSTER_EVENT >> hooks.out"
    blog = Blog(tmp_path, api, feeds, f", backfill: 1, edit_cooldown: 0, on_posted: '{hook}'")
    blog.publish(blog.article(2, title="Version 0"))
    assert blog.run() == 0
    same_second = now_utc().replace(microsecond=0)
    for n in (1, 2):
        blog.publish(blog.article(2, title=f"Version {n}"))
        assert blog.run(clock=lambda: same_second) == 0
    assert blog.puts() == 2
    assert (tmp_path / "hooks.out").read_text().split() == ["posted", "edited", "edited"]


def test_edit_cooldown_counts_from_the_pass_s_time_not_the_machine_s(
    tmp_path, api, feeds, token
):
    """An edit is stamped with its pass's clock: stamped with the machine's instead, a pass
    whose clock lagged it (a second boundary crossed mid-pass) saw its own last edit in the
    future and held the next one back."""
    blog = Blog(tmp_path, api, feeds, ", backfill: 1, edit_cooldown: 0")
    blog.publish(blog.article(2, title="Version 0"))
    assert blog.run() == 0
    lagging = now_utc().replace(microsecond=0) - timedelta(minutes=5)
    for n in (1, 2):
        blog.publish(blog.article(2, title=f"Version {n}"))
        assert blog.run(clock=lambda: lagging) == 0
    assert blog.puts() == 2


def test_max_edits_and_edit_cooldown_are_also_defaults(tmp_path, api):
    config = write_config(
        tmp_path,
        api,
        "- {name: blog, url: feed.xml}",
        defaults="{max_edits: 1, edit_cooldown: 30m}",
    )
    [feed] = load_settings(config).feeds
    assert (feed.max_edits, feed.edit_cooldown) == (1, 1800)


def test_an_edit_keeps_the_content_warning(tmp_path, api, feeds, token):
    blog = Blog(tmp_path, api, feeds, ", content_warning: spoilers")
    blog.publish(blog.article(1))
    blog.run()
    blog.publish(blog.article(2, title="Artcile 2"), blog.article(1))
    blog.run()
    blog.publish(blog.article(2), blog.article(1))
    blog.run()
    [status] = api.statuses
    assert status["text"].startswith("Article 2") and status["spoiler_text"] == "spoilers"


def test_a_change_the_toot_does_not_show_edits_nothing(tmp_path, api, feeds, token):
    blog = Blog(tmp_path, api, feeds, ", category_hashtags: false")
    blog.publish(blog.article(1))
    blog.run()
    blog.publish(blog.article(2), blog.article(1))
    blog.run()
    blog.publish(blog.article(2, categories=["Python"]), blog.article(1))
    assert blog.run() == 0
    assert blog.puts() == 0


def test_a_new_guid_for_the_same_link_is_the_same_article(blog, api):
    blog.publish(blog.article(2, title="Artcile 2", guid="new-guid"), blog.article(1))
    assert blog.run() == 0
    assert len(api.statuses) == 1
    assert blog.puts() == 0


def test_a_settings_change_edits_nothing(blog, api):
    blog.config = blog.configure(", hashtags: [blog], template: '{title} {url}'")
    assert blog.run() == 0
    assert blog.puts() == 0


def test_outside_the_edit_window_nothing_is_edited(blog, api):
    blog.publish(blog.article(2), blog.article(1))
    assert blog.run(clock=lambda: now_utc() + timedelta(days=8)) == 0
    assert blog.puts() == 0
    assert api.status_texts()[0].startswith("Artcile 2")


def test_an_edit_cut_short_is_sent_again_by_the_next_run_once(blog, api, feeds):
    [status] = api.statuses
    path = f"/api/v1/statuses/{status['id']}"
    api.fail_next("PUT", path, 503, times=1000)
    blog.publish(blog.article(2), blog.article(1))
    assert blog.run() == 75
    assert status["text"].startswith("Artcile 2")
    api.clear_faults()

    before = api.count("PUT", path)
    assert blog.run() == 0  # the recorded edit goes out before the feed is even read
    assert api.count("PUT", path) == before + 1
    assert status["text"].startswith("Article 2")
    assert blog.run() == 0
    assert api.count("PUT", path) == before + 1


def test_a_toot_deleted_by_hand_is_never_edited_or_posted_again(blog, api):
    api.statuses.clear()
    blog.publish(blog.article(2), blog.article(1))
    assert blog.run() == 0
    assert blog.entry(2).status == "deleted"
    blog.publish(blog.article(2, title="Article deux"), blog.article(1))
    assert blog.run() == 0
    assert api.statuses == []
    assert api.count("POST", "/api/v1/statuses") == 1


def test_dry_run_shows_the_edit_as_a_diff(blog, api, capsys, caplog):
    blog.publish(blog.article(2), blog.article(1))
    with caplog.at_level(logging.INFO):
        assert main(["run", "--config", blog.config, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "-Artcile 2" in out and "+Article 2" in out
    # A preview speaks in the conditional, in its log as in its summary.
    assert "1 would be edited" in out
    assert "feed blog: would edit the toot of 'Artcile 2'" in caplog.text
    assert "edited the toot" not in caplog.text
    assert blog.puts() == 0


# -- removals ------------------------------------------------------------------------------


def test_an_article_gone_twice_an_hour_apart_has_its_toot_deleted(blog, api, feeds):
    blog.publish(blog.article(1))  # article 2 left the feed; its link answers 404
    start = now_utc()
    assert blog.run(clock=lambda: start) == 0
    assert len(api.statuses) == 1  # seen gone once: nothing yet
    assert blog.run(clock=lambda: start + timedelta(minutes=30)) == 0
    assert blog.feeds.count("GET", "/2/") == 1  # checked at most once an hour

    assert blog.run(clock=lambda: start + timedelta(minutes=61)) == 0
    assert api.statuses == [] and len(api.deleted) == 1
    assert blog.entry(2).status == "retracted"
    assert blog.run(clock=lambda: start + timedelta(hours=3)) == 0
    assert len(api.deleted) == 1
    assert api.count("POST", "/api/v1/statuses") == 1


def test_nothing_is_deleted_while_the_site_root_and_newest_article_answer_404(
    blog, api, feeds, caplog
):
    """A site answering 404 everywhere (a broken deploy) is no removal of its articles."""
    feeds.remove("/")
    blog.publish(blog.article(1))  # article 2 left the feed; article 1's link is 404 too
    start = now_utc()
    with caplog.at_level(logging.WARNING):
        assert blog.run(clock=lambda: start) == 0
        assert blog.run(clock=lambda: start + timedelta(minutes=61)) == 0
    assert api.deleted == []
    assert feeds.count("GET", "/") == 1 and feeds.count("GET", "/1/") == 1
    assert "nothing is deleted" in caplog.text

    feeds.set_feed("/1/", "<html>one</html>", content_type="text/html")
    assert blog.run(clock=lambda: start + timedelta(minutes=122)) == 0
    assert len(api.deleted) == 1


def test_thirty_deletions_in_the_last_thirty_minutes_leave_the_next_for_a_later_run(
    blog, api, caplog
):
    blog.publish(blog.article(1))
    start = now_utc()
    assert blog.run(clock=lambda: start) == 0
    confirmed = start + timedelta(minutes=61)
    with blog.backend.open() as state:
        for _ in range(30):  # what earlier runs deleted
            state.record_deletion(DEFAULT_ACCOUNT, confirmed - timedelta(minutes=29))
    with caplog.at_level(logging.INFO):
        assert blog.run(clock=lambda: confirmed) == 0
    assert api.deleted == []
    assert "waits for a later run" in caplog.text
    # Its link is asked again an hour later; by then the deletions are old enough.
    assert blog.run(clock=lambda: confirmed + timedelta(minutes=61)) == 0
    assert len(api.deleted) == 1


def test_an_article_that_still_answers_is_kept(blog, api, feeds):
    feeds.set_feed("/2/", "<html>still here</html>", content_type="text/html")
    blog.publish(blog.article(1))
    start = now_utc()
    for minutes in (0, 61, 122):
        assert blog.run(clock=lambda minutes=minutes: start + timedelta(minutes=minutes)) == 0
    assert len(api.statuses) == 1 and api.deleted == []


def test_a_404_between_two_answers_of_200_deletes_nothing(blog, api, feeds):
    blog.publish(blog.article(1))
    start = now_utc()
    assert blog.run(clock=lambda: start) == 0
    feeds.set_feed("/2/", "<html>back</html>", content_type="text/html")
    assert blog.run(clock=lambda: start + timedelta(minutes=61)) == 0
    feeds.remove("/2/")
    assert blog.run(clock=lambda: start + timedelta(minutes=122)) == 0
    assert api.deleted == []


def test_dry_run_lists_the_planned_deletion(blog, api, capsys, caplog):
    blog.publish(blog.article(1))
    assert blog.run(clock=lambda: now_utc() - timedelta(hours=2)) == 0
    with caplog.at_level(logging.INFO):
        assert main(["run", "--config", blog.config, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "toot would be deleted" in out and "1 would be deleted" in out
    assert "feed blog: would delete the toot of 'Artcile 2'" in caplog.text
    assert "deleted the toot" not in caplog.text
    assert api.deleted == []


def test_many_articles_gone_at_once_delete_nothing_and_say_why(tmp_path, api, feeds, token, caplog):
    blog = Blog(tmp_path, api, feeds, ", backfill: 6")
    blog.publish(*(blog.article(n) for n in range(6, 0, -1)))
    assert blog.run() == 0
    assert len(api.statuses) == 6
    blog.publish(blog.article(7))  # a permalink migration: every old link answers 404
    start = now_utc()
    with caplog.at_level(logging.ERROR):
        assert blog.run(clock=lambda: start) == 0
        assert blog.run(clock=lambda: start + timedelta(minutes=61)) == 0
    assert api.deleted == []
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and "no toot is deleted" in errors[-1].getMessage()


def twenty_one_announced(tmp_path, api, feeds, backend=None) -> Blog:
    blog = Blog(tmp_path, api, feeds, ", backfill: 21", backend=backend, max_posts=30)
    blog.publish(*(blog.article(n) for n in range(21, 0, -1)))
    assert blog.run() == 0
    assert len(api.statuses) == 21
    return blog


def test_removals_spread_over_runs_are_counted_over_a_day_and_held(
    tmp_path, api, feeds, token, backend, caplog
):
    """Twenty articles leave the feed five at a time, a run every 15 minutes, on a site
    answering 404 for each: checked five per run, they are still too many in a day."""
    blog = twenty_one_announced(tmp_path, api, feeds, backend)
    # The runs are in the past of the person allowing the deletions.
    start = now_utc() - timedelta(hours=3)
    with caplog.at_level(logging.ERROR):
        for run_number in range(9):
            gone = min(5 * (run_number + 1), 20)
            blog.publish(*(blog.article(n) for n in range(21, gone, -1)))
            at = start + timedelta(minutes=15 * run_number)
            assert blog.run(clock=lambda at=at: at) == 0
    assert api.deleted == []
    held = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert held and all("state allow-deletions" in message for message in held)
    assert len(held) <= 9

    assert main(["state", "allow-deletions", "blog", "--config", blog.config]) == 0
    later = now_utc() + timedelta(minutes=1)
    assert blog.run(clock=lambda: later) == 0
    assert len(api.deleted) == 20
    assert len(api.statuses) == 1


def test_held_deletions_are_released_when_every_counted_article_answers_again(
    tmp_path, api, feeds, token, caplog
):
    blog = twenty_one_announced(tmp_path, api, feeds)
    blog.publish(blog.article(21))
    start = now_utc()
    assert blog.run(clock=lambda: start) == 0  # 20 gone at once: held
    for n in range(1, 21):
        feeds.set_feed(f"/{n}/", "<html>back</html>", content_type="text/html")
    assert blog.run(clock=lambda: start + timedelta(minutes=61)) == 0
    feeds.remove("/3/")  # one article really went
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        assert blog.run(clock=lambda: start + timedelta(minutes=122)) == 0
        assert blog.run(clock=lambda: start + timedelta(minutes=183)) == 0
    assert len(api.deleted) == 1
    assert not [r for r in caplog.records if r.levelno == logging.ERROR]


def test_allow_deletions_names_a_feed_the_state_does_not_have(tmp_path, api, feeds, token):
    blog = Blog(tmp_path, api, feeds)
    blog.publish(blog.article(1))
    assert blog.run() == 0
    assert main(["state", "allow-deletions", "blgo", "--config", blog.config]) == 2


def test_keep_is_the_default(tmp_path, api, feeds, token):
    blog = Blog(tmp_path, api, feeds)
    blog.config = write_config(
        tmp_path,
        api,
        f"- {{name: blog, url: '{feeds.url('/feed')}'}}",
        allow_private_urls_in_feeds=True,
    )
    blog.publish(blog.article(1))
    blog.run()
    blog.publish(blog.article(2, title="Artcile 2"), blog.article(1))
    blog.run()
    blog.publish(blog.article(1))
    start = now_utc()
    blog.run(clock=lambda: start)
    blog.run(clock=lambda: start + timedelta(hours=2))
    assert blog.puts() == 0 and api.deleted == [] and feeds.count("GET", "/2/") == 0


def test_toot_text_differs_only_by_what_readers_see():
    from crossposter.after_posting.decisions import toot_differs

    assert not toot_differs(Toot(text="a", length=1), Toot(text="a", length=2))
    assert toot_differs(Toot(text="a"), Toot(text="a", image_url="https://i/x.png"))


def test_a_state_file_from_before_edits_is_upgraded_and_keeps_its_entries(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        """CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '2');
        CREATE TABLE feeds (name TEXT PRIMARY KEY, url TEXT NOT NULL, etag TEXT,
            last_modified TEXT, last_fetch TEXT, last_result TEXT, last_parsed TEXT);
        CREATE TABLE entries (feed TEXT NOT NULL, entry_id TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('seen', 'pending', 'posted', 'failed')),
            link TEXT, title TEXT, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
            idempotency_key TEXT, toot TEXT, pending_since TEXT, toot_id TEXT, toot_url TEXT,
            reason TEXT, updated TEXT NOT NULL, PRIMARY KEY (feed, entry_id)) WITHOUT ROWID;
        CREATE INDEX entries_by_status ON entries (status) WHERE status != 'seen';
        CREATE TABLE instances (url TEXT PRIMARY KEY, limits TEXT NOT NULL,
            fetched_at TEXT NOT NULL);
        INSERT INTO entries (feed, entry_id, status, link, title, first_seen, last_seen,
            toot, toot_id, updated) VALUES ('blog', 'e1', 'posted', 'https://b/1', 'One',
            '20260101T000000Z', '20260101T000000Z', '{"text": "One"}', '7',
            '20260101T000000Z');"""
    )
    db.close()
    with SqliteState.open(path) as state:
        [posted] = state.posted_entries("blog")
        assert posted.toot_id == "7" and posted.article is None  # never edited
        state.mark_retracted("blog", "e1", "gone")
        assert state.status_counts("blog") == {"retracted": 1}


def test_state_entries_shows_the_title_as_last_edited(blog, api, capsys):
    blog.publish(blog.article(2), blog.article(1))
    assert blog.run() == 0
    assert blog.puts() == 1
    capsys.readouterr()
    assert main(["state", "entries", "--config", blog.config, "--status", "posted"]) == 0
    shown = capsys.readouterr().out
    assert "    Article 2\n" in shown and "Artcile" not in shown
