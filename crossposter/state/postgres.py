"""The PostgreSQL state backend: the same state as the SQLite file, in a database server.

For several processes or replicas sharing one memory. Imported only when
`state_url` is set, so psycopg (the `postgres` extra) is needed only then.

The guarantees are SQLite's: every write that guards a post is committed when
it returns (pending before the request, posted after the answer). Where SQLite
lets one run in at a time, here each feed is leased to one process at a time
(`feed_leases`, a row with an expiry, renewed while the feed is worked on); a
process that dies loses its leases when they expire. Leases, 429 resets and
heartbeats go through a second session that commits at once, so the other
processes see them while this one's pass is still in its batch. Rows are typed
here (timestamptz, json), and an export is the same document the SQLite backend
writes, so either imports the other's.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg.rows import dict_row
from psycopg.types.string import TextLoader

from crossposter.after_posting.decisions import Article
from crossposter.config import DEFAULT_ACCOUNT, redacted_url
from crossposter.errors import StateError, TemporaryStateError
from crossposter.feeds.fetch import Validators
from crossposter.feeds.select import link_key
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
from crossposter.state.refusals import one_line, refused_login
from crossposter.state.sqlite import (
    DELETIONS_KEPT,
    EXPORT_FORMAT,
    EXPORTED_TABLES,
    SqliteState,
    _iso,
    _toot_from_json,
    _toot_json,
)
from crossposter.state.sqlite import SCHEMA_VERSION as EXPORT_VERSION
from crossposter.state.transactions import Transactions

_STATUS_LIST = ", ".join(f"'{status}'" for status in ENTRY_STATUSES)


def _links_and_lifecycle(db: psycopg.Connection) -> None:
    """Version 1 → 2: SQLite's versions 3 to 5 at once: the links each account announced,
    who posted each toot and when, its replies, the article as posted, a pending edit,
    the checks of a gone article, the hooks run; retracted and deleted entries.

    The links of posted and pending entries count as the default account's, and a
    toot was posted, as far as anyone knows, at its last change (as SQLite's upgrade).
    """
    db.execute(
        """
        ALTER TABLE entries
            ADD COLUMN account text,
            ADD COLUMN instance text,
            ADD COLUMN posted_at timestamptz,
            ADD COLUMN edited_at timestamptz,
            ADD COLUMN replies json,
            ADD COLUMN replies_fetched_at timestamptz,
            ADD COLUMN article json,
            ADD COLUMN edit_toot json,
            ADD COLUMN edit_article json,
            ADD COLUMN checked_at timestamptz,
            ADD COLUMN gone_since timestamptz,
            DROP CONSTRAINT entries_status_check,
            ADD CONSTRAINT entries_status_check CHECK (status IN (STATUSES));
        UPDATE entries SET posted_at = updated WHERE toot_id IS NOT NULL AND posted_at IS NULL;
        CREATE TABLE hook_runs (
            feed text NOT NULL,
            entry_id text NOT NULL,
            event text NOT NULL,
            occurrence text NOT NULL,
            started timestamptz NOT NULL,
            PRIMARY KEY (feed, entry_id, event, occurrence)
        );
        CREATE TABLE announced_links (
            account text NOT NULL,
            link text NOT NULL,
            feed text NOT NULL,
            entry_id text NOT NULL,
            PRIMARY KEY (account, link)
        );
        CREATE INDEX announced_links_by_entry ON announced_links (feed, entry_id);
        """.replace("STATUSES", _STATUS_LIST)
    )
    # link_key is Python's: the keys are made here, not in SQL.
    rows = db.execute(
        "SELECT feed, entry_id, link FROM entries "
        "WHERE status IN ('posted', 'pending') AND link IS NOT NULL "
        'ORDER BY updated, feed COLLATE "C"'
    ).fetchall()
    with db.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO announced_links (account, link, feed, entry_id) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [(DEFAULT_ACCOUNT, link_key(link), feed, entry_id) for feed, entry_id, link in rows],
        )


# MIGRATIONS[n] takes the database from version n to n + 1 (0: no crossposter tables yet):
# SQL, or a function for a step SQL alone cannot make. Each runs in the transaction that
# records the new version, under MIGRATION_LOCK. The exported tables keep the SQLite
# tables' columns, in their order: a column added there is added here too
# (tests/test_postgres_state.py moves an export between both).
MIGRATIONS: tuple[str | Callable[[psycopg.Connection], None], ...] = (
    """
    CREATE TABLE feeds (
        name text PRIMARY KEY,
        url text NOT NULL,
        etag text,
        last_modified text,
        last_fetch timestamptz,
        last_result text,
        last_parsed timestamptz
    );
    CREATE TABLE entries (
        feed text NOT NULL,
        entry_id text NOT NULL,
        status text NOT NULL CHECK (status IN ('seen', 'pending', 'posted', 'failed')),
        link text,
        title text,
        first_seen timestamptz NOT NULL,
        last_seen timestamptz NOT NULL,
        idempotency_key text,
        toot json,
        pending_since timestamptz,
        toot_id text,
        toot_url text,
        reason text,
        updated timestamptz NOT NULL,
        PRIMARY KEY (feed, entry_id)
    );
    CREATE INDEX entries_by_status ON entries (status) WHERE status <> 'seen';
    CREATE TABLE instances (
        url text PRIMARY KEY,
        limits json NOT NULL,
        fetched_at timestamptz NOT NULL
    );
    """,
    _links_and_lifecycle,
    # When each account deleted a toot, for Mastodon's 30 deletions per 30 minutes.
    """
    CREATE TABLE deletions (account text NOT NULL, at timestamptz NOT NULL);
    CREATE INDEX deletions_by_account ON deletions (account, at);
    """,
    # Several processes: each feed's next poll, its lease, 429 resets, loop heartbeats.
    """
    ALTER TABLE feeds ADD COLUMN next_poll timestamptz;
    CREATE TABLE feed_leases (
        feed text PRIMARY KEY,
        worker text NOT NULL,
        expires_at timestamptz NOT NULL
    );
    CREATE TABLE account_limits (
        instance text NOT NULL,
        account text NOT NULL,
        reset_at timestamptz NOT NULL,
        PRIMARY KEY (instance, account)
    );
    CREATE TABLE workers (
        worker text PRIMARY KEY,
        interval_seconds double precision NOT NULL,
        last_run_at timestamptz NOT NULL,
        last_exit_code integer NOT NULL,
        last_success_at timestamptz
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
# EXPORT_VERSIONS[n]: the SQLite state version whose tables hold what version n here holds.
EXPORT_VERSIONS = (None, 2, 5, 6, EXPORT_VERSION)
assert len(EXPORT_VERSIONS) == SCHEMA_VERSION + 1, "a migration here needs its export version"

# Advisory lock keys (any 64-bit numbers no other application of the database uses).
MIGRATION_LOCK = 0x63726F7373_01  # "cross" 1

# Like SQLite's row order: by bytes, whatever the database's collation.
EXPORT_ORDER = {
    "feeds": 'name COLLATE "C"',
    "entries": 'feed COLLATE "C", entry_id COLLATE "C"',
    "instances": 'url COLLATE "C"',
    "announced_links": 'account COLLATE "C", link COLLATE "C"',
    "hook_runs": 'feed COLLATE "C", entry_id COLLATE "C", event COLLATE "C", '
    'occurrence COLLATE "C"',
    "deletions": 'account COLLATE "C", at',
}
FEED_COLUMNS = "name, url, etag, last_modified, last_fetch, last_result, last_parsed"
# A link an entry no longer announces is free again: WITH this, then the entry's change,
# is one statement (parameters: feed, entry_id).
RELEASE_LINK = "released AS (DELETE FROM announced_links WHERE feed = %s AND entry_id = %s)"


def _stamp(moment: datetime | None = None) -> datetime:
    # Whole seconds, as SQLite keeps them: the same order and the same comparisons.
    return (moment or now_utc()).astimezone(UTC).replace(microsecond=0)


def _moment(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


class PostgresState(Transactions, State):
    """A crossposter state in a PostgreSQL database. Open with `PostgresState.open(url)`."""

    shared = True
    ROLLBACK_ERRORS = (psycopg.Error,)

    def __init__(self, connection: psycopg.Connection, url: str, *, read_only: bool):
        self._db = connection
        self.url = url
        self.where = redacted_url(url)
        self.read_only = read_only
        self._batching = False
        # The session for leases, 429 resets and heartbeats: made at first use; a lease
        # renewer thread shares it, hence the lock.
        self._coordination: psycopg.Connection | None = None
        self._coordination_lock = threading.Lock()

    # -- opening and closing -------------------------------------------------

    @classmethod
    def open(cls, url: str, *, lock_timeout: float = 0.0) -> PostgresState:
        """Connect and bring the schema up to date. Nothing is locked: a run leases the feeds
        it works on (`take_leases`), so `lock_timeout` has nothing to wait for."""
        state = cls(_connect(url), url, read_only=False)
        try:
            state._migrate()
        except BaseException:
            state.close()
            raise
        return state

    @classmethod
    def open_read_only(cls, url: str) -> State:
        """A view that cannot write and takes no lock; a database without our tables reads
        as an empty state, and is left without them."""
        connection = _connect(url)
        try:
            connection.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            version = _schema_version(connection)
        except psycopg.Error as error:
            connection.close()
            raise _state_error(url, error) from None
        except BaseException:
            connection.close()
            raise
        if version == 0:
            connection.close()
            return SqliteState.in_memory(read_only=True)
        state = cls(connection, url, read_only=True)
        try:
            state._refuse_newer(version)
        except BaseException:
            state.close()
            raise
        return state

    def _in_transaction(self) -> bool:
        return _transaction_open(self._db)

    def close(self) -> None:
        self._db.close()
        with self._coordination_lock:
            if self._coordination is not None:
                self._coordination.close()

    def schema_version(self) -> int:
        return _schema_version(self._db)

    def _migrate(self) -> None:
        """Create or upgrade the tables; two processes starting at once take turns."""
        try:
            with self._transaction() as db:
                db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                db.execute(
                    "CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value text NOT NULL)"
                )
                version = _schema_version(db)
                self._refuse_newer(version)
                for migration in MIGRATIONS[version:]:
                    if isinstance(migration, str):
                        db.execute(migration)
                    else:
                        migration(db)
                if version < SCHEMA_VERSION:
                    db.execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', %s) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (str(SCHEMA_VERSION),),
                    )
        except psycopg.Error as error:
            raise _state_error(self.url, error) from None

    def _refuse_newer(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StateError(
                f"{self.where}: written by a newer crossposter (state version {version}, this "
                f"one reads {SCHEMA_VERSION}); upgrade crossposter"
            )

    def _write(
        self, sql: str, values: Iterable[Any] | dict[str, Any] = (), *, durable: bool = False
    ) -> int:
        """One statement in its own transaction (or the batch's); how many rows it changed."""
        with self._transaction(durable=durable) as db:
            return db.execute(sql, values if isinstance(values, dict) else tuple(values)).rowcount

    def _one(self, sql: str, values: Iterable[Any] = ()) -> tuple[Any, ...]:
        """A statement that writes and answers one row, in its own transaction (or the batch's)."""
        with self._transaction() as db:
            return db.execute(sql, tuple(values)).fetchone()

    def _write_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            with self._transaction() as db, db.cursor() as cursor:
                cursor.executemany(sql, rows)

    def _rows(self, sql: str, values: Iterable[Any] = ()) -> list[dict[str, Any]]:
        with self._db.cursor(row_factory=dict_row) as cursor:
            return cursor.execute(sql, tuple(values) or None).fetchall()

    # -- feeds ---------------------------------------------------------------

    def feed(self, name: str) -> FeedState | None:
        rows = self._rows(f"SELECT {FEED_COLUMNS} FROM feeds WHERE name = %s", (name,))
        return _feed_state(rows[0]) if rows else None

    def feeds(self) -> list[FeedState]:
        rows = self._rows(f'SELECT {FEED_COLUMNS} FROM feeds ORDER BY name COLLATE "C"')
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
        self._write(
            "INSERT INTO feeds (name, url, last_fetch, last_result, last_parsed) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET url = excluded.url, "
            "last_fetch = excluded.last_fetch, last_result = excluded.last_result, "
            "last_parsed = COALESCE(excluded.last_parsed, feeds.last_parsed)",
            (name, url, _stamp(at), result, _stamp(parsed_at) if parsed_at else None),
        )

    def save_validators(self, name: str, validators: Validators) -> None:
        """Remember ETag/Last-Modified; call only once every new entry has been handled."""
        self._write(
            "UPDATE feeds SET etag = %s, last_modified = %s WHERE name = %s",
            (validators.etag, validators.last_modified, name),
        )

    def settings_fingerprints(self) -> dict[str, str]:
        """Feed name → a digest of the settings its last run used."""
        rows = self._rows(
            "SELECT substr(key, 10) AS feed, value FROM meta WHERE key LIKE 'settings:%'"
        )
        return {row["feed"]: row["value"] for row in rows}

    def save_settings_fingerprint(self, feed: str, fingerprint: str) -> None:
        self._write(
            "INSERT INTO meta (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (f"settings:{feed}", fingerprint),
        )

    # -- entries -------------------------------------------------------------

    def known_ids(self, feed: str) -> set[str]:
        rows = self._rows("SELECT entry_id FROM entries WHERE feed = %s", (feed,))
        return {row["entry_id"] for row in rows}

    def mark_seen(self, feed: str, entries: Iterable[Entry], at: datetime | None = None) -> None:
        """Record entries as known without announcing them; known ones are left as they are."""
        stamp = _stamp(at)
        self._write_many(
            "INSERT INTO entries (feed, entry_id, status, link, title, first_seen, last_seen, "
            "updated) VALUES (%s, %s, 'seen', %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [(feed, e.id, e.link, e.title, stamp, stamp, stamp) for e in entries],
        )

    def mark_filtered(
        self, feed: str, skipped: Iterable[tuple[Entry, str]], at: datetime | None = None
    ) -> None:
        """Record entries a filter rule kept from being announced, with that rule as the reason."""
        stamp = _stamp(at)
        self._write_many(
            "INSERT INTO entries (feed, entry_id, status, link, title, first_seen, last_seen, "
            "reason, updated) VALUES (%s, %s, 'seen', %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            [(feed, e.id, e.link, e.title, stamp, stamp, why, stamp) for e, why in skipped],
        )

    def touch(self, feed: str, entry_ids: Iterable[str], at: datetime | None = None) -> None:
        """The entries are still in the feed: keep them from being pruned."""
        stamp = _stamp(at)
        self._write_many(
            "UPDATE entries SET last_seen = %s WHERE feed = %s AND entry_id = %s",
            [(stamp, feed, entry_id) for entry_id in entry_ids],
        )

    def mark_pending(
        self, feed: str, entry: Entry, idempotency_key: str, toot: Toot, *, account: str
    ) -> PendingPost | None:
        stamp = _stamp()
        with self._transaction(durable=True) as db:
            if entry.link and not _claim(db, account, entry.link, feed, entry.id):
                return None
            db.execute(
                "INSERT INTO entries (feed, entry_id, status, link, title, first_seen, "
                "last_seen, idempotency_key, toot, pending_since, updated, article) "
                "VALUES (%s, %s, 'pending', %s, %s, %s, %s, %s, %s, %s, %s, %s) "
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
            pending_since=stamp,
            link=entry.link,
            title=entry.title,
        )

    def announced_links(self, account: str, links: Iterable[str]) -> set[str]:
        rows = self._rows(
            "SELECT link FROM announced_links WHERE account = %s AND link = ANY(%s)",
            (account, list(dict.fromkeys(links))),
        )
        return {row["link"] for row in rows}

    def mark_posted(
        self,
        feed: str,
        entry_id: str,
        posted: Posted,
        *,
        account: str | None = None,
        instance: str | None = None,
    ) -> None:
        stamp = _stamp()
        self._write(
            "UPDATE entries SET status = 'posted', toot_id = %s, toot_url = %s, reason = NULL, "
            "updated = %s, posted_at = %s, account = COALESCE(%s, account), "
            "instance = COALESCE(%s, instance) WHERE feed = %s AND entry_id = %s",
            (posted.id, posted.url, stamp, stamp, account, instance, feed, entry_id),
            durable=True,
        )

    def announced(self, feed: str | None = None) -> list[AnnouncedPost]:
        where, values = ("AND feed = %s", (feed,)) if feed is not None else ("", ())
        rows = self._rows(
            "SELECT feed, entry_id, link, title, status, toot_id, toot_url, account, instance, "
            "posted_at, updated, edited_at, replies, replies_fetched_at FROM entries "
            f"WHERE status = ANY(%s) AND toot_id IS NOT NULL {where} "
            'ORDER BY COALESCE(posted_at, updated), feed COLLATE "C", entry_id COLLATE "C"',
            (list(ANNOUNCED_STATUSES), *values),
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
        self._write(
            "UPDATE entries SET replies = %s, replies_fetched_at = %s "
            "WHERE feed = %s AND entry_id = %s",
            (json.dumps(replies, ensure_ascii=False), _stamp(at), feed, entry_id),
        )

    def claim_hook(self, feed: str, entry_id: str, event: str, occurrence: str) -> bool:
        return bool(
            self._write(
                "INSERT INTO hook_runs (feed, entry_id, event, occurrence, started) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (feed, entry_id, event, occurrence, _stamp()),
                durable=True,
            )
        )

    def record_deletion(self, account: str, at: datetime) -> None:
        with self._transaction(durable=True) as db:
            db.execute("INSERT INTO deletions (account, at) VALUES (%s, %s)", (account, at))
            db.execute("DELETE FROM deletions WHERE at < %s", (at - DELETIONS_KEPT,))

    def deletions_since(self, account: str, since: datetime) -> int:
        rows = self._rows(
            "SELECT count(*) AS n FROM deletions WHERE account = %s AND at >= %s",
            (account, since),
        )
        return int(rows[0]["n"])

    def mark_failed(self, feed: str, entry_id: str, reason: str) -> None:
        self._write(
            f"WITH {RELEASE_LINK} UPDATE entries SET status = 'failed', reason = %s, "
            "updated = %s WHERE feed = %s AND entry_id = %s",
            (feed, entry_id, reason, _stamp(), feed, entry_id),
            durable=True,
        )

    # -- after posting (crossposter.after_posting.decisions) ---------------------------------

    def posted_entries(self, feed: str) -> list[PostedEntry]:
        """The feed's entries whose toot is on the instance, oldest first."""
        rows = self._rows(
            "SELECT entries.*, entries.last_seen >= feeds.last_parsed AS in_feed "
            "FROM entries LEFT JOIN feeds ON feeds.name = entries.feed "
            "WHERE feed = %s AND status = 'posted' AND toot_id IS NOT NULL "
            'ORDER BY posted_at NULLS FIRST, entry_id COLLATE "C"',
            (feed,),
        )
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
        self._write(
            "UPDATE entries SET edit_toot = %s, edit_article = %s, updated = %s "
            "WHERE feed = %s AND entry_id = %s",
            (_toot_json(toot), article.to_json(), _stamp(), feed, entry_id),
            durable=True,
        )

    def mark_edited(self, feed: str, entry_id: str, at: datetime) -> None:
        self._write(
            "UPDATE entries SET toot = edit_toot, article = edit_article, edit_toot = NULL, "
            "edit_article = NULL, edited_at = %s, updated = %s "
            "WHERE feed = %s AND entry_id = %s AND edit_toot IS NOT NULL",
            (_stamp(at), _stamp(), feed, entry_id),
            durable=True,
        )

    def drop_edit(self, feed: str, entry_id: str) -> None:
        self._write(
            "UPDATE entries SET article = edit_article, edit_toot = NULL, edit_article = NULL "
            "WHERE feed = %s AND entry_id = %s AND edit_toot IS NOT NULL",
            (feed, entry_id),
            durable=True,
        )

    def mark_deleted(self, feed: str, entry_id: str, reason: str = "") -> bool:
        return self._end_toot(feed, entry_id, "deleted", reason)

    def mark_retracted(self, feed: str, entry_id: str, reason: str = "") -> bool:
        return self._end_toot(feed, entry_id, "retracted", reason)

    def _end_toot(self, feed: str, entry_id: str, status: str, reason: str) -> bool:
        return bool(
            self._write(
                "UPDATE entries SET status = %s, reason = %s, edit_toot = NULL, "
                "edit_article = NULL, updated = %s "
                "WHERE feed = %s AND entry_id = %s AND toot_id IS NOT NULL",
                (status, reason or None, _stamp(), feed, entry_id),
                durable=True,
            )
        )

    def record_check(self, feed: str, entry_id: str, at: datetime, gone: bool | None) -> None:
        # The first "gone" answer is the one the second must be an hour after.
        self._write(
            "UPDATE entries SET checked_at = %(at)s, gone_since = CASE "
            "WHEN %(gone)s::boolean IS NULL THEN gone_since "
            "WHEN %(gone)s::boolean THEN COALESCE(gone_since, %(at)s) END "
            "WHERE feed = %(feed)s AND entry_id = %(entry_id)s",
            {"at": _stamp(at), "gone": gone, "feed": feed, "entry_id": entry_id},
        )

    def pending(self, feed: str) -> list[PendingPost]:
        rows = self._rows(
            "SELECT feed, entry_id, idempotency_key, toot, pending_since, link, title "
            "FROM entries WHERE feed = %s AND status = 'pending' "
            'ORDER BY pending_since, entry_id COLLATE "C"',
            (feed,),
        )
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
            conditions.append("feed = %s")
            values.append(feed)
        if status is not None:
            conditions.append("status = %s")
            values.append(status)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = self._rows(
            "SELECT feed, entry_id, status, link, title, first_seen, toot_url, reason, updated "
            f"FROM entries {where} ORDER BY updated DESC, first_seen DESC LIMIT %s",
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
        rows = self._rows(
            "SELECT status, COUNT(*) AS count FROM entries WHERE feed = %s GROUP BY status",
            (feed,),
        )
        return {row["status"]: row["count"] for row in rows}

    def prune(self, feed: str, retention: timedelta) -> int:
        """Forget entries absent from the feed for `retention` of the feed's own parses.

        Measured against the feed's last successful parse, not the clock. A
        retracted entry is kept: its article must not come back as new.
        """
        state = self.feed(feed)
        if state is None or state.last_parsed is None:
            return 0
        return self._write(
            "DELETE FROM entries WHERE feed = %s AND last_seen < %s "
            "AND status IN ('seen', 'posted', 'failed', 'deleted')",
            (feed, state.last_parsed - retention),
        )

    # -- repairs by a person (`crossposter state ...`) -------------------------

    def forget(self, feed: str, entry_id: str) -> bool:
        """Drop what is known of an entry, its link's claim too, so the next run finds it new
        and announces it."""
        with self._transaction() as db:
            removed = db.execute(
                f"WITH {RELEASE_LINK} DELETE FROM entries WHERE feed = %s AND entry_id = %s",
                (feed, entry_id, feed, entry_id),
            ).rowcount
            if removed:
                _forget_validators(db, [feed])
        return bool(removed)

    def retry_failed(self, feed: str | None = None) -> int:
        """Failed entries become unknown again: the next run composes and announces them anew."""
        where, values = ("AND feed = %s", (feed,)) if feed is not None else ("", ())
        with self._transaction() as db:
            rows = db.execute(
                f"DELETE FROM entries WHERE status = 'failed' {where} RETURNING feed", values
            ).fetchall()
            _forget_validators(db, sorted({name for (name,) in rows}))
        return len(rows)

    def drop_pending(self, feed: str) -> int:
        """Pending posts of a feed become seen: they will not go out, their links are released."""
        (dropped,) = self._one(
            "WITH dropped AS (UPDATE entries SET status = 'seen', idempotency_key = NULL, "
            "toot = NULL, pending_since = NULL, updated = %s "
            "WHERE feed = %s AND status = 'pending' RETURNING feed, entry_id), "
            "released AS (DELETE FROM announced_links USING dropped "
            "WHERE announced_links.feed = dropped.feed "
            "AND announced_links.entry_id = dropped.entry_id) "
            "SELECT count(*) FROM dropped",
            (_stamp(), feed),
        )
        return dropped

    # -- backup and restore ----------------------------------------------------

    def export_data(self) -> dict[str, Any]:
        """The SQLite backend's export document, read in one consistent snapshot.

        A database an older crossposter wrote, read as it is (a preview's view),
        exports as the SQLite version holding the same rows: the import then brings
        them up to date, as an upgrade would.
        """
        self._db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            version = _schema_version(self._db)
            data: dict[str, Any] = {
                "format": EXPORT_FORMAT,
                "version": EXPORT_VERSIONS[version],
                "exported_at": _iso(now_utc()),
            }
            present = [table for table in EXPORTED_TABLES if _has_table(self._db, table)]
            for table in present:
                rows = self._rows(f"SELECT * FROM {table} ORDER BY {EXPORT_ORDER[table]}")
                data[table] = [
                    {
                        column: _iso(value) if isinstance(value, datetime) else value
                        for column, value in row.items()
                    }
                    for row in rows
                ]
        finally:
            self._roll_back("ROLLBACK")
        return data

    def replace_with(self, data: Any) -> None:
        """Replace the whole state by an export (a restore); all or nothing.

        The export is first read into an in-memory SQLite state, which checks it
        and brings an older one up to date; its rows, as they are today, come here.
        """
        with SqliteState.in_memory() as scratch:
            scratch.replace_with(data)
            current = scratch.export_data()
        try:
            with self._transaction() as db, db.cursor() as cursor:
                for table in reversed(EXPORTED_TABLES):
                    cursor.execute(f"DELETE FROM {table}")
                for table in EXPORTED_TABLES:
                    for row in current[table]:
                        columns = ", ".join(f'"{name}"' for name in row)
                        marks = ", ".join("%s" for _ in row)
                        cursor.execute(
                            f"INSERT INTO {table} ({columns}) VALUES ({marks})",
                            tuple(row.values()),
                        )
        except psycopg.Error as error:
            raise StateError(f"the export cannot be imported ({error}); nothing changed") from None

    # -- instance limits -----------------------------------------------------

    def cached_limits(self, instance: str, max_age: timedelta) -> InstanceLimits | None:
        rows = self._rows("SELECT limits, fetched_at FROM instances WHERE url = %s", (instance,))
        if not rows or now_utc() - rows[0]["fetched_at"] > max_age:
            return None
        return InstanceLimits(**{**json.loads(rows[0]["limits"]), "source": "cached"})

    def save_limits(self, instance: str, limits: InstanceLimits) -> None:
        self._write(
            "INSERT INTO instances (url, limits, fetched_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (url) DO UPDATE SET limits = excluded.limits, "
            "fetched_at = excluded.fetched_at",
            (instance, json.dumps(asdict(limits)), _stamp()),
        )

    # -- several processes ---------------------------------------------------

    def _coordinate(self, sql: str, values: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """One statement, committed when it returns, outside this session's batch: what
        the other processes must see now. The database's clock is the only one used."""
        if self.read_only:
            with self._db.cursor() as cursor:
                cursor.execute(sql, values)
                return cursor.fetchall() if cursor.description else []
        with self._coordination_lock:
            if self._coordination is None:
                self._coordination = _connect(self.url)
            try:
                with self._coordination.cursor() as cursor:
                    cursor.execute(sql, values)
                    return cursor.fetchall() if cursor.description else []
            except psycopg.OperationalError as error:
                raise StateError(
                    f"{self.where}: the state database is unreachable ({_safe(error, self.url)})"
                ) from None

    def take_leases(self, feeds: Iterable[str], worker: str, duration: timedelta) -> set[str]:
        # The row lock of the upsert makes it atomic: of two workers, one inserts or updates,
        # the other then sees a live lease not its own and gets nothing back.
        rows = self._coordinate(
            "INSERT INTO feed_leases (feed, worker, expires_at) "
            "SELECT name, %s, now() + %s FROM unnest(%s::text[]) AS name "
            "ON CONFLICT (feed) DO UPDATE SET worker = excluded.worker, "
            "expires_at = excluded.expires_at "
            "WHERE feed_leases.expires_at < now() OR feed_leases.worker = excluded.worker "
            "RETURNING feed",
            (worker, duration, sorted(set(feeds))),
        )
        return {feed for (feed,) in rows}

    def renew_leases(self, feeds: Iterable[str], worker: str, duration: timedelta) -> set[str]:
        rows = self._coordinate(
            "UPDATE feed_leases SET expires_at = now() + %s "
            "WHERE worker = %s AND feed = ANY(%s) RETURNING feed",
            (duration, worker, sorted(set(feeds))),
        )
        return {feed for (feed,) in rows}

    def release_leases(self, feeds: Iterable[str], worker: str) -> None:
        self._coordinate(
            "DELETE FROM feed_leases WHERE worker = %s AND feed = ANY(%s)",
            (worker, sorted(set(feeds))),
        )

    def leases(self) -> list[Lease]:
        rows = self._coordinate(
            'SELECT feed, worker, expires_at FROM feed_leases ORDER BY feed COLLATE "C"'
        )
        return [Lease(feed, worker, _moment(expires)) for feed, worker, expires in rows]

    def next_polls(self, feeds: Iterable[str] | None = None) -> dict[str, datetime | None]:
        if feeds is None:
            rows = self._rows("SELECT name, next_poll FROM feeds")
        else:
            rows = self._rows(
                "SELECT name, next_poll FROM feeds WHERE name = ANY(%s)", (sorted(set(feeds)),)
            )
        return {row["name"]: _moment(row["next_poll"]) for row in rows}

    def set_next_poll(self, feed: str, at: datetime) -> None:
        self._write("UPDATE feeds SET next_poll = %s WHERE name = %s", (_stamp(at), feed))

    def record_rate_limit(self, instance: str, account: str, reset_at: datetime) -> None:
        self._coordinate(
            "INSERT INTO account_limits (instance, account, reset_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (instance, account) DO UPDATE SET reset_at = excluded.reset_at",
            (instance, account, reset_at),
        )

    def rate_limited_until(self, instance: str, account: str) -> datetime | None:
        rows = self._coordinate(
            "SELECT reset_at FROM account_limits WHERE instance = %s AND account = %s "
            "AND reset_at > now()",
            (instance, account),
        )
        return _moment(rows[0][0]) if rows else None

    def record_heartbeat(self, worker: str, heartbeat: Heartbeat) -> None:
        self._coordinate(
            "INSERT INTO workers (worker, interval_seconds, last_run_at, last_exit_code, "
            "last_success_at) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (worker) DO UPDATE SET "
            "interval_seconds = excluded.interval_seconds, last_run_at = excluded.last_run_at, "
            "last_exit_code = excluded.last_exit_code, last_success_at = excluded.last_success_at",
            (
                worker,
                heartbeat.interval_seconds,
                heartbeat.last_run_at,
                heartbeat.last_exit_code,
                heartbeat.last_success_at,
            ),
        )

    def heartbeat(self, worker: str) -> Heartbeat | None:
        rows = self._coordinate(
            "SELECT interval_seconds, last_run_at, last_exit_code, last_success_at "
            "FROM workers WHERE worker = %s",
            (worker,),
        )
        if not rows:
            return None
        interval, last_run, exit_code, last_success = rows[0]
        return Heartbeat(interval, _moment(last_run), exit_code, _moment(last_success))

    def newest_heartbeat(self, worker_prefix: str) -> tuple[str, Heartbeat] | None:
        rows = self._coordinate(
            "SELECT worker, interval_seconds, last_run_at, last_exit_code, last_success_at "
            "FROM workers WHERE left(worker, %s) = %s ORDER BY last_run_at DESC LIMIT 1",
            (len(worker_prefix), worker_prefix),
        )
        if not rows:
            return None
        worker, interval, last_run, exit_code, last_success = rows[0]
        return worker, Heartbeat(interval, _moment(last_run), exit_code, _moment(last_success))


def _connect(url: str) -> _Connection:
    """A session in UTC whose json columns read as the text that was written."""
    try:
        connection = _Connection.connect(
            url, autocommit=True, connect_timeout=30, cursor_factory=_Cursor
        )
    except psycopg.Error as error:
        raise _state_error(url, error) from None
    connection.url = url
    try:
        connection.execute("SET TIME ZONE 'UTC'")
    except BaseException:
        connection.close()
        raise
    # The exact text: an export then matches the SQLite backend's to the byte.
    connection.adapters.register_loader("json", TextLoader)
    return connection


def _has_table(db: psycopg.Connection, name: str) -> bool:
    return db.execute("SELECT to_regclass(%s)", (name,)).fetchone()[0] is not None


def _schema_version(db: psycopg.Connection) -> int:
    """0 when the database holds no crossposter state yet."""
    if not _has_table(db, "meta"):
        return 0
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def _safe(error: Exception, url: str) -> str:
    """The error's message, without the URL's password should the driver repeat it."""
    text = one_line(str(error))
    password = urlsplit(url).password
    return text.replace(unquote(password), "***") if password else text


def _unusable(url: str, error: Exception) -> StateError:
    return StateError(
        f"{redacted_url(url)}: not a usable crossposter state database ({_safe(error, url)}); "
        "it was left as it was"
    )


def _state_error(url: str, error: Exception) -> StateError:
    """What went wrong with the state database, as one line; the single place that says it."""
    return _translated(url, error) or _unusable(url, error)


# What a person must change: the database or its permissions, not crossposter's SQL.
_PERMANENT = (
    psycopg.errors.InsufficientPrivilege,
    psycopg.errors.UndefinedTable,
    psycopg.errors.UndefinedColumn,
    psycopg.errors.InvalidSchemaName,
    psycopg.errors.ReadOnlySqlTransaction,
    psycopg.DataError,
    psycopg.IntegrityError,
)


def _translated(url: str, error: Exception) -> StateError | None:
    """A StateError for a failure of the database or the way to it; None for anything else
    (a bug). OperationalError is what psycopg raises for a server unreachable or gone,
    shutting down, out of room or connections, and for a transaction it had to roll back
    (serialization failure, deadlock): all pass, so they are temporary."""
    where, reason = redacted_url(url), _safe(error, url)
    cause = refused_login(error)
    if cause:
        return StateError(f"{where}: {cause}; nothing was changed")
    if isinstance(error, psycopg.OperationalError):
        return TemporaryStateError(
            f"{where}: the state database cannot be used right now ({reason}); what it holds "
            "stays consistent, the next run carries on"
        )
    if isinstance(error, psycopg.errors.InsufficientPrivilege):
        return StateError(
            f"{where}: permission denied ({reason}): the database user must be able to create, "
            "read and write crossposter's tables; it was left as it was"
        )
    if isinstance(error, _PERMANENT):
        return _unusable(url, error)
    return None


@contextlib.contextmanager
def _translating(url: str) -> Iterator[None]:
    try:
        yield
    except psycopg.Error as error:
        translated = _translated(url, error)
        if translated is None:
            raise
        raise translated from None


class _Cursor(psycopg.Cursor):
    """Every call that reaches the server raises a StateError for a failure of the database."""

    def execute(self, query, params=None, **options):
        with _translating(self.connection.url):
            return super().execute(query, params, **options)

    def executemany(self, query, params_seq, **options):
        with _translating(self.connection.url):
            return super().executemany(query, params_seq, **options)

    def fetchone(self):
        with _translating(self.connection.url):
            return super().fetchone()

    def fetchall(self):
        with _translating(self.connection.url):
            return super().fetchall()

    def __iter__(self):
        with _translating(self.connection.url):
            yield from super().__iter__()


class _Connection(psycopg.Connection):
    """A connection whose failures of the database (gone, shutting down, refusing) are
    StateErrors wherever they happen: opening, reading, any write, a batch's commit.
    Its cursors (`_Cursor`) translate; it carries the URL their messages name."""

    url: str = "state database"

    def cursor(self, *args, **kwargs):
        # Refused at once on a connection the server already ended.
        with _translating(self.url):
            return super().cursor(*args, **kwargs)


def _transaction_open(db: psycopg.Connection) -> bool:
    return db.info.transaction_status != psycopg.pq.TransactionStatus.IDLE




def _feed_state(row: dict[str, Any]) -> FeedState:
    return FeedState(
        name=row["name"],
        url=row["url"],
        validators=Validators(etag=row["etag"], last_modified=row["last_modified"]),
        last_fetch=_moment(row["last_fetch"]),
        last_result=row["last_result"],
        last_parsed=_moment(row["last_parsed"]),
    )


def _claim(db: psycopg.Connection, account: str, link: str, feed: str, entry_id: str) -> bool:
    """Claim `link` for the entry on `account`: won when new, or already this entry's.

    One statement: the primary key makes a second process's insert wait for the first's
    transaction, then find the link taken, so two claims of one link never both win.
    """
    return (
        db.execute(
            "INSERT INTO announced_links (account, link, feed, entry_id) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (account, link) DO UPDATE "
            "SET feed = excluded.feed WHERE announced_links.feed = excluded.feed "
            "AND announced_links.entry_id = excluded.entry_id RETURNING true",
            (account, link_key(link), feed, entry_id),
        ).fetchone()
        is not None
    )


def _forget_validators(db: psycopg.Connection, feeds: list[str]) -> None:
    # Otherwise the next run gets a 304 and never reads the entry that became new.
    if feeds:
        db.execute(
            "UPDATE feeds SET etag = NULL, last_modified = NULL WHERE name = ANY(%s)", (feeds,)
        )
