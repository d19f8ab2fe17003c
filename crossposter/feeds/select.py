"""Deciding which entries are new, and which of those go out on this run.

A feed is untrusted: it may change every guid (the same articles then look new)
or bring dozens of entries at once. An article whose link the account already
announced is recorded, never announced again; a flood is recorded, not posted.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from crossposter.models import Entry, link_key


@dataclass(frozen=True)
class Selection:
    """`announce` oldest first; `mark_seen` are recorded without a toot; `waiting` are
    queued for the next runs (`queue`: those not queued yet).

    `repeated` (their link was already announced) and `flooded` (the flood guard held
    them back) are recorded without a toot too, each for its own log line.
    """

    announce: tuple[Entry, ...]
    mark_seen: tuple[Entry, ...]
    waiting: tuple[Entry, ...]
    repeated: tuple[Entry, ...] = ()
    flooded: tuple[Entry, ...] = ()
    queue: tuple[Entry, ...] = ()

    @property
    def recorded(self) -> tuple[Entry, ...]:
        """Everything this selection records as seen."""
        return self.mark_seen + self.repeated + self.flooded


def select_new(
    entries: Sequence[Entry],
    known_ids: Collection[str],
    *,
    first_run: bool,
    backfill: int = 0,
    max_posts: int = 3,
    announced: Collection[str] = frozenset(),
    flood_threshold: int = 0,
    queued: Sequence[Entry] = (),
) -> Selection:
    """Pick what to announce from a feed's entries, given the ids the state already has.

    A feed's first run records everything and announces only the newest
    `backfill` entries; afterwards every unknown entry is new. At most
    `max_posts` go out, the oldest first, the rest wait for the next runs.

    `announced` holds the `link_key`s the account already announced, from any
    feed: a new entry with one of those links is `repeated`, and of several new
    entries with one link only the oldest counts. After a first run, a flood
    (`is_flood`: a feed that changed every guid, or moved) must not post its
    articles again: they are all `flooded`. A threshold of 0 turns that off.

    `queued` are the entries earlier runs selected and left for later (backfill, or
    beyond `max_posts`): known, so never new again nor counted by the flood guard, they
    go out with the new ones, oldest first, even when they have left the feed.
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
    oldest_first, repeated = _first_of_each_link(reversed(candidates), announced)
    flooded: list[Entry] = []
    if not first_run and is_flood(len(fresh), len(unique), flood_threshold):
        oldest_first, flooded = [], oldest_first
    in_line = _in_line(queued, oldest_first)
    already_queued = {entry.id for entry in queued}
    return Selection(
        announce=tuple(in_line[:max_posts]),
        mark_seen=tuple(silent),
        waiting=tuple(in_line[max_posts:]),
        repeated=tuple(repeated),
        flooded=tuple(flooded),
        queue=tuple(entry for entry in in_line[max_posts:] if entry.id not in already_queued),
    )


def _in_line(queued: Sequence[Entry], fresh: Sequence[Entry]) -> list[Entry]:
    """Queued and new entries in the order they go out: by date, oldest first; when some
    are undated, the queued ones first, as they were due before."""
    everything = [*queued, *fresh]
    if all(entry.published for entry in everything):
        # Stable: entries of one date keep the order they came in.
        return sorted(everything, key=lambda entry: entry.published)
    return everything


def _first_of_each_link(
    oldest_first: Iterable[Entry], announced: Collection[str]
) -> tuple[list[Entry], list[Entry]]:
    """The entries whose link is not announced yet, and the others; an entry without a
    link is never a repeat (composing skips it)."""
    taken = set(announced)
    first, repeated = [], []
    for entry in oldest_first:
        key = link_key(entry.link) if entry.link else None
        if key is not None and key in taken:
            repeated.append(entry)
            continue
        if key is not None:
            taken.add(key)
        first.append(entry)
    return first, repeated


# A fetch of this many entries or more, every one unknown, is a feed that moved, however
# small its `flood_threshold` makes it look: WordPress lists ten.
EVERY_ONE_UNKNOWN = 5


def is_flood(unknown: int, feed_size: int, threshold: int) -> bool:
    """Whether `unknown` entries of a fetch of `feed_size` (ids the state has never seen,
    whether or not their links were announced) are a flood: (a) at least
    EVERY_ONE_UNKNOWN and all of them, or (b) more than `threshold` and more than half."""
    if threshold <= 0:
        return False
    every_one = EVERY_ONE_UNKNOWN <= unknown == feed_size
    return every_one or (unknown > threshold and 2 * unknown > feed_size)


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
