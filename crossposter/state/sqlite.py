"""The embedded state backend: what the tool remembers between runs, in one SQLite file.

Every change is committed at once, so a crash at any moment leaves a
consistent file: an entry is `pending` (with its idempotency key and the exact
toot) before its request is sent, and `posted` after the server answered.
A second run on the same file is kept out by an exclusive lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from crossposter.after_posting.decisions import Article
from crossposter.config import DEFAULT_ACCOUNT
from crossposter.errors import StateError, StateLocked, TemporaryStateError
from crossposter.feeds.fetch import Validators
from crossposter.feeds.select import link_key
from crossposter.files import user_name
from crossposter.health import Heartbeat
from crossposter.models import Entry, InstanceLimits, Posted, Toot
from crossposter.state.base import (
    ANNOUNCED_STATUSES,
    ENTRY_STATUSES,
    AnnouncedPost,
    EntryRecord,
    FeedState,
    Lease,
    PendingPost,
    PostedEntry,
    State,
    now_utc,
)
from crossposter.state.transactions import Transactions

TIMESTAMP_COLUMNS = {
    "feeds": ("last_fetch", "last_parsed", "next_poll"),
    "entries": (
        "first_seen",
        "last_seen",
        "pending_since",
        "updated",
        "posted_at",
        "edited_at",
        "replies_fetched_at",
        "checked_at",
        "gone_since",
    ),
    "instances": ("fetched_at",),
    "hook_runs": ("started",),
    "deletions": ("at",),
}
log = logging.getLogger(__name__)

EXPORT_FORMAT = "crossposter-state"
EXPORTED_TABLES = ("feeds", "entries", "instances", "announced_links", "hook_runs", "deletions")

# Each link (its link_key) an account announced, and the entry that did: the primary key
# is what refuses a second announcement, in one process or several.
ANNOUNCED_LINKS = """
CREATE TABLE IF NOT EXISTS announced_links (
    account TEXT NOT NULL,
    link TEXT NOT NULL,
    feed TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    PRIMARY KEY (account, link)
) WITHOUT ROWID;
"""

# When each account deleted a toot: Mastodon allows 30 deletions per 30 minutes, and runs
# every 15 minutes must share them. Rows older than DELETIONS_KEPT are dropped.
DELETIONS = """
CREATE TABLE IF NOT EXISTS deletions (account TEXT NOT NULL, at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS deletions_by_account ON deletions (account, at);
"""
DELETIONS_KEPT = timedelta(days=1)

_STATUS_LIST = "(" + ", ".join(f"'{status}'" for status in ENTRY_STATUSES) + ")"

# What became of a toot after posting (after_posting.decisions): the article's own fields
# and when it was posted; an edit recorded before its request (edit_toot, edit_article);
# the checks of an article gone from its feed (checked_at, gone_since). `deleted`: the
# toot was deleted on the instance by hand; `retracted`: deleted because its article was.
ENTRIES_TABLE = (
    """CREATE TABLE IF NOT EXISTS entries (
    feed TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ENTRY_STATUSES),
    link TEXT,
    title TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    idempotency_key TEXT,
    toot TEXT,
    pending_since TEXT,
    toot_id TEXT,
    toot_url TEXT,
    reason TEXT,
    updated TEXT NOT NULL,
    account TEXT,
    instance TEXT,
    posted_at TEXT,
    edited_at TEXT,
    replies TEXT,
    replies_fetched_at TEXT,
    article TEXT,
    edit_toot TEXT,
    edit_article TEXT,
    checked_at TEXT,
    gone_since TEXT,
    PRIMARY KEY (feed, entry_id)
) WITHOUT ROWID;"""
).replace("ENTRY_STATUSES", _STATUS_LIST)
ENTRIES_INDEX = (
    "CREATE INDEX IF NOT EXISTS entries_by_status ON entries (status) WHERE status != 'seen'"
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS feeds (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    last_fetch TEXT,
    last_result TEXT,
    last_parsed TEXT,
    next_poll TEXT
);
{ENTRIES_TABLE}
{ENTRIES_INDEX};
CREATE TABLE IF NOT EXISTS hook_runs (
    feed TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    event TEXT NOT NULL,
    occurrence TEXT NOT NULL,
    started TEXT NOT NULL,
    PRIMARY KEY (feed, entry_id, event, occurrence)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS instances (
    url TEXT PRIMARY KEY,
    limits TEXT NOT NULL,
    fetched_at TEXT NOT NULL
);
""".replace("{ENTRIES_TABLE}", ENTRIES_TABLE).replace("{ENTRIES_INDEX}", ENTRIES_INDEX) + (
    ANNOUNCED_LINKS + DELETIONS
)

# What processes sharing a state tell each other, and no export carries: it is about
# the processes running now. A 429's reset per account; each loop worker's heartbeat.
COORDINATION_TABLES = """
CREATE TABLE IF NOT EXISTS account_limits (
    instance TEXT NOT NULL,
    account TEXT NOT NULL,
    reset_at TEXT NOT NULL,
    PRIMARY KEY (instance, account)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS workers (
    worker TEXT PRIMARY KEY,
    interval_seconds REAL NOT NULL,
    last_run_at TEXT NOT NULL,
    last_exit_code INTEGER NOT NULL,
    last_success_at TEXT
);
"""
SCHEMA += COORDINATION_TABLES


