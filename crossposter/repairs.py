"""What `crossposter state ...` does: look into the state file and repair it by hand.

Commands that change the state take its lock like a run does (a state file), or
lease the feeds they change (a state database), so they never change a feed under
a run that is working on it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from crossposter.config import FeedConfig, Settings
from crossposter.errors import FeedError, NotInState, StateError
from crossposter.feeds.fetch import FetchRequest, fetch_one
from crossposter.leases import leased_for_repair
from crossposter.models import Failing, Lease
from crossposter.state import EntryRecord, FeedsRole, StateCommands, now_utc
from crossposter.storage import open_read_only, open_state

# As many entries as a state may hold, for a search among all of a feed's.
ALL = 1_000_000_000


@dataclass(frozen=True)
class FeedOverview:
    name: str
    url: str
    configured: bool
    last_fetch: datetime | None
    last_result: str | None
    counts: dict[str, int] = field(default_factory=dict)
    # When `run --loop` polls it next; None: at its next pass.
    next_poll: datetime | None = None
    # The process working on it now (state_url only), and until when unless renewed.
    lease: Lease | None = None
    # Failing (temporarily) since its last success: alert_after counts from `since`.
    failing: Failing | None = None


@dataclass(frozen=True)
class MarkSeenResult:
    pending_dropped: int
    entries_recorded: int
    # Why the feed could not be read, when it could not: its unrecorded entries may still go out.
    problem: str | None = None


def feeds_overview(settings: Settings) -> list[FeedOverview]:
    """Every feed of the state and of the configuration, with its last fetch."""
    configured = {feed.name: feed for feed in settings.feeds}
    overview = []
    with open_read_only(settings) as state:
        known = {feed.name: feed for feed in state.feeds()}
        next_polls = state.next_polls()
        leases = {lease.feed: lease for lease in state.leases()}
        failing = {f.name: f for f in state.failures() if f.kind == "feed"}
        for name in sorted(set(known) | set(configured)):
            remembered = known.get(name)
            overview.append(
                FeedOverview(
                    name=name,
                    url=configured[name].url if name in configured else remembered.url,
                    configured=name in configured,
                    last_fetch=remembered.last_fetch if remembered else None,
                    last_result=remembered.last_result if remembered else None,
                    counts=state.status_counts(name) if remembered else {},
                    next_poll=next_polls.get(name),
                    lease=leases.get(name),
                    failing=failing.get(name),
                )
            )
    return overview


def recent_entries(
    settings: Settings, *, feed: str | None = None, status: str | None = None, limit: int = 20
) -> list[EntryRecord]:
    with open_read_only(settings) as state:
        if feed is not None and state.feed(feed) is None:
            raise NotInState(f"no feed {feed!r} in the state")
        return state.entries(feed, limit=limit, status=status)


def forget(settings: Settings, feed: str, entry: str) -> str:
    """The entry, named by its id or its article's URL, is announced again on the next run
    (if its feed still lists it); returns its id."""
    with open_state(settings) as state, leased_for_repair(state, settings, [feed], "state forget"):
        if state.forget(feed, entry):
            return entry
        if state.feed(feed) is None:
            raise NotInState(f"no feed {feed!r} in the state")
        # Ids are often opaque (a GUID, a tag: URI); the article's address is what a person has.
        records = state.entries(feed, limit=ALL)
        linked = [record.entry_id for record in records if record.link == entry]
        if len(linked) > 1:
            raise NotInState(
                f"feed {feed!r}: {len(linked)} entries link to {entry}; "
                "name one by its id, as `state entries` shows it"
            )
        if not linked or not state.forget(feed, linked[0]):
            raise NotInState(f"feed {feed!r} has no entry {entry!r} in the state, by id or URL")
        return linked[0]


def allow_deletions(settings: Settings, feed: str) -> None:
    """The feed's deletions, held by the guard against mass deletion, go out on the next
    runs (30 per 30 minutes per account), and the guard's count starts again."""
    with open_state(settings) as state, leased_for_repair(
        state, settings, [feed], "state allow-deletions"
    ):
        if not state.allow_deletions(feed, now_utc()):
            raise NotInState(f"no feed {feed!r} in the state")


