"""The state's contract: every public method of the store, on both backends (a SQLite file and
a real PostgreSQL database), each test naming the methods it holds to their word.

`test_every_public_method_has_a_contract_test` fails when a method is added to the store
without one here.
"""

from __future__ import annotations

import inspect
import json
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossposter.errors import LeaseLost, StateError
from crossposter.models import (
    AccountProfile,
    Article,
    Entry,
    Failing,
    Heartbeat,
    ImageRef,
    Posted,
    Toot,
    Validators,
    WebSubSubscription,
)
from crossposter.state import SqliteState, State, now_utc
from crossposter.state.records import entry_from_json, entry_json
from crossposter.state.schema import SCHEMA_VERSION

from support.builders import make_entry, make_limits

COVERED: set[str] = set()
EXPORTS = Path(__file__).parent / "exports"
TOOT = Toot(text="Héllo «x»", language="fr", hashtags=("#a",), length=9, limit=500)
AT = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def covers(*methods: str):
    """Declares the store methods a contract test holds to their word."""
    COVERED.update(methods)
    return lambda test: test


@pytest.fixture
def state(backend):
    with backend.open() as opened:
        yield opened


def posted(state: State, n: int, feed: str = "blog", account: str = "default") -> None:
    state.mark_pending(feed, make_entry(n), f"key-{n}", TOOT, account=account)
    state.mark_posted(
        feed, f"id-{n}", Posted(id=str(n), url=f"https://m.example/@me/{n}"), account=account
    )


def test_every_public_method_has_a_contract_test():
    from crossposter.state.postgres import PostgresState

    public = {
        name
        for store in (SqliteState, PostgresState)
        for name, _ in inspect.getmembers(store, callable)
        if not name.startswith("_")
    }
    assert sorted(public - COVERED) == []


# -- life cycle ----------------------------------------------------------------------


@covers("open", "close", "open_read_only")
def test_what_one_opening_writes_the_next_reads_and_a_view_writes_nothing(backend):
    with backend.open() as state:
        state.record_fetch("blog", "u", "ok", at=AT)
    with backend.open_read_only() as view:
        assert [feed.name for feed in view.feeds()] == ["blog"]
        with pytest.raises(StateError):
            view.record_fetch("other", "u", "ok")


@covers("batch")
def test_a_batch_commits_together_and_a_write_guarding_a_post_is_durable_inside_it(backend):
    with backend.open() as state, pytest.raises(RuntimeError), state.batch():
        state.mark_seen("blog", [make_entry(1)])
        state.mark_pending("blog", make_entry(2), "key-2", TOOT, account="default")
        raise RuntimeError("the process dies mid-batch")
    with backend.open() as state:
        # The pending post (durable) and what was written before it survive; nothing is lost.
        assert state.known_ids("blog") == {"id-1", "id-2"}
        assert [post.idempotency_key for post in state.pending("blog")] == ["key-2"]


@covers("preview_copy")
def test_a_preview_copy_is_writable_and_changes_nothing(state):
    state.record_fetch("blog", "u", "ok")
    state.save_settings_fingerprint("blog", "f1")
    with state.preview_copy() as copy:
        copy.mark_seen("blog", [make_entry(1)])
        assert copy.settings_fingerprints() == {"blog": "f1"}
    assert state.known_ids("blog") == set()


@covers("schema_version")
def test_a_new_state_is_at_the_latest_schema_version(state):
    assert state.schema_version() == SCHEMA_VERSION


# -- feeds -----------------------------------------------------------------------------


@covers("record_fetch", "feed", "feeds")
def test_a_fetch_is_recorded_and_a_parse_kept_until_the_next(state):
    state.record_fetch("b", "https://b/feed", "ok", parsed_at=AT, at=AT)
    state.record_fetch("a", "https://a/feed", "304", at=AT + timedelta(hours=1))
    state.record_fetch("b", "https://b/moved", "304", at=AT + timedelta(hours=1))
    b = state.feed("b")
    assert (b.url, b.last_result, b.last_parsed, b.last_fetch) == (
        "https://b/moved",
        "304",
        AT,
        AT + timedelta(hours=1),
    )
    assert [feed.name for feed in state.feeds()] == ["a", "b"]
    assert state.feed("nothing") is None


