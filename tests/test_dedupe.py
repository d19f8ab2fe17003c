"""Which entries are new, and which go out on this run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crossposter.feeds.select import select_new
from crossposter.models import Entry

from support.builders import make_entry

BASE = datetime(2026, 1, 1, tzinfo=UTC)


def entries(*numbers: int) -> list[Entry]:
    """Entries as a feed lists them, newest first; entry n is published on day n."""
    return [
        make_entry(n, id=f"e{n}", published=BASE + timedelta(days=n))
        for n in sorted(numbers, reverse=True)
    ]


def ids(selected) -> list[str]:
    return [entry.id for entry in selected]


def test_first_run_records_everything_and_announces_nothing():
    chosen = select_new(entries(1, 2, 3), set(), first_run=True)
    assert chosen.announce == ()
    assert sorted(ids(chosen.mark_seen)) == ["e1", "e2", "e3"]


def test_first_run_with_backfill_announces_the_newest_oldest_first():
    chosen = select_new(entries(1, 2, 3, 4), set(), first_run=True, backfill=2)
    assert ids(chosen.announce) == ["e3", "e4"]
    assert sorted(ids(chosen.mark_seen)) == ["e1", "e2"]


def test_later_runs_announce_unknown_entries_oldest_first():
    chosen = select_new(entries(1, 2, 3, 4), {"e1", "e2"}, first_run=False)
    assert ids(chosen.announce) == ["e3", "e4"]
    assert chosen.mark_seen == ()


@pytest.mark.parametrize("first_run", [True, False])
def test_at_most_max_posts_go_out_and_the_rest_wait(first_run):
    chosen = select_new(
        entries(*range(1, 11)), set(), first_run=first_run, backfill=10, max_posts=3
    )
    assert ids(chosen.announce) == ["e1", "e2", "e3"]
    assert ids(chosen.waiting) == [f"e{n}" for n in range(4, 11)]


def test_undated_entries_keep_the_feed_order_newest_first():
    feed = [Entry(id="c", link=None), Entry(id="b", link=None), Entry(id="a", link=None)]
    chosen = select_new(feed, {"a"}, first_run=False)
    assert ids(chosen.announce) == ["b", "c"]


def test_an_entry_repeated_in_a_feed_is_announced_once():
    feed = entries(1, 2) + entries(2)
    chosen = select_new(feed, set(), first_run=False)
    assert ids(chosen.announce) == ["e1", "e2"]


def test_same_date_keeps_feed_order():
    same = BASE
    feed = [
        Entry(id="second", link=None, published=same),
        Entry(id="first", link=None, published=same),
    ]
    chosen = select_new(feed, set(), first_run=False)
    assert ids(chosen.announce) == ["first", "second"]


# -- queued: selected, not yet posted ---------------------------------------------


def test_backfill_20_with_3_per_run_announces_all_20_over_7_runs_oldest_first_each_once():
    feed = entries(*range(1, 31))  # 30 in the feed; backfill asks for the newest 20
    known: set[str] = set()
    queued: list = []
    announced: list[str] = []
    for run in range(7):
        chosen = select_new(
            feed, known, first_run=run == 0, backfill=20, max_posts=3, flood_threshold=10,
            queued=queued,
        )
        assert chosen.flooded == ()
        announced += ids(chosen.announce)
        known |= {entry.id for entry in (*chosen.recorded, *chosen.announce, *chosen.queue)}
        queued = list(chosen.waiting)
    assert announced == [f"e{n}" for n in range(11, 31)]
    assert queued == []


def test_queued_entries_go_out_with_the_new_ones_oldest_first_even_gone_from_the_feed():
    queued = entries(2, 3)  # queued by an earlier run; 2 has left the feed since
    feed = entries(3, 4, 5)
    chosen = select_new(
        feed, {"e1", "e2", "e3"}, first_run=False, max_posts=2, queued=queued[::-1]
    )
    assert ids(chosen.announce) == ["e2", "e3"]
    assert ids(chosen.waiting) == ["e4", "e5"]
    # Only what was not queued yet is queued now.
    assert ids(chosen.queue) == ["e4", "e5"]


def test_queued_entries_are_known_so_the_flood_guard_never_counts_them():
    queued = entries(*range(2, 20))
    chosen = select_new(
        entries(*range(1, 21)),
        {f"e{n}" for n in range(1, 20)},
        first_run=False,
        max_posts=3,
        flood_threshold=10,
        queued=queued[::-1],
    )
    assert chosen.flooded == ()
    assert ids(chosen.announce) == ["e2", "e3", "e4"]
    assert ids(chosen.queue) == ["e20"]
