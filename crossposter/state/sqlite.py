"""The embedded state backend: what the tool remembers between runs, in one SQLite file.

Every change is committed at once, so a crash at any moment leaves a
consistent file: an entry is `pending` (with its idempotency key and the exact
toot) before its request is sent, and `posted` after the server answered.
A second run on the same file is kept out by an exclusive lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from crossposter.errors import StateError, StateLocked
from crossposter.feeds.fetch import Validators
from crossposter.models import Entry, InstanceLimits, Posted, Toot
from crossposter.state.base import EntryRecord, FeedState, PendingPost, State, now_utc

TIMESTAMP_COLUMNS = {
    "feeds": ("last_fetch", "last_parsed"),
    "entries": ("first_seen", "last_seen", "pending_since", "updated"),
    "instances": ("fetched_at",),
}
EXPORT_FORMAT = "crossposter-state"
EXPORTED_TABLES = ("feeds", "entries", "instances")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS feeds (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    last_fetch TEXT,
    last_result TEXT,
    last_parsed TEXT
);
CREATE TABLE IF NOT EXISTS entries (
    feed TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('seen', 'pending', 'posted', 'failed')),
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
    PRIMARY KEY (feed, entry_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_by_status ON entries (status) WHERE status != 'seen';
CREATE TABLE IF NOT EXISTS instances (
    url TEXT PRIMARY KEY,
    limits TEXT NOT NULL,
    fetched_at TEXT NOT NULL
);
"""


def _iso(moment: datetime | None) -> str | None:
    # Fixed width and UTC, so SQL compares these strings in time order.
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ") if moment else None


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class SqliteState(State):
    """The state file. Open with `SqliteState.open(...)` as a context manager."""

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
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StateError(f"{path.parent}: cannot create the state directory: {error}") from None
        lock_fd = _acquire_lock(Path(f"{path}.lock"), lock_timeout)
        try:
            if not path.exists():
                # sqlite would create it with the umask's mode; the state names the user's feeds.
                os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
            new = path.stat().st_size == 0
            connection = sqlite3.connect(path, timeout=30, isolation_level=None)
        except (OSError, sqlite3.Error) as error:
            os.close(lock_fd)
            raise _unusable(path, error) from None
        except BaseException:
            os.close(lock_fd)
            raise
        state = cls(connection, path, lock_fd)
        state._prepare(create=new)
        return state

    @classmethod
    def open_read_only(cls, path: str | os.PathLike[str]) -> SqliteState:
        """A view that cannot write, for --dry-run; an absent file reads as empty."""
        path = Path(path)
        if path.exists() and path.stat().st_size > 0:
            try:
                connection = sqlite3.connect(
                    f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None
                )
            except sqlite3.Error as error:
                raise _unusable(path, error) from None
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
        connection = sqlite3.connect(":memory:", isolation_level=None)
        try:
            self._db.backup(connection)
        except sqlite3.Error as error:
            connection.close()
            raise _unusable(self.path or "state", error) from None
        copy = SqliteState(connection, None, None, read_only=False)
        # A file an older crossposter wrote is read as it is; its copy is brought up to date.
        copy._prepare(create=False)
        return copy

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
        except sqlite3.DatabaseError as error:
            self.close()
            raise _unusable(where, error) from None
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
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("UPDATE meta SET value = value WHERE 0")
            self._db.execute("ROLLBACK")
        except sqlite3.Error as error:
            self.close()
            raise StateError(
                f"{self.path}: cannot write the state file ({error}); check its permissions and "
                "its folder's. It was left untouched"
            ) from None

    def _upgrade(self, version: int) -> None:
        """Bring a state file written by an older crossposter up to date, in one transaction."""
        with self._transaction() as db:
            _migrate(db, version)
            db.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
            )

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Commit the writes made inside together when the block ends (or fails).

        Each commit costs a disk sync (~2 ms): a run over 1,000 unchanged feeds
        would spend seconds on them. A write that guards a post (pending, posted,
        failed) still reaches the disk at once, with everything written before it.
        """
        if self._batching or self.read_only:
            yield
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._batching = True
        try:
            yield
        finally:
            self._batching = False
            if self._db.in_transaction:
                self._db.execute("COMMIT")

    @contextlib.contextmanager
    def _transaction(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        if self._batching:
            # A savepoint keeps a failed write from taking the batch's other writes with it.
            self._db.execute("SAVEPOINT write")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK TO write")
                self._db.execute("RELEASE write")
                raise
            self._db.execute("RELEASE write")
            if durable:
                self._db.execute("COMMIT")
                self._db.execute("BEGIN IMMEDIATE")
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

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
        self, feed: str, entry: Entry, idempotency_key: str, toot: Toot
    ) -> PendingPost:
        stamp = _iso(now_utc())
        with self._transaction(durable=True) as db:
            db.execute(
                "INSERT INTO entries (feed, entry_id, status, link, title, first_seen, last_seen, "
                "idempotency_key, toot, pending_since, updated) "
                "VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (feed, entry_id) DO UPDATE SET status = 'pending', "
                "idempotency_key = excluded.idempotency_key, toot = excluded.toot, "
                "pending_since = excluded.pending_since, reason = NULL, updated = excluded.updated",
                (
                    feed,
                    entry.id,
                    entry.link,
                    entry.title,
                    stamp,
                    stamp,
                    idempotency_key,
                    json.dumps(asdict(toot), ensure_ascii=False),
                    stamp,
                    stamp,
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

    def mark_posted(self, feed: str, entry_id: str, posted: Posted) -> None:
        with self._transaction(durable=True) as db:
            db.execute(
                "UPDATE entries SET status = 'posted', toot_id = ?, toot_url = ?, reason = NULL, "
                "updated = ? WHERE feed = ? AND entry_id = ?",
                (posted.id, posted.url, _iso(now_utc()), feed, entry_id),
            )

    def mark_failed(self, feed: str, entry_id: str, reason: str) -> None:
        with self._transaction(durable=True) as db:
            db.execute(
                "UPDATE entries SET status = 'failed', reason = ?, updated = ? "
                "WHERE feed = ? AND entry_id = ?",
                (reason, _iso(now_utc()), feed, entry_id),
            )

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
            return db.execute(
                "UPDATE entries SET status = 'seen', idempotency_key = NULL, toot = NULL, "
                "pending_since = NULL, updated = ? WHERE feed = ? AND status = 'pending'",
                (_iso(now_utc()), feed),
            ).rowcount

    # -- backup and restore ----------------------------------------------------

    def export_data(self) -> dict[str, Any]:
        """Everything the state holds, as JSON-ready data; read in one consistent snapshot."""
        data: dict[str, Any] = {
            "format": EXPORT_FORMAT,
            "version": SCHEMA_VERSION,
            "exported_at": _iso(now_utc()),
        }
        self._db.execute("BEGIN")
        try:
            for table in EXPORTED_TABLES:
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
        that answers 304 for a year keeps every entry it still holds.
        """
        state = self.feed(feed)
        if state is None or state.last_parsed is None:
            return 0
        cutoff = _iso(state.last_parsed - retention)
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM entries WHERE feed = ? AND last_seen < ? "
                "AND status IN ('seen', 'posted', 'failed')",
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