def _iso(moment: datetime | None) -> str | None:
    # Fixed width and UTC, so SQL compares these strings in time order.
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ") if moment else None


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class SqliteState(Transactions, State):
    """The state file. Open with `SqliteState.open(...)` as a context manager."""

    BEGIN = "BEGIN IMMEDIATE"
    ROLLBACK_ERRORS = (sqlite3.Error,)

    def __init__(
        self,
        connection: sqlite3.Connection,
        path: Path | None,
        lock_fd: int | None,
        *,
        read_only: bool | None = None,
    ):
        connection.row_factory = sqlite3.Row
        self._db = connection
        self.path = path
        self._lock_fd = lock_fd
        self.read_only = lock_fd is None if read_only is None else read_only
        self._batching = False

    # -- opening and closing -------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, lock_timeout: float = 0.0) -> SqliteState:
        """Open (creating it, mode 0600) and lock the state file for a run that writes."""
        path = Path(path)
        existing = _existing_state_file(path)
        if existing is None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise _state_error(path.parent, error) from None
        lock_fd = _acquire_lock(Path(f"{path}.lock"), lock_timeout)
        try:
            if existing is None:
                # sqlite would create it with the umask's mode; the state names the user's feeds.
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600))
            else:
                _make_private(path, existing)
            new = path.stat().st_size == 0
            connection = _connect(path, timeout=30)
        except (OSError, sqlite3.Error) as error:
            os.close(lock_fd)
            raise _state_error(path, error) from None
        except BaseException:
            os.close(lock_fd)
            raise
        state = cls(connection, path, lock_fd)
        state._prepare(create=new)
        return state

    @classmethod
    def open_read_only(cls, path: str | os.PathLike[str]) -> SqliteState:
        """A view that cannot write (a preview copies it; check and links read it); an absent
        file reads as empty."""
        path = Path(path)
        existing = _existing_state_file(path)
        if existing is not None and existing.st_size > 0:
            try:
                connection = _connect(path, mode="ro")
            except sqlite3.Error as error:
                raise _state_error(path, error) from None
            state = cls(connection, path, None)
            state._prepare(create=False)
        else:
            state = cls.in_memory(read_only=True)
        return state

    @classmethod
    def in_memory(cls, *, read_only: bool = False) -> SqliteState:
        """An empty state that lives in memory and vanishes when closed."""
        state = cls(sqlite3.connect(":memory:", isolation_level=None), None, None, read_only=False)
        state._prepare(create=True)
        state.read_only = read_only
        return state

    def preview_copy(self) -> SqliteState:
        """An in-memory copy made with SQLite's backup API: no lock taken, no file touched."""
        connection = sqlite3.connect(":memory:", isolation_level=None, factory=_Connection)
        try:
            self._db.backup(connection)
        except sqlite3.Error as error:
            connection.close()
            raise _state_error(self.path or "state", error) from None
        copy = SqliteState(connection, None, None, read_only=False)
        # A file an older crossposter wrote is read as it is; its copy is brought up to date.
        copy._prepare(create=False)
        return copy

    def _in_transaction(self) -> bool:
        return self._db.in_transaction

    def close(self) -> None:
        self._db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _prepare(self, *, create: bool) -> None:
        where = self.path or "state"
        try:
            if create:
                self._db.execute("PRAGMA synchronous = FULL")
                # One transaction: a crash here must not leave a file that is half a state.
                self._db.executescript(
                    f"BEGIN IMMEDIATE; {SCHEMA} INSERT OR IGNORE INTO meta (key, value) "
                    f"VALUES ('schema_version', '{SCHEMA_VERSION}'); COMMIT;"
                )
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except StateError:
            self.close()
            raise
        except sqlite3.DatabaseError as error:
            self.close()
            raise _state_error(where, error) from None
        version = int(row["value"]) if row else 0
        if version > SCHEMA_VERSION:
            self.close()
            raise StateError(
                f"{where}: written by a newer crossposter (state version {version}, this one "
                f"reads {SCHEMA_VERSION}); upgrade crossposter"
            )
        if version < 1:
            self.close()
            raise StateError(f"{where}: not a crossposter state file; it was left untouched")
        if not self.read_only:
            self._check_writable()
        if version < SCHEMA_VERSION and not self.read_only:
            self._upgrade(version)

    def _check_writable(self) -> None:
        """SQLite opens a file it may not write read-only: say so now, not at the first write."""
        try:
            _rolled_back_write(self._db)
        except StateError:
            self.close()
            raise

    @staticmethod
    def probe_writable(path: str | os.PathLike[str]) -> None:
        """Really write to an existing state file, in a transaction rolled back at once.

        Creates nothing, takes no lock of a run's and waits for none: a state a
        running run is writing raises StateLocked at once.
        """
        path = Path(path)
        _existing_state_file(path)
        try:
            connection = _connect(path, mode="rw", timeout=0)
        except sqlite3.Error as error:
            raise _state_error(path, error) from None
        try:
            _rolled_back_write(connection)
        finally:
            connection.close()

    def _upgrade(self, version: int) -> None:
        """Bring a state file written by an older crossposter up to date, in one transaction."""
        with self._transaction() as db:
            _migrate(db, version)
            db.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
            )

    # -- feeds ---------------------------------------------------------------

    def feed(self, name: str) -> FeedState | None:
        row = self._db.execute(
            "SELECT name, url, etag, last_modified, last_fetch, last_result, last_parsed "
            "FROM feeds WHERE name = ?",
            (name,),
        ).fetchone()
        return _feed_state(row) if row else None

    def feeds(self) -> list[FeedState]:
        rows = self._db.execute(
            "SELECT name, url, etag, last_modified, last_fetch, last_result, last_parsed "
            "FROM feeds ORDER BY name"
        ).fetchall()
        return [_feed_state(row) for row in rows]

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
        at = at or now_utc()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO feeds (name, url, last_fetch, last_result, last_parsed) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET url = excluded.url, "
                "last_fetch = excluded.last_fetch, last_result = excluded.last_result, "
                "last_parsed = COALESCE(excluded.last_parsed, feeds.last_parsed)",
                (name, url, _iso(at), result, _iso(parsed_at)),
            )

    def save_validators(self, name: str, validators: Validators) -> None:
        """Remember ETag/Last-Modified; call only once every new entry has been handled."""
        with self._transaction() as db:
            db.execute(
                "UPDATE feeds SET etag = ?, last_modified = ? WHERE name = ?",
                (validators.etag, validators.last_modified, name),
            )

    # -- entries -------------------------------------------------------------

    def known_ids(self, feed: str) -> set[str]:
        rows = self._db.execute("SELECT entry_id FROM entries WHERE feed = ?", (feed,))
        return {row["entry_id"] for row in rows}

    def mark_seen(self, feed: str, entries: Iterable[Entry], at: datetime | None = None) -> None:
        """Record entries as known without announcing them; known ones are left as they are."""
        stamp = _iso(at or now_utc())
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO entries (feed, entry_id, status, link, title, first_seen, last_seen, "
                "updated) VALUES (?, ?, 'seen', ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                # In key order: appended rows fill B-tree pages, shuffled ones leave them half
                # empty (1,000 feeds x 100 entries: 20.7 MB instead of 25.6 MB).
                sorted(
                    ((feed, e.id, e.link, e.title, stamp, stamp, stamp) for e in entries),
                    key=lambda row: row[1],
                ),
            )

    def mark_filtered(
        self, feed: str, skipped: Iterable[tuple[Entry, str]], at: datetime | None = None
    ) -> None:
        """Record entries a filter rule kept from being announced, with that rule as the reason."""
        stamp = _iso(at or now_utc())
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO entries (feed, entry_id, status, link, title, first_seen, last_seen, "
                "reason, updated) VALUES (?, ?, 'seen', ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(feed, e.id, e.link, e.title, stamp, stamp, why, stamp) for e, why in skipped],
            )

    def touch(self, feed: str, entry_ids: Iterable[str], at: datetime | None = None) -> None:
        """The entries are still in the feed: keep them from being pruned."""
        stamp = _iso(at or now_utc())
        with self._transaction() as db:
            db.executemany(
                "UPDATE entries SET last_seen = ? WHERE feed = ? AND entry_id = ?",
                [(stamp, feed, entry_id) for entry_id in entry_ids],
            )

    def mark_pending(
        self, feed: str, entry: Entry, idempotency_key: str, toot: Toot, *, account: str
    ) -> PendingPost | None:
        stamp = _iso(now_utc())
        with self._transaction(durable=True) as db:
            if entry.link and not _claim(db, account, entry.link, feed, entry.id):
                return None
            db.execute(
                "INSERT INTO entries (feed, entry_id, status, link, title, first_seen, last_seen, "
                "idempotency_key, toot, pending_since, updated, article) "
                "VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (feed, entry_id) DO UPDATE SET status = 'pending', "
                "idempotency_key = excluded.idempotency_key, toot = excluded.toot, "
                "pending_since = excluded.pending_since, reason = NULL, "
                "updated = excluded.updated, article = excluded.article",
                (
                    feed,
                    entry.id,
                    entry.link,
                    entry.title,
                    stamp,
                    stamp,
                    idempotency_key,
                    _toot_json(toot),
                    stamp,
                    stamp,
                    Article.of(entry).to_json(),
                ),
            )
        return PendingPost(
            feed=feed,
            entry_id=entry.id,
            idempotency_key=idempotency_key,
            toot=toot,
            pending_since=_moment(stamp),
            link=entry.link,
            title=entry.title,
        )

    def announced_links(self, account: str, links: Iterable[str]) -> set[str]:
        found: set[str] = set()
        wanted = list(dict.fromkeys(links))
        # In slices: SQLite allows a bounded number of parameters per statement.
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            rows = self._db.execute(
                f"SELECT link FROM announced_links WHERE account = ? AND link IN ({marks})",
                (account, *chunk),
            )
            found.update(row["link"] for row in rows)
        return found

    def mark_posted(
        self,
        feed: str,
        entry_id: str,
        posted: Posted,
        *,
        account: str | None = None,
        instance: str | None = None,
    ) -> None:
        stamp = _iso(now_utc())
        with self._transaction(durable=True) as db:
            db.execute(
                "UPDATE entries SET status = 'posted', toot_id = ?, toot_url = ?, reason = NULL, "
                "updated = ?, posted_at = ?, account = COALESCE(?, account), "
                "instance = COALESCE(?, instance) WHERE feed = ? AND entry_id = ?",
                (posted.id, posted.url, stamp, stamp, account, instance, feed, entry_id),
            )

    def announced(self, feed: str | None = None) -> list[AnnouncedPost]:
        where, values = ("AND feed = ?", (feed,)) if feed is not None else ("", ())
        marks = ", ".join("?" for _ in ANNOUNCED_STATUSES)
        rows = self._db.execute(
            "SELECT feed, entry_id, link, title, status, toot_id, toot_url, account, instance, "
            "posted_at, updated, edited_at, replies, replies_fetched_at FROM entries "
            f"WHERE status IN ({marks}) AND toot_id IS NOT NULL {where} "
            "ORDER BY COALESCE(posted_at, updated), feed, entry_id",
            (*ANNOUNCED_STATUSES, *values),
        )
        return [
            AnnouncedPost(
                feed=row["feed"],
                entry_id=row["entry_id"],
                link=row["link"],
                title=row["title"],
                status=row["status"],
                toot_id=row["toot_id"],
                toot_url=row["toot_url"],
                account=row["account"],
                instance=row["instance"],
                posted_at=_moment(row["posted_at"] or row["updated"]),
                edited_at=_moment(row["edited_at"]),
                replies=json.loads(row["replies"]) if row["replies"] else None,
                replies_fetched_at=_moment(row["replies_fetched_at"]),
            )
            for row in rows
        ]

    def save_replies(
        self, feed: str, entry_id: str, replies: list[dict[str, Any]], at: datetime | None = None
    ) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE entries SET replies = ?, replies_fetched_at = ? "
                "WHERE feed = ? AND entry_id = ?",
                (json.dumps(replies, ensure_ascii=False), _iso(at or now_utc()), feed, entry_id),
            )

    def claim_hook(self, feed: str, entry_id: str, event: str, occurrence: str) -> bool:
        with self._transaction(durable=True) as db:
            return bool(
                db.execute(
                    "INSERT INTO hook_runs (feed, entry_id, event, occurrence, started) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (feed, entry_id, event, occurrence, _iso(now_utc())),
                ).rowcount
            )

    def mark_failed(self, feed: str, entry_id: str, reason: str) -> None:
        with self._transaction(durable=True) as db:
            db.execute(
                "UPDATE entries SET status = 'failed', reason = ?, updated = ? "
                "WHERE feed = ? AND entry_id = ?",
                (reason, _iso(now_utc()), feed, entry_id),
            )
            _release_link(db, feed, entry_id)

    # -- after posting (crossposter.after_posting.decisions) ---------------------------------

    def posted_entries(self, feed: str) -> list[PostedEntry]:
        """The feed's entries whose toot is on the instance, oldest first."""
        rows = self._db.execute(
            "SELECT entries.*, entries.last_seen >= feeds.last_parsed AS in_feed "
            "FROM entries LEFT JOIN feeds ON feeds.name = entries.feed "
            "WHERE feed = ? AND status = 'posted' AND toot_id IS NOT NULL "
            "ORDER BY posted_at, entry_id",
            (feed,),
        ).fetchall()
        return [
            PostedEntry(
                feed=row["feed"],
                entry_id=row["entry_id"],
                link=row["link"],
                title=row["title"],
                toot_id=row["toot_id"],
                toot_url=row["toot_url"],
                toot=_toot_from_json(row["toot"]) if row["toot"] else None,
                article=Article.from_json(row["article"]),
                posted_at=_moment(row["posted_at"]),
                edited_at=_moment(row["edited_at"]),
                in_feed=bool(row["in_feed"]),
                edit=_toot_from_json(row["edit_toot"]) if row["edit_toot"] else None,
                edit_article=Article.from_json(row["edit_article"]),
                checked_at=_moment(row["checked_at"]),
                gone_since=_moment(row["gone_since"]),
            )
            for row in rows
        ]

    def mark_edit_pending(self, feed: str, entry_id: str, toot: Toot, article: Article) -> None:
        with self._transaction(durable=True) as db:
            db.execute(
                "UPDATE entries SET edit_toot = ?, edit_article = ?, updated = ? "
                "WHERE feed = ? AND entry_id = ?",
                (_toot_json(toot), article.to_json(), _iso(now_utc()), feed, entry_id),
            )

    def mark_edited(self, feed: str, entry_id: str, at: datetime) -> None:
        with self._transaction(durable=True) as db:
            db.execute(
                "UPDATE entries SET toot = edit_toot, article = edit_article, edit_toot = NULL, "
                "edit_article = NULL, edited_at = ?, updated = ? "
                "WHERE feed = ? AND entry_id = ? AND edit_toot IS NOT NULL",
                (_iso(at), _iso(now_utc()), feed, entry_id),
            )

    def drop_edit(self, feed: str, entry_id: str) -> None:
        with self._transaction(durable=True) as db:
            db.execute(
                "UPDATE entries SET article = edit_article, edit_toot = NULL, edit_article = NULL "
                "WHERE feed = ? AND entry_id = ? AND edit_toot IS NOT NULL",
                (feed, entry_id),
            )

    def mark_deleted(self, feed: str, entry_id: str, reason: str = "") -> bool:
        return self._end_toot(feed, entry_id, "deleted", reason)

    def mark_retracted(self, feed: str, entry_id: str, reason: str = "") -> bool:
        return self._end_toot(feed, entry_id, "retracted", reason)

    def _end_toot(self, feed: str, entry_id: str, status: str, reason: str) -> bool:
        with self._transaction(durable=True) as db:
            return bool(
                db.execute(
                    "UPDATE entries SET status = ?, reason = ?, edit_toot = NULL, "
                    "edit_article = NULL, updated = ? "
                    "WHERE feed = ? AND entry_id = ? AND toot_id IS NOT NULL",
                    (status, reason or None, _iso(now_utc()), feed, entry_id),
                ).rowcount
            )

    def record_check(self, feed: str, entry_id: str, at: datetime, gone: bool | None) -> None:
        stamp = _iso(at)
        if gone is None:
            change, values = "", ()
        elif gone:
            # The first "gone" answer is the one the second must be an hour after.
            change, values = ", gone_since = COALESCE(gone_since, ?)", (stamp,)
        else:
            change, values = ", gone_since = NULL", ()
        with self._transaction() as db:
            db.execute(
                f"UPDATE entries SET checked_at = ?{change} WHERE feed = ? AND entry_id = ?",
                (stamp, *values, feed, entry_id),
            )

    def record_deletion(self, account: str, at: datetime) -> None:
        with self._transaction(durable=True) as db:
            db.execute("INSERT INTO deletions (account, at) VALUES (?, ?)", (account, _iso(at)))
            db.execute("DELETE FROM deletions WHERE at < ?", (_iso(at - DELETIONS_KEPT),))

    def deletions_since(self, account: str, since: datetime) -> int:
        row = self._db.execute(
            "SELECT count(*) FROM deletions WHERE account = ? AND at >= ?", (account, _iso(since))
        ).fetchone()
        return int(row[0])

    def pending(self, feed: str) -> list[PendingPost]:
        rows = self._db.execute(
            "SELECT feed, entry_id, idempotency_key, toot, pending_since, link, title "
            "FROM entries WHERE feed = ? AND status = 'pending' ORDER BY pending_since, entry_id",
            (feed,),
        ).fetchall()
        return [
            PendingPost(
                feed=row["feed"],
                entry_id=row["entry_id"],
                idempotency_key=row["idempotency_key"],
                toot=_toot_from_json(row["toot"]),
                pending_since=_moment(row["pending_since"]),
                link=row["link"],
                title=row["title"],
            )
            for row in rows
        ]

    def entries(
        self, feed: str | None = None, limit: int = 50, status: str | None = None
    ) -> list[EntryRecord]:
        """The most recently changed entries first, optionally of one feed or one status."""
        conditions, values = [], []
        if feed is not None:
            conditions.append("feed = ?")
            values.append(feed)
        if status is not None:
            conditions.append("status = ?")
            values.append(status)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = self._db.execute(
            "SELECT feed, entry_id, status, link, title, first_seen, toot_url, reason, updated "
            f"FROM entries {where} ORDER BY updated DESC, first_seen DESC LIMIT ?",
            (*values, limit),
        )
        return [
            EntryRecord(
                feed=row["feed"],
                entry_id=row["entry_id"],
                status=row["status"],
                link=row["link"],
                title=row["title"],
                first_seen=_moment(row["first_seen"]),
                toot_url=row["toot_url"],
                reason=row["reason"],
                updated=_moment(row["updated"]),
            )
            for row in rows
        ]

    def status_counts(self, feed: str) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT status, COUNT(*) AS count FROM entries WHERE feed = ? GROUP BY status", (feed,)
        )
        return {row["status"]: row["count"] for row in rows}

    # -- repairs by a person (`crossposter state ...`) -------------------------

    def forget(self, feed: str, entry_id: str) -> bool:
        """Drop what is known of an entry, so the next run finds it new and announces it."""
        with self._transaction() as db:
            removed = db.execute(
                "DELETE FROM entries WHERE feed = ? AND entry_id = ?", (feed, entry_id)
            ).rowcount
            _release_link(db, feed, entry_id)
            if removed:
                _forget_validators(db, feed)
        return bool(removed)

    def retry_failed(self, feed: str | None = None) -> int:
        """Failed entries become unknown again: the next run composes and announces them anew."""
        with self._transaction() as db:
            where, values = ("AND feed = ?", (feed,)) if feed is not None else ("", ())
            feeds = [
                row["feed"]
                for row in db.execute(
                    f"SELECT DISTINCT feed FROM entries WHERE status = 'failed' {where}", values
                )
            ]
            removed = db.execute(
                f"DELETE FROM entries WHERE status = 'failed' {where}", values
            ).rowcount
            for name in feeds:
                _forget_validators(db, name)
        return removed

    def settings_fingerprints(self) -> dict[str, str]:
        """Feed name → a digest of the settings its last run used."""
        rows = self._db.execute(
            "SELECT substr(key, 10) AS feed, value FROM meta WHERE key LIKE 'settings:%'"
        )
        return {row["feed"]: row["value"] for row in rows}

    def save_settings_fingerprint(self, feed: str, fingerprint: str) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                (f"settings:{feed}", fingerprint),
            )

    def drop_pending(self, feed: str) -> int:
        """Pending posts of a feed become seen: they will not go out."""
        with self._transaction() as db:
            db.execute(
                "DELETE FROM announced_links WHERE feed = ? AND entry_id IN "
                "(SELECT entry_id FROM entries WHERE feed = ? AND status = 'pending')",
                (feed, feed),
            )
            return db.execute(
                "UPDATE entries SET status = 'seen', idempotency_key = NULL, toot = NULL, "
                "pending_since = NULL, updated = ? WHERE feed = ? AND status = 'pending'",
                (_iso(now_utc()), feed),
            ).rowcount

    # -- backup and restore ----------------------------------------------------

    def export_data(self) -> dict[str, Any]:
        """Everything the state holds, as JSON-ready data; read in one consistent snapshot."""
        self._db.execute("BEGIN")
        try:
            # A file an older crossposter wrote, read as it is, exports as that version:
            # the import then brings its rows up to date, as an upgrade would.
            version = self._db.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
            ).fetchone()["value"]
            data: dict[str, Any] = {
                "format": EXPORT_FORMAT,
                "version": int(version),
                "exported_at": _iso(now_utc()),
            }
            present = {
                row["name"]
                for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
            for table in (table for table in EXPORTED_TABLES if table in present):
                cursor = self._db.execute(f"SELECT * FROM {table} ORDER BY 1, 2")
                data[table] = [dict(row) for row in cursor]
        finally:
            self._db.execute("COMMIT")
        return data

    def replace_with(self, data: Any) -> None:
        """Replace the whole state by an export (a restore); all or nothing."""
        if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
            raise StateError("not a crossposter state export")
        version = data.get("version")
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise StateError(
                f"the export is from a newer crossposter (state version {version}, this one "
                f"reads {SCHEMA_VERSION}); upgrade crossposter"
            )
        problem = _import_problem(self._db, data)
        if problem:
            raise StateError(f"the export cannot be imported: {problem}; nothing changed")
        try:
            with self._transaction() as db:
                for table in EXPORTED_TABLES:
                    db.execute(f"DELETE FROM {table}")
                    for row in data.get(table) or []:
                        columns = ", ".join(f'"{name}"' for name in row)
                        marks = ", ".join("?" for _ in row)
                        db.execute(
                            f"INSERT INTO {table} ({columns}) VALUES ({marks})",
                            tuple(row.values()),
                        )
                _migrate(db, version)
        except (sqlite3.Error, TypeError, AttributeError) as error:
            raise StateError(f"the export cannot be imported ({error}); nothing changed") from None

    def prune(self, feed: str, retention: timedelta) -> int:
        """Forget entries absent from the feed for `retention` of the feed's own parses.

        Measured against the feed's last successful parse, not the clock: a feed
        that answers 304 for a year keeps every entry it still holds. A retracted
        entry is kept: its article must not come back as new.
        """
        state = self.feed(feed)
        if state is None or state.last_parsed is None:
            return 0
        cutoff = _iso(state.last_parsed - retention)
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM entries WHERE feed = ? AND last_seen < ? "
                "AND status IN ('seen', 'posted', 'failed', 'deleted')",
                (feed, cutoff),
            )
        return cursor.rowcount

    # -- instance limits -----------------------------------------------------

    def cached_limits(self, instance: str, max_age: timedelta) -> InstanceLimits | None:
        row = self._db.execute(
            "SELECT limits, fetched_at FROM instances WHERE url = ?", (instance,)
        ).fetchone()
        if not row or now_utc() - _moment(row["fetched_at"]) > max_age:
            return None
        return InstanceLimits(**{**json.loads(row["limits"]), "source": "cached"})

    def save_limits(self, instance: str, limits: InstanceLimits) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO instances (url, limits, fetched_at) VALUES (?, ?, ?)",
                (instance, json.dumps(asdict(limits)), _iso(now_utc())),
            )

    # -- several processes ---------------------------------------------------
    # The lock file keeps every other process out for the whole run: each lease is granted.

    def take_leases(self, feeds: Iterable[str], worker: str, duration: timedelta) -> set[str]:
        return set(feeds)

    def renew_leases(self, feeds: Iterable[str], worker: str, duration: timedelta) -> set[str]:
        return set(feeds)

    def release_leases(self, feeds: Iterable[str], worker: str) -> None:
        pass

    def leases(self) -> list[Lease]:
        return []

    def next_polls(self, feeds: Iterable[str] | None = None) -> dict[str, datetime | None]:
        rows = self._db.execute("SELECT name, next_poll FROM feeds")
        wanted = None if feeds is None else set(feeds)
        return {
            row["name"]: _moment(row["next_poll"])
            for row in rows
            if wanted is None or row["name"] in wanted
        }

    def set_next_poll(self, feed: str, at: datetime) -> None:
        with self._transaction() as db:
            db.execute("UPDATE feeds SET next_poll = ? WHERE name = ?", (_iso(at), feed))

    def record_rate_limit(self, instance: str, account: str, reset_at: datetime) -> None:
        with self._transaction(durable=True) as db:
            db.execute(
                "INSERT OR REPLACE INTO account_limits (instance, account, reset_at) "
                "VALUES (?, ?, ?)",
                (instance, account, _iso(reset_at)),
            )

    def rate_limited_until(self, instance: str, account: str) -> datetime | None:
        row = self._db.execute(
            "SELECT reset_at FROM account_limits WHERE instance = ? AND account = ? "
            "AND reset_at > ?",
            (instance, account, _iso(now_utc())),
        ).fetchone()
        return _moment(row["reset_at"]) if row else None

    def record_heartbeat(self, worker: str, heartbeat: Heartbeat) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO workers (worker, interval_seconds, last_run_at, "
                "last_exit_code, last_success_at) VALUES (?, ?, ?, ?, ?)",
                (
                    worker,
                    heartbeat.interval_seconds,
                    _iso(heartbeat.last_run_at),
                    heartbeat.last_exit_code,
                    _iso(heartbeat.last_success_at),
                ),
            )

    def heartbeat(self, worker: str) -> Heartbeat | None:
        row = self._db.execute(
            "SELECT interval_seconds, last_run_at, last_exit_code, last_success_at "
            "FROM workers WHERE worker = ?",
            (worker,),
        ).fetchone()
        return None if row is None else _heartbeat(row)

    def newest_heartbeat(self, worker_prefix: str) -> tuple[str, Heartbeat] | None:
        row = self._db.execute(
            "SELECT worker, interval_seconds, last_run_at, last_exit_code, last_success_at "
            "FROM workers WHERE substr(worker, 1, ?) = ? ORDER BY last_run_at DESC LIMIT 1",
            (len(worker_prefix), worker_prefix),
        ).fetchone()
        return None if row is None else (row["worker"], _heartbeat(row))


