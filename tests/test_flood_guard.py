"""A feed is untrusted: changing every guid, or bringing dozens of entries at once, must not
flood its followers. A link the account announced is never announced again; a flood is
recorded, not posted, and said once at ERROR level."""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossposter.cli import main
from crossposter.feeds.select import select_new
from crossposter.models import DEFAULT_ACCOUNT, Entry, Posted, Toot, link_key
from crossposter.state import SqliteState

from conftest import Backend
from support import blog
from support.blog import write_config
from support.builders import make_entry
from support.feeds import rss
from support.mastodon_api import MastodonAPI

BASE = datetime(2026, 1, 1, tzinfo=UTC)


def entries(*numbers: int, **fields) -> list[Entry]:
    """Entries as a feed lists them, newest first: entry n has id e{n}, link b.example/n."""
    return [
        make_entry(n, id=f"e{n}", published=BASE + timedelta(days=n), **fields)
        for n in sorted(numbers, reverse=True)
    ]


def ids(selected) -> list[str]:
    return [entry.id for entry in selected]


# -- comparing links ------------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "key"),
    [
        ("https://Blog.Example.ORG/a/#comments", "https://blog.example.org/a/"),
        ("HTTPS://b.example/Path?Q=A", "https://b.example/Path?Q=A"),
        ("https://Ann:PW@B.Example:8443/x#", "https://Ann:PW@b.example:8443/x"),
        ("https://b.example/a?x=1#y", "https://b.example/a?x=1"),
        ("http://[broken", "http://[broken"),
    ],
)
def test_a_link_is_compared_without_fragment_and_with_scheme_and_host_in_lower_case(link, key):
    assert link_key(link) == key


@given(st.text())
def test_comparing_a_compared_link_changes_nothing(link):
    assert link_key(link_key(link)) == link_key(link)


# -- the decision ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("feed", "known", "announced", "threshold", "announce", "repeated", "flooded"),
    [
        # A rotation: every guid new, every link announced.
        (
            [make_entry(n, id=f"v2-{n}") for n in (3, 2, 1)],
            set(),
            {f"https://b.example/{n}" for n in (1, 2, 3)},
            10,
            [],
            ["v2-1", "v2-2", "v2-3"],
            [],
        ),
        # One new article among rotated ones still goes out.
        (
            [make_entry(4, id="e4")] + [make_entry(n, id=f"v2-{n}") for n in (3, 2, 1)],
            set(),
            {f"https://b.example/{n}" for n in (1, 2, 3)},
            10,
            ["e4"],
            ["v2-1", "v2-2", "v2-3"],
            [],
        ),
        # Eleven new of sixteen: a flood.
        (
            entries(*range(1, 17)),
            {f"e{n}" for n in range(1, 6)},
            set(),
            10,
            [],
            [],
            [f"e{n}" for n in range(6, 17)],
        ),
        # Ten new is not more than ten.
        (
            entries(*range(1, 16)),
            {f"e{n}" for n in range(1, 6)},
            set(),
            10,
            [f"e{n}" for n in range(6, 16)],
            [],
            [],
        ),
        # Eleven new of twenty-two is not more than half.
        (
            entries(*range(1, 23)),
            {f"e{n}" for n in range(1, 12)},
            set(),
            10,
            [f"e{n}" for n in range(12, 23)],
            [],
            [],
        ),
        # Threshold 0: no guard.
        (entries(*range(1, 31)), {"e1"}, set(), 0, [f"e{n}" for n in range(2, 31)], [], []),
        # Repeats do not count towards a flood.
        (
            entries(*range(1, 16)),
            set(),
            {f"https://b.example/{n}" for n in range(1, 15)},
            3,
            ["e15"],
            [f"e{n}" for n in range(1, 15)],
            [],
        ),
        # Two new entries with one link: the older one is the announcement.
        (
            [
                make_entry(
                    2, id="late", link="https://b.example/x#top", published=BASE + timedelta(2)
                ),
                make_entry(
                    1, id="early", link="https://B.example/x", published=BASE + timedelta(1)
                ),
            ],
            set(),
            set(),
            10,
            ["early"],
            ["late"],
            [],
        ),
    ],
)
def test_what_a_later_run_announces_records_and_holds_back(
    feed, known, announced, threshold, announce, repeated, flooded
):
    chosen = select_new(
        feed, known, first_run=False, max_posts=100, announced=announced, flood_threshold=threshold
    )
    assert ids(chosen.announce) == announce
    assert ids(chosen.repeated) == repeated
    assert ids(chosen.flooded) == flooded
    assert chosen.mark_seen == chosen.waiting == ()


