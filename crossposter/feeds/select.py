"""Deciding which entries are new, and which of those go out on this run."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from crossposter.models import Entry


@dataclass(frozen=True)
class Selection:
    """`announce` oldest first; `mark_seen` are recorded without a toot; `waiting` stay new."""

    announce: tuple[Entry, ...]
    mark_seen: tuple[Entry, ...]
    waiting: tuple[Entry, ...]


def select_new(
    entries: Sequence[Entry],
    known_ids: Collection[str],
    *,
    first_run: bool,
    backfill: int = 0,
    max_posts: int = 3,
) -> Selection:
    """Pick what to announce from a feed's entries, given the ids the state already has.

    A feed's first run records everything and announces only the newest
    `backfill` entries; afterwards every unknown entry is new. At most
    `max_posts` go out, the oldest first, so a flood (a blog migration that
    changes every guid) drains over several runs instead of in one burst.
    """
    unique = _unique_by_id(entries)
    fresh = [entry for entry in unique if entry.id not in known_ids]
    newest_first = _newest_first(fresh)
    if first_run:
        candidates = newest_first[:backfill]
        silent = newest_first[backfill:]
    else:
        candidates = newest_first
        silent = []
    oldest_first = list(reversed(candidates))
    return Selection(
        announce=tuple(oldest_first[:max_posts]),
        mark_seen=tuple(silent),
        waiting=tuple(oldest_first[max_posts:]),
    )


def _unique_by_id(entries: Sequence[Entry]) -> list[Entry]:
    seen: set[str] = set()
    unique = []
    for entry in entries:
        if entry.id not in seen:
            seen.add(entry.id)
            unique.append(entry)
    return unique


def _newest_first(entries: list[Entry]) -> list[Entry]:
    """By date, newest first; undated entries keep the feed's order (feeds list newest first)."""
    positions = {entry.id: index for index, entry in enumerate(entries)}
    if all(entry.published for entry in entries):
        return sorted(entries, key=lambda e: (e.published, -positions[e.id]), reverse=True)
    return list(entries)