def _unusable(where: object, error: object) -> StateError:
    return StateError(
        f"{where}: not a usable crossposter state file ({error}); it was left untouched. "
        "Restore it from a backup; moving it away starts afresh, and every feed's "
        "first run then records its entries without announcing them"
    )


# SQLite's primary result codes (extended codes keep them in their low byte).
SQLITE_PERM, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY = 3, 5, 6, 8
SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_CANTOPEN = 10, 11, 13, 14
SQLITE_AUTH, SQLITE_NOTADB = 23, 26


def _state_error(where: object, error: Exception) -> StateError:
    """What went wrong with the state file, as one line; the single place that says it."""
    translated = _translated(where, error)
    if translated is not None:
        return translated
    if isinstance(error, OSError):
        return StateError(f"{where}: {error.strerror or error}")
    return _unusable(where, error)


def _translated(where: object, error: Exception) -> StateError | None:
    """A StateError for a failure of the file or its disk; None for anything else (a bug)."""
    if isinstance(error, OSError):
        code = error.errno
        reason = error.strerror or str(error)
        if code in (errno.EACCES, errno.EPERM, errno.EROFS):
            return _permission(where, reason)
        if code in (errno.ENOSPC, errno.EDQUOT):
            return _disk_full(where, reason)
        if code == errno.EIO:
            return _io_error(where, reason)
        if code == errno.ENOTDIR:
            return StateError(f"{where}: a part of its path is a file, not a folder")
        if code == errno.EISDIR:
            return StateError(f"{where} is a directory, not a state file")
        return None
    if not isinstance(error, sqlite3.Error):
        return None
    primary = (getattr(error, "sqlite_errorcode", None) or 0) & 0xFF
    if primary == SQLITE_FULL:
        return _disk_full(where, error)
    if primary == SQLITE_IOERR:
        return _io_error(where, error)
    if primary in (SQLITE_BUSY, SQLITE_LOCKED):
        return StateLocked(
            f"{where}: the state file is busy, another program is writing it ({error}); "
            "try again"
        )
    if primary in (SQLITE_PERM, SQLITE_READONLY, SQLITE_AUTH):
        return _permission(where, error)
    if primary in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return _unusable(where, f"corrupt: {error}")
    if primary == SQLITE_CANTOPEN:
        return _cannot_open(Path(str(where)), error)
    return None