def test_a_first_run_is_never_a_flood_and_its_backfill_skips_announced_links():
    chosen = select_new(
        entries(*range(1, 31)),
        set(),
        first_run=True,
        backfill=2,
        announced={"https://b.example/30"},
        flood_threshold=3,
    )
    assert ids(chosen.announce) == ["e29"]
    assert ids(chosen.repeated) == ["e30"]
    assert len(chosen.mark_seen) == 28 and chosen.flooded == ()


feeds_of_entries = st.lists(
    st.builds(
        Entry,
        id=st.sampled_from([f"e{n}" for n in range(30)]),
        link=st.one_of(st.none(), st.sampled_from([f"https://b.example/{n}" for n in range(8)])),
    ),
    max_size=40,
)


@given(
    feed=feeds_of_entries,
    known=st.sets(st.sampled_from([f"e{n}" for n in range(30)])),
    announced=st.sets(st.sampled_from([f"https://b.example/{n}" for n in range(8)])),
    first_run=st.booleans(),
    threshold=st.integers(0, 12),
    max_posts=st.integers(1, 5),
)
def test_every_new_entry_has_exactly_one_fate_and_no_link_goes_out_twice(
    feed, known, announced, first_run, threshold, max_posts
):
    chosen = select_new(
        feed,
        known,
        first_run=first_run,
        backfill=3,
        max_posts=max_posts,
        announced=announced,
        flood_threshold=threshold,
    )
    fates = [
        *chosen.announce,
        *chosen.waiting,
        *chosen.mark_seen,
        *chosen.repeated,
        *chosen.flooded,
    ]
    assert sorted(ids(fates)) == sorted({entry.id for entry in feed} - known)
    going_out = [link_key(e.link) for e in (*chosen.announce, *chosen.waiting) if e.link]
    assert len(going_out) == len(set(going_out))
    assert not set(going_out) & announced
    if chosen.flooded:
        assert not going_out and len(chosen.flooded) > threshold > 0
        assert 2 * len(chosen.flooded) > len({entry.id for entry in feed})


# -- what the state remembers ---------------------------------------------------


def test_one_link_is_claimed_once_per_account_until_released(backend):
    toot = Toot(text="t")
    first = make_entry(1, link="https://b.example/post")
    second = make_entry(2, link="https://B.EXAMPLE/post#again")
    with backend.open() as state:
        assert state.mark_pending("a", first, "k1", toot, account="home") is not None
        assert state.mark_pending("b", second, "k2", toot, account="home") is None
        assert state.known_ids("b") == set()
        assert state.mark_pending("b", second, "k2", toot, account="work") is not None
        assert state.announced_links("home", ["https://b.example/post", "https://b.example/x"]) == {
            "https://b.example/post"
        }
        # The claim is the entry's own: pending again wins, another entry loses.
        assert state.mark_pending("a", first, "k1", toot, account="home") is not None
        assert state.mark_pending("b", second, "k2", toot, account="home") is None

        state.mark_posted("a", first.id, Posted(id="1", url=None))
        assert state.forget("a", first.id)
        assert state.mark_pending("b", second, "k2", toot, account="home") is not None
        state.mark_failed("b", second.id, "refused")
        assert state.announced_links("home", ["https://b.example/post"]) == set()
        assert state.mark_pending("a", first, "k1", toot, account="home") is not None
        assert state.drop_pending("a") == 1
        assert state.announced_links("home", ["https://b.example/post"]) == set()


def test_a_state_file_from_before_gets_its_links_from_posted_and_pending_entries(tmp_path):
    path = tmp_path / "state.sqlite3"
    toot = Toot(text="t")
    with SqliteState.open(path) as state:
        state.mark_seen("blog", [make_entry(1)])
        state.mark_pending("blog", make_entry(2), "k2", toot, account="work")
        state.mark_posted("blog", "id-2", Posted(id="2", url=None))
        state.mark_pending(
            "blog", make_entry(3, link="https://B.example/3#x"), "k3", toot, account="work"
        )
    # What an older crossposter wrote: no table of links, version 2.
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE announced_links")
        db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    db.close()

    links = [f"https://b.example/{n}" for n in (1, 2, 3)]
    # Exported as it is, it says its version: the import derives the links.
    with SqliteState.open_read_only(path) as view:
        export = view.export_data()
    assert export["version"] == 2 and "announced_links" not in export
    with SqliteState.open(tmp_path / "restored.sqlite3") as restored:
        restored.replace_with(export)
        assert restored.announced_links(DEFAULT_ACCOUNT, links) == set(links[1:])

    with SqliteState.open(path) as state:
        assert state.announced_links(DEFAULT_ACCOUNT, links) == set(links[1:])