@covers("save_validators")
def test_validators_are_kept_per_feed(state):
    state.record_fetch("blog", "u", "ok")
    state.save_validators("blog", Validators(etag='"e"', last_modified="Tue"))
    assert state.feed("blog").validators == Validators('"e"', "Tue")


@covers("settings_fingerprints", "save_settings_fingerprint")
def test_settings_fingerprints_are_replaced_per_feed(state):
    state.save_settings_fingerprint("blog", "f1")
    state.save_settings_fingerprint("blog", "f2")
    state.save_settings_fingerprint("news", "n1")
    assert state.settings_fingerprints() == {"blog": "f2", "news": "n1"}


@covers("next_polls", "set_next_poll")
def test_next_polls_of_some_feeds_or_all(state):
    for name in ("a", "b", "c"):
        state.record_fetch(name, "u", "ok")
    state.set_next_poll("a", AT)
    assert state.next_polls(["a", "b", "nothing"]) == {"a": AT, "b": None}
    assert state.next_polls() == {"a": AT, "b": None, "c": None}


# -- the ledger ------------------------------------------------------------------------


@covers("known_ids", "mark_seen", "status_counts")
def test_mark_seen_never_downgrades_an_entry(state):
    posted(state, 1)
    state.mark_seen("blog", [make_entry(1), make_entry(2)])
    assert state.known_ids("blog") == {"id-1", "id-2"}
    assert state.status_counts("blog") == {"posted": 1, "seen": 1}


@covers("mark_queued", "queued")
def test_a_queued_entry_is_known_kept_whole_and_becomes_pending_when_posted(state):
    whole = make_entry(
        2,
        title="Deux «2»",
        summary_html="<p>Résumé</p>",
        categories=("a", "b"),
        published=AT,
        images=(ImageRef("https://b.example/2.png", "alt"),),
    )
    state.mark_seen("blog", [make_entry(1)])
    state.mark_queued("blog", [whole, make_entry(3)], at=AT)
    state.mark_queued("blog", [make_entry(1)])  # known already: left as it is
    assert state.known_ids("blog") == {"id-1", "id-2", "id-3"}
    assert state.status_counts("blog") == {"seen": 1, "queued": 2}
    assert state.queued("blog") == [whole, make_entry(3)]
    state.mark_pending("blog", whole, "key-2", TOOT, account="default")
    assert state.queued("blog") == [make_entry(3)]
    assert state.status_counts("blog") == {"seen": 1, "queued": 1, "pending": 1}
    # `state mark-seen` drops what waits, queued entries too.
    assert state.drop_pending("blog") == 2
    assert state.status_counts("blog") == {"seen": 3}


@given(
    st.builds(
        Entry,
        id=st.text(min_size=1),
        link=st.none() | st.text(),
        title=st.text(),
        summary_html=st.text(),
        categories=st.lists(st.text()).map(tuple),
        published=st.none() | st.datetimes(timezones=st.just(UTC)),
        language=st.none() | st.text(),
        images=st.lists(st.builds(ImageRef, url=st.text(), alt=st.text())).map(tuple),
        content_base=st.none() | st.text(),
    )
)
def test_a_queued_entry_comes_back_as_it_went_in(entry):
    assert entry_from_json(entry_json(entry)) == entry


@covers("record_failure", "record_success", "failures")
def test_a_failure_is_kept_from_its_first_time_until_a_success(state):
    assert state.failures() == []
    first = state.record_failure("feed", "blog", "timed out", AT)
    assert first == Failing("feed", "blog", AT, "timed out")
    later = state.record_failure("feed", "blog", "HTTP 503", AT + timedelta(hours=2))
    assert later == Failing("feed", "blog", AT, "HTTP 503")  # since its first failure
    state.record_failure("account", "blog", "refused", AT + timedelta(hours=1))
    assert [(f.kind, f.since) for f in state.failures()] == [
        ("feed", AT),
        ("account", AT + timedelta(hours=1)),
    ]
    assert state.record_success("feed", "blog") == later
    assert state.record_success("feed", "blog") is None
    assert [f.kind for f in state.failures()] == ["account"]