def _cannot_open(path: Path, error: object) -> StateError:
    # SQLite says "unable to open database file" for every cause: find which it was.
    if path.is_dir():
        return StateError(f"{path} is a directory, not a state file")
    folder = path.parent
    if not os.access(folder, os.W_OK | os.X_OK) or (
        path.exists() and not os.access(path, os.R_OK | os.W_OK)
    ):
        return _permission(path, error)
    return StateError(f"{path}: cannot be opened ({error}); it was left untouched")


def _permission(where: object, reason: object) -> StateError:
    folder = Path(str(where)).parent
    return StateError(
        f"{where}: permission denied ({reason}): the user {user_name()} must be able to read "
        f"and write the state file and write its folder {folder}; check their owner and mode. "
        "It was left untouched"
    )


def _disk_full(where: object, reason: object) -> TemporaryStateError:
    return TemporaryStateError(
        f"{where}: the disk is full ({reason}); what the state holds stays consistent, "
        "the next run carries on once there is room"
    )


def _io_error(where: object, reason: object) -> TemporaryStateError:
    return TemporaryStateError(
        f"{where}: input/output error on the state file ({reason}); the next run tries again. "
        "If it keeps happening, check the disk"
    )


@contextlib.contextmanager
def _translating(where: object) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as error:
        translated = _translated(where, error)
        if translated is None:
            raise
        raise translated from None