# -- end to end -------------------------------------------------------------------


def run(config: str, *options: str) -> int:
    return main(["run", "--config", config, *options])


def errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def statuses_of(api) -> list[str]:
    return [status["text"] for status in api.statuses]


def moved(*numbers: int) -> str:
    """The blog with these articles, every guid changed, every link the same."""
    return rss(
        [
            blog.article(n, guid="https://blog.example.org/new/{n}")
            for n in sorted(numbers, reverse=True)
        ]
    )


def blog_config(tmp_path, api, feeds, extra: str = "", backend: Backend | None = None) -> str:
    return write_config(
        tmp_path,
        api,
        f"- {{name: blog, url: '{feeds.url('/feed')}', max_posts_per_run: 50{extra}}}",
        post_retry_seconds=0.2,
        **(backend.settings if backend else {}),
    )


def entry_statuses(tmp_path, backend: Backend | None = None) -> dict[str, str]:
    """Entry id → status, in the state file of tmp_path or on `backend`."""
    backend = backend or Backend("sqlite", str(tmp_path / "state.sqlite3"))
    with backend.open_read_only() as state:
        return {entry.entry_id: entry.status for entry in state.entries(limit=1000)}


def test_a_feed_that_changes_every_guid_announces_nothing_again(
    tmp_path, api, feeds, token, caplog
):
    feeds.set_feed("/feed", blog.feed_of(*range(1, 13)))
    config = blog_config(tmp_path, api, feeds, ", backfill: 12")
    assert run(config) == 0
    assert len(api.statuses) == 12

    feeds.set_feed("/feed", moved(*range(1, 13)))
    caplog.clear()
    assert run(config) == 0

    assert len(api.statuses) == 12
    renamed = {f"https://blog.example.org/new/{n}" for n in range(1, 13)}
    assert {entry_statuses(tmp_path)[guid] for guid in renamed} == {"seen"}
    # Twelve new guids, but none new to the followers: no flood to report.
    assert errors(caplog) == []
    assert "https://blog.example.org/7/ was already announced" in caplog.text


def test_a_flood_is_recorded_not_posted_and_said_once(
    tmp_path, api, feeds, token, caplog, backend
):
    feeds.set_feed("/feed", blog.feed_of(*range(1, 6)))
    config = blog_config(tmp_path, api, feeds, backend=backend)
    assert run(config) == 0

    feeds.set_feed("/feed", blog.feed_of(*range(1, 21)))
    caplog.clear()
    assert run(config, "-q") == 0

    assert api.statuses == []
    [error] = errors(caplog)
    assert "feed blog: 15 new entries" in error
    assert "state forget" in error and "backfill" in error
    statuses = entry_statuses(tmp_path, backend)
    assert len(statuses) == 20 and set(statuses.values()) == {"seen"}

    # Nothing goes out later either, unless a person says so.
    assert run(config) == 0
    assert api.statuses == []
    assert main(["state", "forget", "blog", blog.article(20)["guid"], "--config", config]) == 0
    assert run(config) == 0
    [status] = statuses_of(api)
    assert "https://blog.example.org/20/" in status


def test_flood_threshold_0_lets_a_flood_through(tmp_path, api, feeds, token):
    feeds.set_feed("/feed", blog.feed_of(*range(1, 6)))
    config = blog_config(tmp_path, api, feeds, ", flood_threshold: 0")
    assert run(config) == 0

    feeds.set_feed("/feed", blog.feed_of(*range(1, 21)))
    assert run(config) == 0

    assert len(api.statuses) == 15