def retry(settings: Settings, feed: str | None = None) -> int:
    """Failed entries (of one feed, or all) are composed and announced again on the next run."""
    with open_state(settings) as state:
        feeds = [feed] if feed is not None else _every_feed(settings, state)
        with leased_for_repair(state, settings, feeds, "state retry"):
            if feed is not None and state.feed(feed) is None:
                raise NotInState(f"no feed {feed!r} in the state")
            return state.retry_failed(feed)


def mark_seen(settings: Settings, name: str) -> MarkSeenResult:
    """Nothing of the feed as it is now goes out: pending posts are dropped, entries recorded."""
    feed = settings.feed_named(name)
    with open_state(settings) as state, leased_for_repair(
        state, settings, [name], "state mark-seen"
    ):
        if feed is None and state.feed(name) is None:
            raise NotInState(f"no feed {name!r} in the configuration or the state")
        dropped = state.drop_pending(name)
        if feed is None:
            return MarkSeenResult(dropped, 0, "it is not in the configuration, so it was not read")
        try:
            recorded = _record_current_entries(settings, feed, state)
        except FeedError as error:
            return MarkSeenResult(dropped, 0, f"the feed could not be read: {error.reason}")
        return MarkSeenResult(dropped, recorded)


def _every_feed(settings: Settings, state: FeedsRole) -> set[str]:
    """The feeds of the state and of the configuration: what a repair of all of them leases."""
    return {feed.name for feed in state.feeds()} | {feed.name for feed in settings.feeds}


def _record_current_entries(settings: Settings, feed: FeedConfig, state: StateCommands) -> int:
    fetched = fetch_one(FetchRequest(name=feed.name, url=feed.url), settings.fetch_options())
    # Imported here: the CLI loads this module for every command, most never parse.
    from crossposter.feeds.parse import parse_feed

    parsed = parse_feed(fetched.content, url=fetched.final_url, headers=fetched.headers)
    now = now_utc()
    # Only what the state did not know counts: posted and failed entries stay as they are.
    known = state.known_ids(feed.name)
    state.record_fetch(feed.name, feed.url, "ok (state mark-seen)", parsed_at=now)
    state.mark_seen(feed.name, parsed.entries, at=now)
    state.touch(feed.name, [entry.id for entry in parsed.entries], at=now)
    state.save_validators(feed.name, fetched.validators)
    return len({entry.id for entry in parsed.entries} - known)


def export_state(settings: Settings) -> dict[str, Any]:
    """A JSON-ready copy of the whole state, for a backup."""
    if not settings.state_url and not Path(settings.state_file).exists():
        raise StateError(f"{settings.state_file}: no state file yet; nothing to export")
    with open_read_only(settings) as state:
        return state.export_data()


def export_text(settings: Settings) -> str:
    """The export as the file holds it: JSON, one field a line."""
    return json.dumps(export_state(settings), ensure_ascii=False, indent=1) + "\n"


def write_export(settings: Settings, path: str | Path) -> None:
    """Export the state into a file only its owner may read, as the state itself is."""
    text = export_text(settings)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        raise StateError(f"{path}: cannot write the export: {error.strerror}") from None


def import_state(settings: Settings, path: str | Path) -> dict[str, int]:
    """Replace the state by a backup made with export_state; returns how many rows of each."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise StateError(f"{path}: cannot read the backup: {error.strerror}") from None
    except ValueError as error:
        raise StateError(f"{path}: not a JSON state export ({error}); nothing changed") from None
    with open_state(settings) as state:
        feeds = _every_feed(settings, state) | _exported_feeds(data)
        with leased_for_repair(state, settings, feeds, "state import"):
            state.replace_with(data)
    return {table: len(data.get(table) or []) for table in ("feeds", "entries")}



def _exported_feeds(data: Any) -> set[str]:
    """The feed names in an export, as far as it is one (importing it checks the rest)."""
    rows = data.get("feeds") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        return set()
    names = (row.get("name") for row in rows if isinstance(row, dict))
    return {name for name in names if isinstance(name, str)}