class _Cursor(sqlite3.Cursor):
    """Every call that reaches the file raises a StateError for a failure of the file."""

    def execute(self, sql, parameters=(), /):
        with _translating(self.connection.where):
            return super().execute(sql, parameters)

    def executemany(self, sql, rows, /):
        with _translating(self.connection.where):
            return super().executemany(sql, rows)

    def fetchone(self):
        with _translating(self.connection.where):
            return super().fetchone()

    def fetchall(self):
        with _translating(self.connection.where):
            return super().fetchall()

    def __next__(self):
        with _translating(self.connection.where):
            return super().__next__()


class _Connection(sqlite3.Connection):
    """A connection whose failures of the file (full, I/O, busy, corrupt) are StateErrors,
    wherever they happen: opening, reading, any write, a batch's commit."""

    where: object = "state"

    def execute(self, sql, parameters=(), /):
        return self.cursor(_Cursor).execute(sql, parameters)

    def executemany(self, sql, rows, /):
        return self.cursor(_Cursor).executemany(sql, rows)

    def executescript(self, script, /):
        with _translating(self.where):
            return super().executescript(script)


def _connect(path: Path, *, mode: str | None = None, timeout: float = 5.0) -> _Connection:
    # mode=ro/rw never creates the file.
    database = path if mode is None else f"{path.resolve().as_uri()}?mode={mode}"
    connection = sqlite3.connect(
        database, uri=mode is not None, timeout=timeout, isolation_level=None, factory=_Connection
    )
    connection.where = path
    return connection