def test_flood_threshold_is_also_a_default(tmp_path, api, feeds, token):
    feeds.set_feed("/feed", blog.feed_of(1, 2))
    config = write_config(
        tmp_path,
        api,
        f"- {{name: blog, url: '{feeds.url('/feed')}'}}",
        defaults="{flood_threshold: 2}",
    )
    assert run(config) == 0
    feeds.set_feed("/feed", blog.feed_of(*range(1, 6)))
    assert run(config) == 0
    assert api.statuses == []


def two_feeds(
    tmp_path, api, feeds, second_account: str = "", backend: Backend | None = None, **settings
) -> str:
    feeds.set_feed("/a", blog.feed_of(1))
    feeds.set_feed("/b", rss([blog.article(1, guid="b-1")]))
    config = write_config(
        tmp_path,
        api,
        f"""
        - {{name: a, url: '{feeds.url("/a")}'}}
        - {{name: b, url: '{feeds.url("/b")}'{second_account}}}
        """,
        **(backend.settings if backend else {}),
        **settings,
    )
    assert run(config) == 0
    return config


def test_two_feeds_of_one_account_with_one_link_announce_it_once(
    tmp_path, api, feeds, token, backend
):
    config = two_feeds(tmp_path, api, feeds, backend=backend)
    feeds.set_feed("/a", blog.feed_of(1, 2))
    feeds.set_feed("/b", rss([blog.article(2, guid="b-2"), blog.article(1, guid="b-1")]))

    assert run(config) == 0

    [status] = statuses_of(api)
    assert "https://blog.example.org/2/" in status
    assert entry_statuses(tmp_path, backend)["b-2"] == "seen"


def test_the_link_is_compared_without_its_fragment_and_the_hosts_case(tmp_path, api, feeds, token):
    config = two_feeds(tmp_path, api, feeds)
    feeds.set_feed("/a", blog.feed_of(1, 2))
    assert run(config) == 0
    assert len(api.statuses) == 1

    again = blog.article(2, guid="b-2", link="HTTPS://Blog.Example.ORG/2/#comments")
    feeds.set_feed("/b", rss([again, blog.article(1, guid="b-1")]))
    assert run(config) == 0

    assert len(api.statuses) == 1


def test_two_accounts_each_announce_the_link(tmp_path, api, feeds, monkeypatch, token):
    monkeypatch.setenv("WORK_TOKEN", "work-token")
    with MastodonAPI(valid_tokens={"work-token"}) as work:
        config = two_feeds(
            tmp_path,
            api,
            feeds,
            ", account: work",
            accounts=f"{{work: {{instance: '{work.base_url}', access_token_env: WORK_TOKEN}}}}",
        )
        feeds.set_feed("/a", blog.feed_of(1, 2))
        feeds.set_feed("/b", rss([blog.article(2, guid="b-2"), blog.article(1, guid="b-1")]))

        assert run(config) == 0

        assert len(api.statuses) == len(work.statuses) == 1


def test_an_export_from_before_imports_with_its_announced_links(tmp_path, api, feeds, token):
    old_export = {
        "format": "crossposter-state",
        "version": 2,
        "exported_at": "20261101T090000Z",
        "feeds": [
            {
                "name": "blog",
                "url": feeds.url("/feed"),
                "etag": None,
                "last_modified": None,
                "last_fetch": "20261101T090000Z",
                "last_result": "ok",
                "last_parsed": "20261101T090000Z",
            }
        ],
        "entries": [
            {
                "feed": "blog",
                "entry_id": f"https://blog.example.org/?p={n}",
                "status": status,
                "link": f"https://blog.example.org/{n}/",
                "title": f"Article {n}",
                "first_seen": "20261101T090000Z",
                "last_seen": "20261101T090000Z",
                "idempotency_key": None,
                "toot": None,
                "pending_since": None,
                "toot_id": str(n) if status == "posted" else None,
                "toot_url": None,
                "reason": None,
                "updated": "20261101T090000Z",
            }
            for n, status in ((1, "seen"), (2, "posted"))
        ],
        "instances": [],
    }
    backup = tmp_path / "old.json"
    backup.write_text(json.dumps(old_export), encoding="utf-8")
    config = blog_config(tmp_path, api, feeds)
    assert main(["state", "import", str(backup), "--config", config]) == 0

    # Article 2 comes back under a new guid, article 3 is new.
    feeds.set_feed(
        "/feed", rss([blog.article(3), blog.article(2, guid="moved-2"), blog.article(1)])
    )
    assert run(config) == 0

    [status] = statuses_of(api)
    assert "https://blog.example.org/3/" in status
