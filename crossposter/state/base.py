"""What the pass and the `state` commands may ask of a state backend, and nothing more.

A backend (state/sqlite.py, state/postgres.py) implements `State`; the pipeline
only ever sees this interface, and tests parametrized over `backend` hold both to it.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from crossposter.models import (
    Article,
    Entry,
    Heartbeat,
    InstanceLimits,
    Lease,
    Posted,
    Toot,
    Validators,
)

ENTRY_STATUSES = ("seen", "pending", "posted", "failed", "retracted", "deleted")
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

    @property
    def label(self) -> str:
        return self.title or self.entry_id


def now_utc() -> datetime:
    return datetime.now(UTC)


class State(ABC):
    """What the tool remembers between runs. Use as a context manager; `close` ends it.

    Every write that guards a post (`mark_pending`, `mark_posted`, `mark_failed`)
    is durable when it returns, even inside `batch()`.
    """

    # Whether several processes may work on this state at once (and so share its feeds
    # out by lease), or one only, as a lock file makes it.
    shared: ClassVar[bool] = False

    # -- life cycle ------------------------------------------------------------

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @abstractmethod
    def batch(self) -> contextlib.AbstractContextManager[None]:
        """Writes made inside are committed together when the block ends (or fails)."""

    # -- feeds -------------------------------------------------------------------

    @abstractmethod
    def feed(self, name: str) -> FeedState | None: ...

    @abstractmethod
    def feeds(self) -> list[FeedState]: ...

    @abstractmethod
    def record_fetch(
        self,
        name: str,
        url: str,
        result: str,
        *,
        parsed_at: datetime | None = None,
        at: datetime | None = None,
    ) -> None:
        """Note that a feed was fetched. `parsed_at` is set when its entries were read."""

    @abstractmethod
    def save_validators(self, name: str, validators: Validators) -> None:
        """Remember ETag/Last-Modified; call only once every new entry has been handled."""

    @abstractmethod
    def settings_fingerprints(self) -> dict[str, str]:
        """Feed name → a digest of the settings its last run used."""

    @abstractmethod
    def save_settings_fingerprint(self, feed: str, fingerprint: str) -> None: ...

    # -- entries -----------------------------------------------------------------

    @abstractmethod
    def known_ids(self, feed: str) -> set[str]: ...

    @abstractmethod
    def mark_seen(self, feed: str, entries: Iterable[Entry], at: datetime | None = None) -> None:
        """Record entries as known without announcing them; known ones are left as they are."""

    @abstractmethod
    def mark_filtered(
        self, feed: str, skipped: Iterable[tuple[Entry, str]], at: datetime | None = None
    ) -> None:
        """Record entries a filter rule kept from being announced, with that rule as the reason."""

    @abstractmethod
    def touch(self, feed: str, entry_ids: Iterable[str], at: datetime | None = None) -> None:
        """The entries are still in the feed: keep them from being pruned."""

    @abstractmethod
    def mark_pending(
        self, feed: str, entry: Entry, idempotency_key: str, toot: Toot, *, account: str
    ) -> PendingPost | None:
        """Record the toot about to be sent; what a retry would find, as `pending` returns it.

        The entry's link is claimed for `account` in the same write: None,
        and nothing written, when another entry already announced that link there.
        The claim is one insert that a unique key on (account, link) refuses, never a
        look followed by a write: two processes pending one link cannot both win.
        """

    @abstractmethod
    def announced_links(self, account: str, links: Iterable[str]) -> set[str]:
        """Which of `links` (each as `link_key` gives it) `account` announced, posted or pending."""

    @abstractmethod
    def mark_posted(
        self,
        feed: str,
        entry_id: str,
        posted: Posted,
        *,
        account: str | None = None,
        instance: str | None = None,
    ) -> None:
        """The toot went out, from `account` on `instance`; its time is now."""

    @abstractmethod
    def announced(self, feed: str | None = None) -> list[AnnouncedPost]:
        """Every entry whose toot went out (posted, retracted, deleted), oldest first."""

    @abstractmethod
    def save_replies(
        self, feed: str, entry_id: str, replies: list[dict[str, Any]], at: datetime | None = None
    ) -> None:
        """The public replies to the entry's toot, as just read (now, or `at`)."""

    @abstractmethod
    def claim_hook(self, feed: str, entry_id: str, event: str, occurrence: str) -> bool:
        """Note that a hook is about to run for this event; False when one already did.

        Durable before it returns, so a crash during the hook never runs it twice.
        """

    @abstractmethod
    def mark_failed(self, feed: str, entry_id: str, reason: str) -> None:
        """The server refused the toot: the entry's link is announced nowhere, it is released."""

    # -- after posting (crossposter.after_posting.decisions) -----------------------------------

    @abstractmethod
    def posted_entries(self, feed: str) -> list[PostedEntry]:
        """The feed's entries whose toot is on the instance, oldest first."""

    @abstractmethod
    def mark_edit_pending(self, feed: str, entry_id: str, toot: Toot, article: Article) -> None:
        """Record an edit before its request is sent; durable when it returns."""

    @abstractmethod
    def mark_edited(self, feed: str, entry_id: str, at: datetime) -> None:
        """The pending edit went out: it is now the posted toot and article."""

    @abstractmethod
    def drop_edit(self, feed: str, entry_id: str) -> None:
        """The instance refused the pending edit: the toot stays, the article as edited stays
        the reference (so the same edit is not tried again)."""

    @abstractmethod
    def mark_deleted(self, feed: str, entry_id: str, reason: str = "") -> bool:
        """The toot is gone from the instance (deleted by hand): never edited or posted again.

        False when the state has no announced entry by that id.
        """

    @abstractmethod
    def mark_retracted(self, feed: str, entry_id: str, reason: str = "") -> bool:
        """The toot was deleted on purpose (its article was, or `retract`): never announced
        again unless forgotten. False when the state has no announced entry by that id."""

    @abstractmethod
    def record_check(self, feed: str, entry_id: str, at: datetime, gone: bool | None) -> None:
        """An absent article's link was asked at `at`: gone (404/410), there, or unknown."""

    @abstractmethod
    def record_deletion(self, account: str, at: datetime) -> None:
        """Note that `account` deleted one of its toots at `at` (Mastodon limits how many).

        Durable before it returns. A deletion older than a day may be forgotten.
        """

    @abstractmethod
    def deletions_since(self, account: str, since: datetime) -> int:
        """How many toots `account` deleted at `since` or later."""

    @abstractmethod
    def pending(self, feed: str) -> list[PendingPost]:
        """The feed's posts left pending, oldest first."""

    @abstractmethod
    def prune(self, feed: str, retention: timedelta) -> int:
        """Forget entries absent from the feed for `retention` of the feed's own parses."""

    @abstractmethod
    def entries(
        self, feed: str | None = None, limit: int = 50, status: str | None = None
    ) -> list[EntryRecord]:
        """The most recently changed entries first, optionally of one feed or one status."""

    @abstractmethod
    def status_counts(self, feed: str) -> dict[str, int]: ...

    # -- repairs by a person (`crossposter state ...`) ---------------------------

    @abstractmethod
    def forget(self, feed: str, entry_id: str) -> bool:
        """Drop what is known of an entry, its link's claim too, so the next run finds it new
        and announces it."""

    @abstractmethod
    def retry_failed(self, feed: str | None = None) -> int:
        """Failed entries become unknown again: the next run composes and announces them anew."""

    @abstractmethod
    def drop_pending(self, feed: str) -> int:
        """Pending posts of a feed become seen: they will not go out, their links are released."""

    @abstractmethod
    def export_data(self) -> dict[str, Any]:
        """Everything the state holds, as JSON-ready data, from one consistent snapshot."""

    @abstractmethod
    def replace_with(self, data: Any) -> None:
        """Replace the whole state by an export (a restore); all or nothing."""

    # -- instance limits ---------------------------------------------------------

    @abstractmethod
    def cached_limits(self, instance: str, max_age: timedelta) -> InstanceLimits | None: ...

    @abstractmethod
    def save_limits(self, instance: str, limits: InstanceLimits) -> None: ...

    # -- several processes on one state ------------------------------------------
    # A backend that one process holds alone (SQLite's lock file) grants every lease;
    # poll times, rate limits and heartbeats are kept by every backend.

    @abstractmethod
    def take_leases(self, feeds: Iterable[str], worker: str, duration: timedelta) -> set[str]:
        """Lease to `worker` those of `feeds` no other live worker holds; the ones it got.

        One atomic step per feed: two workers asking for the same feed cannot both get it.
        A lease of ours is renewed; one that expired (its worker died) is taken over.
        """

    @abstractmethod
    def renew_leases(self, feeds: Iterable[str], worker: str, duration: timedelta) -> set[str]:
        """Move the expiry of `worker`'s leases on `feeds`; the ones it still held."""

    @abstractmethod
    def release_leases(self, feeds: Iterable[str], worker: str) -> None: ...

    @abstractmethod
    def leases(self) -> list[Lease]:
        """The leases held now (expired ones included), by feed."""

    @abstractmethod
    def next_polls(self, feeds: Iterable[str] | None = None) -> dict[str, datetime | None]:
        """Feed name (of `feeds`, or all) → when `run --loop` polls it next (None: at the
        next pass); a feed never polled is absent."""

    @abstractmethod
    def set_next_poll(self, feed: str, at: datetime) -> None: ...

    @abstractmethod
    def record_rate_limit(self, instance: str, account: str, reset_at: datetime) -> None:
        """The instance refused `account`'s posts until `reset_at` (a 429): no process of this
        state posts there before. Seen by the others when it returns."""

    @abstractmethod
    def rate_limited_until(self, instance: str, account: str) -> datetime | None:
        """When a recorded rate limit of the account ends, if it has not yet."""

    @abstractmethod
    def record_heartbeat(self, worker: str, heartbeat: Heartbeat) -> None: ...

    @abstractmethod
    def heartbeat(self, worker: str) -> Heartbeat | None: ...

    @abstractmethod
    def newest_heartbeat(self, worker_prefix: str) -> tuple[str, Heartbeat] | None:
        """The most recent heartbeat of the workers whose name starts with `worker_prefix`,
        with that name: how `health` finds an unnamed loop (named host-pid) on its host."""
