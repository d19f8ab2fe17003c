"""What the state hands out: its records of feeds and entries, as plain values."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from crossposter.models import Article, Entry, ImageRef, Toot, Validators

# `queued`: selected for posting by a run and left for a later one (backfill, or beyond
# max_posts_per_run), kept whole so that it goes out even once gone from its feed.
ENTRY_STATUSES = ("seen", "queued", "pending", "posted", "failed", "retracted", "deleted")
# An entry whose toot once went out: what `links` lists. `retracted`: deleted by
# `crossposter retract`; `deleted`: gone from the instance otherwise.
ANNOUNCED_STATUSES = ("posted", "retracted", "deleted")


@dataclass(frozen=True)
class FeedState:
    name: str
    url: str
    validators: Validators
    last_fetch: datetime | None
    last_result: str | None
    last_parsed: datetime | None
    # Since when the guard against mass deletion holds its deletions (None: it does not).
    deletions_held_since: datetime | None = None


@dataclass(frozen=True)
class PendingPost:
    """A toot recorded before its request is sent: exactly what goes out, and under which key."""

    feed: str
    entry_id: str
    idempotency_key: str
    toot: Toot
    pending_since: datetime
    link: str | None = None
    title: str | None = None

    @property
    def label(self) -> str:
        """How logs and previews name it."""
        return self.title or self.entry_id


@dataclass(frozen=True)
class EntryRecord:
    feed: str
    entry_id: str
    status: str
    link: str | None
    title: str | None
    first_seen: datetime
    toot_url: str | None
    reason: str | None
    updated: datetime


@dataclass(frozen=True)
class AnnouncedPost:
    """An entry whose toot went out, and what became of it."""

    feed: str
    entry_id: str
    link: str | None
    title: str | None
    status: str
    toot_id: str
    toot_url: str | None
    # None for toots posted before the state recorded them.
    account: str | None
    instance: str | None
    posted_at: datetime
    edited_at: datetime | None = None
    # The public replies last read, in the shape of the replies file; None when never read.
    replies: list[dict[str, Any]] | None = None
    replies_fetched_at: datetime | None = None
    # Whether the instance built a link card for it; None until looked at (after_posting.cards).
    card: bool | None = None


@dataclass(frozen=True)
class PostedEntry:
    """An announced entry, with what its toot's later life needs (after_posting)."""

    feed: str
    entry_id: str
    link: str | None
    title: str | None
    toot_id: str
    toot_url: str | None
    # What was posted (or last edited to); None for toots found on the instance.
    toot: Toot | None
    # The article's own fields at posting; None for toots posted before they were kept.
    article: Article | None
    posted_at: datetime | None
    edited_at: datetime | None
    # In the feed's latest parse.
    in_feed: bool
    # An edit recorded before its request: a run after a crash sends it again.
    edit: Toot | None
    edit_article: Article | None
    checked_at: datetime | None
    gone_since: datetime | None
    # Who posted it, where: every later action goes through them. None for toots posted
    # before the state recorded accounts (their feed's account).
    account: str | None = None
    instance: str | None = None
    # How often it was edited, and the articles it showed before (oldest first).
    edits: int = 0
    earlier_articles: tuple[Article, ...] = ()

    @property
    def label(self) -> str:
        return self.title or self.entry_id


def now_utc() -> datetime:
    return datetime.now(UTC)


def toot_json(toot: Toot) -> str:
    return json.dumps(asdict(toot), ensure_ascii=False)


def toot_from_json(text: str) -> Toot:
    data = json.loads(text)
    data["hashtags"] = tuple(data.get("hashtags") or ())
    data["media_ids"] = tuple(data.get("media_ids") or ())
    return Toot(**data)


def entry_json(entry: Entry) -> str:
    """A queued entry as the state keeps it: whole, to compose its toot on a later run."""
    data = asdict(entry)
    data["published"] = entry.published.isoformat() if entry.published else None
    return json.dumps(data, ensure_ascii=False)


def entry_from_json(text: str) -> Entry:
    data = json.loads(text)
    published = data.get("published")
    data["published"] = datetime.fromisoformat(published) if published else None
    data["categories"] = tuple(data.get("categories") or ())
    data["images"] = tuple(ImageRef(**image) for image in data.get("images") or ())
    return Entry(**data)