@covers("mark_filtered", "entries")
def test_a_filtered_entry_is_seen_with_its_rule_as_reason(state):
    state.mark_filtered("blog", [(make_entry(1), "exclude: title")], at=AT)
    state.mark_seen("news", [make_entry(2)], at=AT + timedelta(hours=1))
    [record] = state.entries("blog")
    assert (record.status, record.reason, record.first_seen) == ("seen", "exclude: title", AT)
    assert [r.entry_id for r in state.entries()] == ["id-2", "id-1"]
    assert [r.entry_id for r in state.entries(limit=1)] == ["id-2"]
    assert state.entries(status="posted") == []


@covers("touch", "prune")
def test_pruning_forgets_entries_gone_for_the_retention_of_the_feeds_own_parses(state):
    state.mark_seen("blog", [make_entry(1), make_entry(2)], at=AT)
    state.touch("blog", ["id-2"], at=AT + timedelta(days=200))
    assert state.prune("blog", timedelta(days=180)) == 0  # never parsed: nothing to measure by
    state.record_fetch("blog", "u", "ok", parsed_at=AT + timedelta(days=200))
    assert state.prune("blog", timedelta(days=180)) == 1
    assert state.known_ids("blog") == {"id-2"}


@covers("mark_pending", "pending")
def test_a_pending_post_keeps_its_key_and_exact_toot_and_claims_its_link(backend):
    with backend.open() as state:
        first = state.mark_pending("blog", make_entry(1), "key-1", TOOT, account="home")
        assert (
            state.mark_pending(
                "news", make_entry(7, link="https://B.example/1#x"), "k7", TOOT, account="home"
            )
            is None
        )
        assert (
            state.mark_pending(
                "news", make_entry(8, link="https://b.example/1"), "k8", TOOT, account="work"
            )
            is not None
        )
    with backend.open() as state:  # as after a crash
        assert state.pending("blog") == [first]
        assert (first.idempotency_key, first.toot, first.label) == ("key-1", TOOT, "id-1")