def _rolled_back_write(db: sqlite3.Connection) -> None:
    """A real write (the file's journal is created, a page changed), undone at once."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("UPDATE meta SET value = value WHERE key = 'schema_version'")
    finally:
        # A failing rollback must not hide the error that made it necessary.
        with contextlib.suppress(sqlite3.Error, StateError):
            if db.in_transaction:
                db.execute("ROLLBACK")




def _existing_state_file(path: Path) -> os.stat_result | None:
    """The state file's status, or None when there is none yet; what cannot be one is refused."""
    try:
        status = path.lstat()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise _state_error(path, error) from None
    if stat.S_ISLNK(status.st_mode):
        # Its lock, journal and mode would be the link's folder's business, not the file's.
        raise StateError(
            f"{path} is a symbolic link to {os.path.realpath(path)}; set state_file to that "
            "path itself"
        )
    if stat.S_ISDIR(status.st_mode):
        raise StateError(f"{path} is a directory, not a state file")
    if not stat.S_ISREG(status.st_mode):
        raise StateError(f"{path} is not a regular file, so not a state file")
    return status


def _make_private(path: Path, status: os.stat_result) -> None:
    """The state names the user's feeds and posts: nobody else reads it."""
    mode = stat.S_IMODE(status.st_mode)
    if mode & 0o077 == 0:
        return
    try:
        path.chmod(0o600)
    except OSError as error:
        log.warning(
            "%s is open to others (mode %03o) and cannot be made private: %s",
            path,
            mode,
            error.strerror,
        )
        return
    log.warning("%s was open to others (mode %03o); it is now 600, its owner's only", path, mode)