def _unusable(where: object, error: Exception) -> StateError:
    return StateError(
        f"{where}: not a usable crossposter state file ({error}); it was left untouched. "
        "Restore it from a backup; moving it away starts afresh, and every feed's "
        "first run then records its entries without announcing them"
    )


def _compact_timestamps(db: sqlite3.Connection) -> None:
    """Version 1 wrote 2026-11-26T08:12:00+00:00; version 2 writes 20261126T081200Z."""
    for table, columns in TIMESTAMP_COLUMNS.items():
        for column in columns:
            db.execute(
                f"UPDATE {table} SET {column} = replace(replace(replace({column}, '-', ''), "
                f"':', ''), '+0000', 'Z') WHERE {column} LIKE '____-__-__T%'"
            )


# MIGRATIONS[n - 1] takes a state from version n to n + 1. They also run on the rows of an
# older export imported into today's tables (`state import`), so each must accept those.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_compact_timestamps,)
SCHEMA_VERSION = len(MIGRATIONS) + 1


def _migrate(db: sqlite3.Connection, version: int) -> None:
    """Bring data written at `version` to SCHEMA_VERSION, one step at a time, in order."""
    for migration in MIGRATIONS[max(version, 1) - 1 :]:
        migration(db)


def _feed_state(row: sqlite3.Row) -> FeedState:
    return FeedState(
        name=row["name"],
        url=row["url"],
        validators=Validators(etag=row["etag"], last_modified=row["last_modified"]),
        last_fetch=_moment(row["last_fetch"]),
        last_result=row["last_result"],
        last_parsed=_moment(row["last_parsed"]),
    )


def _forget_validators(db: sqlite3.Connection, feed: str) -> None:
    # Otherwise the next run gets a 304 and never reads the entry that became new.
    db.execute("UPDATE feeds SET etag = NULL, last_modified = NULL WHERE name = ?", (feed,))


def _toot_from_json(text: str) -> Toot:
    data = json.loads(text)
    data["hashtags"] = tuple(data.get("hashtags") or ())
    data["media_ids"] = tuple(data.get("media_ids") or ())
    return Toot(**data)


def _acquire_lock(lock_path: Path, timeout: float) -> int:
    try:
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
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