@covers("mark_pending")
def test_two_sessions_pending_the_same_links_at_once_win_each_once(backend):
    """What two processes do on a database; on a SQLite file, its lock lets one in."""
    links = [f"https://b.example/{n}" for n in range(60)]
    won: dict[str, list[bool]] = {}
    if backend.name == "sqlite":
        with backend.open() as state:
            for feed in ("a", "b"):
                won[feed] = [
                    state.mark_pending(
                        feed, make_entry(n, link=link), f"{feed}{n}", TOOT, account="home"
                    )
                    is not None
                    for n, link in enumerate(links)
                ]
    else:
        start = threading.Barrier(2)

        def claim(feed: str) -> None:
            with backend.open() as state:
                start.wait()
                won[feed] = [
                    state.mark_pending(
                        feed, make_entry(n, link=link), f"{feed}{n}", TOOT, account="home"
                    )
                    is not None
                    for n, link in enumerate(links)
                ]

        threads = [threading.Thread(target=claim, args=(feed,)) for feed in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert [a + b for a, b in zip(won["a"], won["b"], strict=True)] == [1] * len(links)


@covers("announced_links")
def test_announced_links_are_per_account_and_by_link_key(state):
    posted(state, 1, account="home")
    state.mark_pending("blog", make_entry(2), "k2", TOOT, account="home")
    wanted = [f"https://b.example/{n}" for n in range(1, 800)]  # more than one slice
    assert state.announced_links("home", wanted) == set(wanted[:2])
    assert state.announced_links("work", wanted) == set()


@covers("mark_posted")
def test_a_posted_entry_keeps_its_toot_account_and_instance(state):
    state.mark_pending("blog", make_entry(1), "k", TOOT, account="home")
    state.mark_posted(
        "blog", "id-1", Posted(id="9", url="https://m/9"), account="home", instance="https://m"
    )
    [post] = state.announced()
    assert (post.toot_id, post.toot_url, post.account, post.instance, post.status) == (
        "9",
        "https://m/9",
        "home",
        "https://m",
        "posted",
    )
    assert state.pending("blog") == []


@covers("mark_failed")
def test_a_refused_toot_fails_and_releases_its_link(state):
    state.mark_pending("blog", make_entry(1), "k", TOOT, account="home")
    state.mark_failed("blog", "id-1", "too long")
    [record] = state.entries("blog")
    assert (record.status, record.reason) == ("failed", "too long")
    assert state.announced_links("home", ["https://b.example/1"]) == set()


# -- after posting ---------------------------------------------------------------------


@covers("announced", "save_replies")
def test_announced_posts_carry_their_replies(state):
    posted(state, 1)
    posted(state, 2, feed="news")
    state.save_replies("blog", "id-1", [{"id": "r1", "content": "Merci «!»"}], at=AT)
    first, second = state.announced()
    assert (first.replies, first.replies_fetched_at) == ([{"id": "r1", "content": "Merci «!»"}], AT)
    assert second.replies is None
    assert [post.feed for post in state.announced("news")] == ["news"]
    assert len(state.announced(posted_since=now_utc() - timedelta(minutes=5))) == 2
    assert state.announced(posted_since=now_utc() + timedelta(minutes=5)) == []


@covers("claim_hook")
def test_a_hook_is_claimed_once_per_event_and_occurrence(state):
    assert state.claim_hook("blog", "id-1", "posted", "1")
    assert not state.claim_hook("blog", "id-1", "posted", "1")
    assert state.claim_hook("blog", "id-1", "edited", "1")


@covers("posted_entries", "mark_edit_pending")
def test_an_edit_is_recorded_before_its_request(state):
    posted(state, 1)
    posted(state, 2)
    state.record_fetch("blog", "u", "ok", parsed_at=AT)
    assert state.posted_entries("blog", edit_recorded=True) == []
    edited = Toot(text="edited")
    state.mark_edit_pending("blog", "id-1", edited, Article(title="New"))
    [entry, _] = state.posted_entries("blog")
    assert (entry.toot, entry.edit, entry.edit_article) == (TOOT, edited, Article(title="New"))
    assert entry.article == Article.of(make_entry(1))
    assert entry.in_feed
    assert state.posted_entries("blog", edit_recorded=True) == [entry]


@covers("mark_edited")
def test_an_edit_that_went_out_becomes_the_posted_toot(state):
    posted(state, 1)
    edited = Toot(text="edited")
    state.mark_edited("blog", "id-1", AT)  # no edit pending: nothing changes
    assert state.posted_entries("blog")[0].edited_at is None
    state.mark_edit_pending("blog", "id-1", edited, Article(title="New"))
    state.mark_edited("blog", "id-1", AT)
    [entry] = state.posted_entries("blog")
    assert (entry.toot, entry.article, entry.edit, entry.edited_at) == (
        edited,
        Article(title="New"),
        None,
        AT,
    )
    assert state.announced()[0].edited_at == AT


@covers("drop_edit")
def test_a_refused_edit_is_dropped_and_its_article_kept_as_the_reference(state):
    posted(state, 1)
    state.mark_edit_pending("blog", "id-1", Toot(text="edited"), Article(title="New"))
    state.drop_edit("blog", "id-1")
    [entry] = state.posted_entries("blog")
    assert (entry.toot, entry.article, entry.edit, entry.edit_article, entry.edited_at) == (
        TOOT,
        Article(title="New"),
        None,
        None,
        None,
    )
    state.drop_edit("blog", "id-1")  # nothing pending: nothing changes
    assert state.posted_entries("blog")[0].article == Article(title="New")


@covers("mark_deleted", "mark_retracted")
def test_a_toot_deleted_or_retracted_leaves_the_posted_entries_but_stays_known(state):
    posted(state, 1)
    posted(state, 2)
    assert state.mark_deleted("blog", "id-1", "gone by hand")
    assert state.mark_retracted("blog", "id-2")
    assert not state.mark_retracted("blog", "id-3")
    assert state.posted_entries("blog") == []
    assert {post.status for post in state.announced()} == {"deleted", "retracted"}
    assert state.known_ids("blog") == {"id-1", "id-2"}


@covers("record_check")
def test_the_first_gone_answer_is_kept_until_the_article_is_there_again(state):
    posted(state, 1)
    state.record_check("blog", "id-1", AT, gone=True)
    state.record_check("blog", "id-1", AT + timedelta(hours=1), gone=True)
    state.record_check("blog", "id-1", AT + timedelta(hours=2), gone=None)
    [entry] = state.posted_entries("blog")
    assert (entry.checked_at, entry.gone_since) == (AT + timedelta(hours=2), AT)
    state.record_check("blog", "id-1", AT + timedelta(hours=3), gone=False)
    assert state.posted_entries("blog")[0].gone_since is None


def test_a_worker_that_lost_its_lease_records_no_pending_post_nor_edit(backend):
    """A replica stalled past its lease (SIGSTOP, a frozen VM) must not post: the lease is
    confirmed in the very transaction that records the pending post."""
    with backend.open() as state:
        posted(state, 1)
        if state.shared:
            assert state.take_leases(["blog"], "stalled", timedelta(seconds=-1)) == {"blog"}
            assert state.take_leases(["blog"], "new", timedelta(minutes=2)) == {"blog"}
            with pytest.raises(LeaseLost, match="stalled"):
                state.mark_pending("blog", make_entry(2), "k2", TOOT, account="a", worker="stalled")
            with pytest.raises(LeaseLost):
                state.mark_edit_pending("blog", "id-1", TOOT, Article(), worker="stalled")
            assert state.pending("blog") == []
            assert state.posted_entries("blog")[0].edit is None
        assert state.mark_pending("blog", make_entry(2), "k2", TOOT, account="a", worker="new")
        state.mark_edit_pending("blog", "id-1", TOOT, Article(), worker="new")
        assert state.posted_entries("blog")[0].edit == TOOT


@covers("confirm_lease")
def test_a_deletion_is_asked_for_only_by_the_lease_s_holder(state):
    """A deletion records no pending row: the lease is confirmed on its own before it."""
    if state.shared:
        assert state.take_leases(["blog"], "stalled", timedelta(seconds=-1)) == {"blog"}
        assert state.take_leases(["blog"], "new", timedelta(minutes=2)) == {"blog"}
        with pytest.raises(LeaseLost, match="stalled"):
            state.confirm_lease("blog", "stalled")
    state.confirm_lease("blog", "new")


@covers("removal_counts", "hold_deletions", "allow_deletions")
def test_removal_checks_count_over_a_window_and_deletions_are_held_until_allowed(state):
    state.record_fetch("blog", "u", "ok", at=AT)
    for n in (1, 2, 3):
        posted(state, n)
    state.record_check("blog", "id-1", AT, gone=True)
    state.record_check("blog", "id-2", AT + timedelta(hours=1), gone=True)
    state.record_check("blog", "id-3", AT + timedelta(hours=2), gone=False)
    assert state.removal_counts("blog", AT) == (3, 2)
    assert state.removal_counts("blog", AT + timedelta(minutes=90)) == (1, 0)
    assert state.removal_counts("other", AT) == (0, 0)

    state.hold_deletions("blog", AT + timedelta(hours=2))
    state.hold_deletions("blog", AT + timedelta(hours=3))  # held since the first time
    assert state.feed("blog").deletions_held_since == AT + timedelta(hours=2)
    assert state.allow_deletions("blog", AT + timedelta(hours=4))
    assert not state.allow_deletions("other", AT)
    assert state.feed("blog").deletions_held_since is None
    # The window starts again; what was gone before is let go, and counts no more.
    assert state.removal_counts("blog", AT) == (0, 0)
    state.record_check("blog", "id-1", AT + timedelta(hours=5), gone=True)
    state.record_check("blog", "id-3", AT + timedelta(hours=5), gone=True)
    assert state.removal_counts("blog", AT) == (2, 1)

    state.hold_deletions("blog", AT + timedelta(hours=6))
    state.hold_deletions("blog", None)  # every counted article answers again
    assert state.feed("blog").deletions_held_since is None


@covers("record_deletion", "deletions_since")
def test_deletions_are_counted_per_account_and_a_day_kept(state):
    now = now_utc()
    state.record_deletion("home", now - timedelta(days=2))
    state.record_deletion("home", now - timedelta(minutes=10))
    state.record_deletion("work", now - timedelta(minutes=5))
    assert state.deletions_since("home", now - timedelta(minutes=30)) == 1
    assert state.deletions_since("home", now - timedelta(days=3)) == 1  # the old one forgotten


# -- what toots leave on the instance ---------------------------------------------------


@covers("record_unused_uploads", "unused_uploads", "forget_unused_upload")
def test_unused_uploads_are_kept_per_account_until_forgotten(state):
    state.record_unused_uploads("https://m.example", "home", ["2", "1"], at=AT)
    state.record_unused_uploads("https://m.example", "home", ["1", "3"], at=AT + timedelta(1))
    state.record_unused_uploads("https://m.example", "work", ["9"], at=AT)
    assert state.unused_uploads("https://m.example", "home") == ["1", "2", "3"]
    state.forget_unused_upload("https://m.example", "home", "2")
    assert state.unused_uploads("https://m.example", "home") == ["1", "3"]
    assert state.unused_uploads("https://other.example", "home") == []
    assert state.unused_uploads("https://m.example", "work") == ["9"]


@covers("save_card", "claim_card_warning")
def test_a_toots_card_is_unknown_until_saved_and_a_feed_warned_once(backend):
    with backend.open() as state:
        posted(state, 1)
        posted(state, 2)
        assert [post.card for post in state.announced()] == [None, None]
        state.save_card("blog", "id-1", True)
        state.save_card("blog", "id-2", False)
        assert [post.card for post in state.announced()] == [True, False]
        state.record_fetch("blog", "u", "ok")
        with state.batch():
            assert state.claim_card_warning("blog") is True
    with backend.open() as other:
        assert other.claim_card_warning("blog") is False, "once, whichever process asks"


# -- between processes and runs ----------------------------------------------------------


@covers("cached_limits", "save_limits")
def test_instance_limits_are_cached_for_a_while(state):
    state.save_limits("https://m.example", make_limits(5000))
    cached = state.cached_limits("https://m.example", timedelta(hours=1))
    assert (cached.max_characters, cached.source) == (5000, "cached")
    assert state.cached_limits("https://m.example", timedelta(seconds=-1)) is None
    assert state.cached_limits("https://other.example", timedelta(hours=1)) is None


@covers("account_profile", "save_account_profile")
def test_each_accounts_profile_is_kept_by_instance_and_name(state):
    shown = AccountProfile("Jean «JF»", "jf@m.example", "https://m.example/a.png", "data:x")
    assert state.account_profile("https://m.example", "default") is None
    state.save_account_profile("https://m.example", "default", shown)
    state.save_account_profile("https://m.example", "work", replace(shown, acct="w@m.example"))
    assert state.account_profile("https://m.example", "default") == shown
    assert state.account_profile("https://m.example", "work").acct == "w@m.example"
    assert state.account_profile("https://other.example", "default") is None
    state.save_account_profile("https://m.example", "default", replace(shown, avatar=""))
    assert state.account_profile("https://m.example", "default").avatar == ""


@covers("record_rate_limit", "rate_limited_until")
def test_a_rate_limit_holds_until_its_reset_for_its_account_only(backend):
    reset = (now_utc() + timedelta(minutes=5)).replace(microsecond=0)
    with backend.open() as state:
        with state.batch():
            state.record_rate_limit("https://m", "home", reset)
            # Seen by another process at once, whatever batch this one is in.
            with backend.open_read_only() as other:
                assert other.rate_limited_until("https://m", "home") == reset
        assert state.rate_limited_until("https://m", "work") is None
        state.record_rate_limit("https://m", "home", now_utc() - timedelta(seconds=1))
        assert state.rate_limited_until("https://m", "home") is None


@covers("record_heartbeat", "heartbeat", "newest_heartbeat")
def test_heartbeats_are_kept_per_worker_and_the_newest_found_by_prefix(state):
    old = Heartbeat(60.0, AT, 0, AT)
    new = Heartbeat(60.0, AT + timedelta(minutes=1), 75, AT)
    state.record_heartbeat("host-1", old)
    state.record_heartbeat("host-2", new)
    state.record_heartbeat("other-3", Heartbeat(60.0, AT + timedelta(hours=1), 0, None))
    assert state.heartbeat("host-1") == old
    assert state.heartbeat("nobody") is None
    assert state.newest_heartbeat("host-") == ("host-2", new)
    assert state.newest_heartbeat("none-") is None


@covers("take_leases", "renew_leases", "release_leases", "leases")
def test_a_feed_is_leased_to_one_worker_at_a_time_where_several_share_the_state(backend):
    minute = timedelta(minutes=1)
    with backend.open() as first, backend.open() if backend.name == "postgres" else first as second:
        assert first.take_leases(["a", "b"], "w1", minute) == {"a", "b"}
        if first.shared:
            assert second.take_leases(["b", "c"], "w2", minute) == {"c"}
            assert second.renew_leases(["a", "c"], "w2", minute) == {"c"}
            assert [(lease.feed, lease.worker) for lease in first.leases()] == [
                ("a", "w1"),
                ("b", "w1"),
                ("c", "w2"),
            ]
            first.release_leases(["b"], "w1")
            assert second.take_leases(["b"], "w2", minute) == {"b"}
        else:  # a lock file lets one process in: every lease is its own
            assert first.renew_leases(["a"], "w1", minute) == {"a"}
            first.release_leases(["a"], "w1")
            assert first.leases() == []


# -- a person's repairs ------------------------------------------------------------------


@covers("forget")
def test_a_forgotten_entry_is_new_again_with_its_link_and_validators_released(state):
    state.record_fetch("blog", "u", "ok")
    state.save_validators("blog", Validators(etag='"e"'))
    posted(state, 1, account="home")
    assert state.forget("blog", "id-1")
    assert not state.forget("blog", "id-1")
    assert state.known_ids("blog") == set()
    assert state.announced_links("home", ["https://b.example/1"]) == set()
    assert state.feed("blog").validators == Validators()


@covers("retry_failed")
def test_failed_entries_are_retried_per_feed_or_all(state):
    for feed in ("blog", "news"):
        state.record_fetch(feed, "u", "ok")
        state.save_validators(feed, Validators(etag='"e"'))
        state.mark_pending(feed, make_entry(1), f"k-{feed}", TOOT, account="default")
        state.mark_failed(feed, "id-1", "refused")
    assert state.retry_failed("blog") == 1
    assert state.known_ids("blog") == set() and state.known_ids("news") == {"id-1"}
    assert state.feed("blog").validators == Validators()
    assert state.retry_failed() == 1


@covers("drop_pending")
def test_dropped_pending_posts_become_seen_and_release_their_links(state):
    state.mark_pending("blog", make_entry(1), "k1", TOOT, account="home")
    posted(state, 2, account="home")
    assert state.drop_pending("blog") == 1
    assert state.pending("blog") == []
    assert state.status_counts("blog") == {"seen": 1, "posted": 1}
    assert state.announced_links("home", ["https://b.example/1", "https://b.example/2"]) == {
        "https://b.example/2"
    }


@covers("export_data", "replace_with")
def test_an_export_replaces_a_state_whole_and_reads_back_the_same(state, tmp_path):
    posted(state, 1)
    state.mark_filtered("blog", [(make_entry(2), "exclude: title")])
    state.save_limits("https://m.example", make_limits())
    state.claim_hook("blog", "id-1", "posted", "1")
    state.record_deletion("default", now_utc())
    state.save_card("blog", "id-1", False)
    state.record_unused_uploads("https://m.example", "default", ["7"])
    exported = state.export_data()
    assert exported["version"] == SCHEMA_VERSION
    with SqliteState.open(tmp_path / "other.sqlite3") as other:
        other.mark_seen("gone", [make_entry(9)])
        other.replace_with(exported)
        again = other.export_data()
    del exported["exported_at"], again["exported_at"]
    assert again == exported
    newer = {**exported, "version": SCHEMA_VERSION + 1}
    with pytest.raises(StateError, match="newer crossposter"):
        state.replace_with(newer)
    with pytest.raises(StateError, match="no such column"):
        state.replace_with({**exported, "feeds": [{"name": "x", "url": "u", "colour": "red"}]})


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION + 1))
@covers("replace_with")
def test_every_export_crossposter_ever_wrote_still_imports(state, version):
    """tests/exports/version-N.json: what crossposter wrote at state version N (made by the
    code of that time), one of everything it held."""
    data = json.loads((EXPORTS / f"version-{version}.json").read_text(encoding="utf-8"))
    assert data["version"] == version
    state.replace_with(data)
    assert state.known_ids("blog") == {f"id-{n}" for n in range(1, 8)}
    assert state.feed("blog").last_parsed == AT
    assert [post.idempotency_key for post in state.pending("blog")] == ["key-4"]
    assert state.pending("blog")[0].toot.text.startswith("Héllo")
    # Links announced before they were recorded count as the default account's.
    assert state.announced_links(
        "default",
        [
            "https://blog.example.org/4/",
            "https://blog.example.org/5/",
            "https://blog.example.org/6/",
        ],
    ) == {"https://blog.example.org/4/", "https://blog.example.org/5/"}
    announced = {post.entry_id: post for post in state.announced()}
    assert announced["id-5"].posted_at is not None
    again = state.export_data()
    assert again["version"] == SCHEMA_VERSION


