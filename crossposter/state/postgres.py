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

import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg.rows import dict_row
from psycopg.types.string import TextLoader

from crossposter.errors import StateError, TemporaryStateError
from crossposter.logsafe import redacted_url
from crossposter.models import Lease
from crossposter.state.administration import Administration
from crossposter.state.coordination import Coordination
from crossposter.state.ledger import Ledger
from crossposter.state.lifecycle import AfterPosting
from crossposter.state.records import now_utc
from crossposter.state.schema import SCHEMA_VERSION, STEPS, applied_steps, migrate, render
from crossposter.state.sql import Dialect, translating, translating_cursor
from crossposter.state.sqlite import SqliteState
from crossposter.state.subscriptions import Subscriptions
from crossposter.state.upkeep import Upkeep

# Before named steps, this backend counted its own versions: how many steps each held.
LEGACY_VERSIONS = {1: 2, 2: 5, 3: 6, 4: 7}

# Advisory lock keys (any 64-bit numbers no other application of the database uses).
MIGRATION_LOCK = 0x63726F7373_01  # "cross" 1

# What a PostgreSQL type reads as in an export (state/schema.py checks imports by it).
_KINDS = {"integer": "INTEGER", "bigint": "INTEGER", "double precision": "REAL"}


class PostgresDialect(Dialect):
    name = "postgres"
    driver_errors = (psycopg.Error,)
    snapshot = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"

    def stamp(self, moment: datetime | None) -> datetime | None:
        # Whole seconds, as SQLite keeps them: the same order and the same comparisons.
        return moment.astimezone(UTC).replace(microsecond=0) if moment else None

    def moment(self, value: datetime | None) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    def has_table(self, db: Any, table: str) -> bool:
        return db.execute("SELECT to_regclass(?) AS name", (table,)).fetchone()["name"] is not None

    def columns(self, db: Any, table: str) -> dict[str, tuple[str, bool]]:
        rows = db.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_name = ? AND table_schema = current_schema()",
            (table,),
        ).fetchall()
        return {
            row["column_name"]: (_KINDS.get(row["data_type"], "TEXT"), row["is_nullable"] == "NO")
            for row in rows
        }

    def add_column(self, db: Any, table: str, column: str, kind: str) -> None:
        db.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}")

    def in_transaction(self, db: Any) -> bool:
        return db.info.transaction_status != psycopg.pq.TransactionStatus.IDLE


DIALECT = PostgresDialect()
# The tables each step makes here, in order: what a database of an older version held.
MIGRATIONS = tuple(";\n".join(render(step.tables, DIALECT)) for step in STEPS)