def _import_problem(db: sqlite3.Connection, data: dict[str, Any]) -> str | None:
    """The first thing in an export that today's tables would not hold as the state would
    have written it, or None: known tables and columns, text or whole numbers, timestamps."""
    unknown = set(data) - {"format", "version", "exported_at", *EXPORTED_TABLES}
    if unknown:
        return f"unknown field {sorted(unknown)[0]!r}"
    for table in EXPORTED_TABLES:
        rows = data.get(table) or []
        if not isinstance(rows, list):
            return f"{table} is not a list"
        columns = {
            column["name"]: (column["type"].upper(), bool(column["notnull"] or column["pk"]))
            for column in db.execute(f"PRAGMA table_info({table})")
        }
        for number, row in enumerate(rows):
            if not isinstance(row, dict):
                return f"{table}[{number}] is not an object"
            for name, value in row.items():
                problem = _value_problem(table, name, value, columns.get(name))
                if problem:
                    return f"{table}[{number}].{name}: {problem}"
    return None


def _value_problem(
    table: str, name: str, value: Any, column: tuple[str, bool] | None
) -> str | None:
    if column is None:
        return "no such column"
    kind, required = column
    if value is None:
        return "missing" if required else None
    if kind == "INTEGER":
        return None if type(value) is int else f"not a whole number: {value!r}"
    if kind == "REAL":
        return None if type(value) in (int, float) else f"not a number: {value!r}"
    if not isinstance(value, str):
        return f"not text: {value!r}"
    if name in TIMESTAMP_COLUMNS.get(table, ()):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return f"not a timestamp: {value!r}"
        if moment.tzinfo is None:
            return f"a timestamp without its time zone: {value!r}"
    elif (table, name) in _JSON_COLUMNS:
        try:
            _JSON_COLUMNS[table, name](value)
        except (ValueError, TypeError, AttributeError):
            return "not what crossposter writes there"
    return None


def _compact_timestamps(db: sqlite3.Connection) -> None:
    """Version 1 wrote 2026-11-26T08:12:00+00:00; version 2 writes 20261126T081200Z."""
    # The columns version 1 had: a migration stays as it was written.
    version_1 = {
        "feeds": ("last_fetch", "last_parsed", "next_poll"),
        "entries": ("first_seen", "last_seen", "pending_since", "updated"),
        "instances": ("fetched_at",),
    }
    for table, columns in version_1.items():
        for column in columns:
            db.execute(
                f"UPDATE {table} SET {column} = replace(replace(replace({column}, '-', ''), "
                f"':', ''), '+0000', 'Z') WHERE {column} LIKE '____-__-__T%'"
            )


def _announced_links(db: sqlite3.Connection) -> None:
    """Version 2 → 3: the links each account announced, from the posted and pending entries.

    Which account posted them was not recorded: they count as the default account's.
    """
    db.execute(ANNOUNCED_LINKS)
    rows = db.execute(
        "SELECT feed, entry_id, link FROM entries "
        "WHERE status IN ('posted', 'pending') AND link IS NOT NULL ORDER BY updated, feed"
    ).fetchall()
    db.executemany(
        "INSERT INTO announced_links (account, link, feed, entry_id) VALUES (?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        [(DEFAULT_ACCOUNT, link_key(row[2]), row[0], row[1]) for row in rows],
    )


_VERSION_3_ENTRIES = """
CREATE TABLE entries_v3 (
    feed TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN
        ('seen', 'pending', 'posted', 'failed', 'retracted', 'deleted')),
    link TEXT,
    title TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    idempotency_key TEXT,
    toot TEXT,
    pending_since TEXT,
    toot_id TEXT,
    toot_url TEXT,
    reason TEXT,
    updated TEXT NOT NULL,
    account TEXT,
    instance TEXT,
    posted_at TEXT,
    edited_at TEXT,
    replies TEXT,
    replies_fetched_at TEXT,
    PRIMARY KEY (feed, entry_id)
) WITHOUT ROWID;
INSERT INTO entries_v3 (feed, entry_id, status, link, title, first_seen, last_seen,
    idempotency_key, toot, pending_since, toot_id, toot_url, reason, updated)
    SELECT feed, entry_id, status, link, title, first_seen, last_seen, idempotency_key, toot,
    pending_since, toot_id, toot_url, reason, updated FROM entries;
DROP TABLE entries;
ALTER TABLE entries_v3 RENAME TO entries;
CREATE INDEX IF NOT EXISTS entries_by_status ON entries (status) WHERE status != 'seen';
CREATE TABLE IF NOT EXISTS hook_runs (
    feed TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    event TEXT NOT NULL,
    occurrence TEXT NOT NULL,
    started TEXT NOT NULL,
    PRIMARY KEY (feed, entry_id, event, occurrence)
) WITHOUT ROWID;
"""