@covers("in_memory", "loaded_from", "probe_writable")
def test_the_sqlite_backends_own_openings(tmp_path, backend):
    with backend.open() as state:
        state.mark_seen("blog", [make_entry(1)])
        with SqliteState.loaded_from(state) as copy:
            assert copy.known_ids("blog") == {"id-1"}
    with SqliteState.in_memory() as memory:
        assert memory.feeds() == []
    path = tmp_path / "probe.sqlite3"
    with SqliteState.open(path):
        pass
    SqliteState.probe_writable(path)


# -- WebSub subscriptions ------------------------------------------------------------------


def websub(feed: str = "blog", callback_id: str = "c" * 32) -> WebSubSubscription:
    return WebSubSubscription(
        feed=feed,
        hub="https://hub.example.org/",
        topic=f"https://blog.example.org/{feed}/feed",
        callback_id=callback_id,
        secret="s" * 64,
        requested_at=AT,
    )


@covers("save_websub_subscription", "websub_subscription", "websub_subscription_by_callback")
def test_a_feed_has_one_websub_subscription_found_by_feed_or_by_callback(state):
    assert state.websub_subscription("blog") is None
    state.save_websub_subscription(websub())
    state.save_websub_subscription(websub("news", "n" * 32))
    assert state.websub_subscription("blog") == websub()
    assert state.websub_subscription_by_callback("n" * 32) == websub("news", "n" * 32)
    assert state.websub_subscription_by_callback("x" * 32) is None
    # Saved again (a new hub): the feed's one subscription, its old callback gone.
    moved = replace(websub(callback_id="d" * 32), hub="https://other.example/")
    state.save_websub_subscription(moved)
    assert state.websub_subscription("blog") == moved
    assert state.websub_subscription_by_callback("c" * 32) is None


@covers("set_websub_lease", "delete_websub_subscription")
def test_a_websub_lease_is_kept_and_a_subscription_may_go(state):
    state.save_websub_subscription(websub())
    state.set_websub_lease("c" * 32, AT + timedelta(days=7))
    assert state.websub_subscription("blog").lease_until == AT + timedelta(days=7)
    state.delete_websub_subscription("blog")
    assert state.websub_subscription("blog") is None


def test_no_export_carries_a_websub_subscription_nor_its_secret(state):
    state.save_websub_subscription(websub())
    exported = json.dumps(state.export_data(), default=str)
    assert "s" * 64 not in exported
    assert "hub.example.org" not in exported


def test_a_view_sees_the_websub_subscription_another_process_saved(backend):
    with backend.open() as state:
        state.save_websub_subscription(websub())
    with backend.open_read_only() as view:
        assert view.websub_subscription_by_callback("c" * 32) == websub()