class PostgresState(Ledger, AfterPosting, Coordination, Upkeep, Subscriptions, Administration):
    """A crossposter state in a PostgreSQL database. Open with `PostgresState.open(url)`."""

    shared = True
    dialect = DIALECT

    def __init__(self, connection: psycopg.Connection, url: str, *, read_only: bool):
        self._db = _Session(connection)
        self.url = url
        self.where = redacted_url(url)
        self.read_only = read_only
        self._batching = False
        # The session for leases, 429 resets and heartbeats: made at first use; a lease
        # renewer thread shares it, hence the lock.
        self._coordination: _Session | None = None
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
    def open_read_only(cls, url: str) -> PostgresState | SqliteState:
        """A view that cannot write and takes no lock; a database without our tables reads
        as an empty state, and is left without them."""
        connection = _connect(url)
        try:
            connection.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        except BaseException:
            connection.close()
            raise
        state = cls(connection, url, read_only=True)
        try:
            applied = state._applied_steps()
        except BaseException:
            state.close()
            raise
        if applied == 0:
            state.close()
            return SqliteState.in_memory(read_only=True)
        return state

    def preview_copy(self) -> SqliteState:
        """A writable in-memory SQLite copy loaded with an export, for a preview (--dry-run):
        taking it locks nothing and changes nothing here."""
        return SqliteState.loaded_from(self)

    def close(self) -> None:
        self._db.close()
        with self._coordination_lock:
            if self._coordination is not None:
                self._coordination.close()

    def _applied_steps(self) -> int:
        try:
            return applied_steps(self._db, DIALECT, LEGACY_VERSIONS)
        except ValueError as newer:
            raise StateError(
                f"{self.where}: written by a newer crossposter (state version {newer.args[0]}, "
                f"this one reads {SCHEMA_VERSION}); upgrade crossposter"
            ) from None
        except psycopg.Error as error:
            raise _state_error(self.url, error) from None

    def _migrate(self) -> None:
        """Create or upgrade the tables; two processes starting at once take turns."""
        try:
            with self._transaction() as db:
                db.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
                applied = self._applied_steps()
                if applied < SCHEMA_VERSION or not DIALECT.has_table(db, "_migrations"):
                    migrate(db, DIALECT, applied, now_utc())
        except psycopg.Error as error:
            raise _state_error(self.url, error) from None

    # -- several processes ---------------------------------------------------

    def _coordinate(self, sql: str, values: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """One statement, committed when it returns, outside this session's batch: what
        the other processes must see now."""
        if self.read_only:
            cursor = self._db.execute(sql, tuple(values))
            return cursor.fetchall() if cursor.description else []
        with self._coordination_lock:
            if self._coordination is None:
                self._coordination = _Session(_connect(self.url))
            try:
                cursor = self._coordination.execute(sql, tuple(values))
                return cursor.fetchall() if cursor.description else []
            except psycopg.OperationalError as error:
                raise StateError(
                    f"{self.where}: the state database is unreachable ({_safe(error, self.url)})"
                ) from None

    def _shared_write(self, sql: str, values: Sequence[Any] = ()) -> None:
        self._coordinate(sql, values)

    def _shared_rows(self, sql: str, values: Sequence[Any] = ()) -> list[Any]:
        return self._coordinate(sql, values)

    def take_leases(self, feeds: Iterable[str], worker: str, duration: timedelta) -> set[str]:
        # The row lock of the upsert makes it atomic: of two workers, one inserts or updates,
        # the other then sees a live lease not its own and gets nothing back.
        rows = self._coordinate(
            "INSERT INTO feed_leases (feed, worker, expires_at) "
            "SELECT name, ?, now() + ? FROM unnest(?::text[]) AS name "
            "ON CONFLICT (feed) DO UPDATE SET worker = excluded.worker, "
            "expires_at = excluded.expires_at "
            "WHERE feed_leases.expires_at < now() OR feed_leases.worker = excluded.worker "
            "RETURNING feed",
            (worker, duration, sorted(set(feeds))),
        )
        return {row["feed"] for row in rows}

    def renew_leases(self, feeds: Iterable[str], worker: str, duration: timedelta) -> set[str]:
        rows = self._coordinate(
            "UPDATE feed_leases SET expires_at = now() + ? "
            "WHERE worker = ? AND feed = ANY(?) RETURNING feed",
            (duration, worker, sorted(set(feeds))),
        )
        return {row["feed"] for row in rows}

    def release_leases(self, feeds: Iterable[str], worker: str) -> None:
        self._coordinate(
            "DELETE FROM feed_leases WHERE worker = ? AND feed = ANY(?)",
            (worker, sorted(set(feeds))),
        )

    def leases(self) -> list[Lease]:
        rows = self._coordinate(
            "SELECT feed, worker, expires_at FROM feed_leases ORDER BY feed COLLATE BINARY"
        )
        return [
            Lease(row["feed"], row["worker"], DIALECT.moment(row["expires_at"])) for row in rows
        ]


def _postgres(sql: str) -> str:
    """A query of the SQL store, as PostgreSQL reads it: `%s` placeholders, and the
    byte order SQLite calls BINARY."""
    return sql.replace("%", "%%").replace("?", "%s").replace("COLLATE BINARY", 'COLLATE "C"')


class _Session:
    """A connection as the SQL store uses it: its queries sent as PostgreSQL reads them,
    rows read by column name."""

    def __init__(self, connection: psycopg.Connection):
        connection.row_factory = dict_row
        self.connection = connection
        self.info = connection.info

    def execute(self, sql: str, values: Sequence[Any] = ()) -> psycopg.Cursor:
        return self.connection.execute(_postgres(sql), tuple(values))

    def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> psycopg.Cursor:
        cursor = self.connection.cursor()
        cursor.executemany(_postgres(sql), rows)
        return cursor

    def close(self) -> None:
        self.connection.close()


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


def _safe(error: Exception, url: str) -> str:
    """The error's message, without the URL's password should the driver repeat it."""
    text = str(error).strip()
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


_Cursor = translating_cursor(
    psycopg.Cursor, psycopg.Error, _translated, lambda cursor: cursor.connection.url
)


class _Connection(psycopg.Connection):
    """A connection whose failures of the database (gone, shutting down, refusing) are
    StateErrors wherever they happen: opening, reading, any write, a batch's commit.
    Its cursors (`_Cursor`) translate; it carries the URL their messages name."""

    url: str = "state database"

    def cursor(self, *args, **kwargs):
        # Refused at once on a connection the server already ended.
        with translating(self.url, psycopg.Error, _translated):
            return super().cursor(*args, **kwargs)