def _links_and_retractions(db: sqlite3.Connection) -> None:
    """Version 3 → 4: who posted each toot and when, its replies, retracted and deleted entries.

    SQLite cannot widen a CHECK in place, so the entries table is copied. An export's
    rows arrive in today's table already: only the data step runs on them. Toots
    posted before keep no account (`links` names the configured one) and were
    posted, as far as anyone knows, at their last change.
    """
    columns = {row[1] for row in db.execute("PRAGMA table_info(entries)")}
    if "account" not in columns:
        for statement in _VERSION_3_ENTRIES.split(";"):
            if statement.strip():
                db.execute(statement)
    db.execute(
        "UPDATE entries SET posted_at = updated WHERE toot_id IS NOT NULL AND posted_at IS NULL"
    )


# What a toot's later life needs (crossposter.after_posting.decisions), added by version 5.
_LIFECYCLE_COLUMNS = ("article", "edit_toot", "edit_article", "checked_at", "gone_since")


def _lifecycle_columns(db: sqlite3.Connection) -> None:
    """Version 4 → 5: what became of a toot: the article as posted, a pending edit, checks.

    An import runs this on today's table, which has them all already.
    """
    have = {row[1] for row in db.execute("PRAGMA table_info(entries)")}
    for column in _LIFECYCLE_COLUMNS:
        if column not in have:
            db.execute(f"ALTER TABLE entries ADD COLUMN {column} TEXT")


def _deletions(db: sqlite3.Connection) -> None:
    """Version 5 → 6: when each account deleted a toot, for Mastodon's limit on deletions."""
    for statement in DELETIONS.split(";"):
        if statement.strip():
            db.execute(statement)


def _polls_and_coordination(db: sqlite3.Connection) -> None:
    """Version 6 → 7: each feed's next poll (`run --loop`), 429 resets, loop heartbeats."""
    if "next_poll" not in {row[1] for row in db.execute("PRAGMA table_info(feeds)")}:
        db.execute("ALTER TABLE feeds ADD COLUMN next_poll TEXT")
    for statement in COORDINATION_TABLES.split(";"):
        if statement.strip():
            db.execute(statement)


# MIGRATIONS[n - 1] takes a state from version n to n + 1. They also run on the rows of an
# older export imported into today's tables (`state import`), so each must accept those.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _compact_timestamps,
    _announced_links,
    _links_and_retractions,
    _lifecycle_columns,
    _deletions,
    _polls_and_coordination,
)
SCHEMA_VERSION = len(MIGRATIONS) + 1


def _migrate(db: sqlite3.Connection, version: int) -> None:
    """Bring data written at `version` to SCHEMA_VERSION, one step at a time, in order."""
    for migration in MIGRATIONS[max(version, 1) - 1 :]:
        migration(db)


def _heartbeat(row: sqlite3.Row) -> Heartbeat:
    return Heartbeat(
        interval_seconds=row["interval_seconds"],
        last_run_at=_moment(row["last_run_at"]),
        last_exit_code=row["last_exit_code"],
        last_success_at=_moment(row["last_success_at"]),
    )


def _feed_state(row: sqlite3.Row) -> FeedState:
    return FeedState(
        name=row["name"],
        url=row["url"],
        validators=Validators(etag=row["etag"], last_modified=row["last_modified"]),
        last_fetch=_moment(row["last_fetch"]),
        last_result=row["last_result"],
        last_parsed=_moment(row["last_parsed"]),
    )


def _claim(db: sqlite3.Connection, account: str, link: str, feed: str, entry_id: str) -> bool:
    """Claim `link` for the entry on `account`: won when new, or already this entry's."""
    key = link_key(link)
    inserted = db.execute(
        "INSERT INTO announced_links (account, link, feed, entry_id) VALUES (?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        (account, key, feed, entry_id),
    ).rowcount
    if inserted:
        return True
    holder = db.execute(
        "SELECT feed, entry_id FROM announced_links WHERE account = ? AND link = ?",
        (account, key),
    ).fetchone()
    return holder is not None and tuple(holder) == (feed, entry_id)


def _release_link(db: sqlite3.Connection, feed: str, entry_id: str) -> None:
    db.execute("DELETE FROM announced_links WHERE feed = ? AND entry_id = ?", (feed, entry_id))


def _forget_validators(db: sqlite3.Connection, feed: str) -> None:
    # Otherwise the next run gets a 304 and never reads the entry that became new.
    db.execute("UPDATE feeds SET etag = NULL, last_modified = NULL WHERE name = ?", (feed,))


def _toot_json(toot: Toot) -> str:
    return json.dumps(asdict(toot), ensure_ascii=False)


def _toot_from_json(text: str) -> Toot:
    data = json.loads(text)
    data["hashtags"] = tuple(data.get("hashtags") or ())
    data["media_ids"] = tuple(data.get("media_ids") or ())
    return Toot(**data)


# Columns holding JSON, with how the state reads them back: an import must be readable.
_JSON_COLUMNS: dict[tuple[str, str], Callable[[str], object]] = {
    ("entries", "toot"): _toot_from_json,
    ("instances", "limits"): lambda text: InstanceLimits(**json.loads(text)),
}


def _acquire_lock(lock_path: Path, timeout: float) -> int:
    try:
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
    except PermissionError as error:
        # The lock file is made beside the state file: its folder is what must be writable.
        raise _permission(lock_path.with_suffix(""), error.strerror) from None
    except OSError as error:
        raise StateError(f"{lock_path}: cannot open the lock file: {error.strerror}") from None
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise StateLocked(
                    f"{lock_path.with_suffix('')}: another crossposter run is using this state "
                    "file; this run did nothing (set lock_timeout to wait for it)"
                ) from None
            time.sleep(0.1)
