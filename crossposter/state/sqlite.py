"""The embedded state backend: what the tool remembers between runs, in one SQLite file.

Every change is committed at once, so a crash at any moment leaves a
consistent file: an entry is `pending` (with its idempotency key and the exact
toot) before its request is sent, and `posted` after the server answered.
A second run on the same file is kept out by an exclusive lock. The queries are
the SQL store's (state/sql.py and its roles); here is what only a file has.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import pwd
import sqlite3
import stat
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from crossposter.errors import StateError, StateLocked, TemporaryStateError
from crossposter.models import Lease
from crossposter.state.administration import Administration
from crossposter.state.coordination import Coordination
from crossposter.state.ledger import Ledger
from crossposter.state.lifecycle import AfterPosting
from crossposter.state.records import now_utc
from crossposter.state.roles import State
from crossposter.state.schema import SCHEMA_VERSION, applied_steps, migrate
from crossposter.state.sql import Dialect, iso, translating, translating_cursor
from crossposter.state.subscriptions import Subscriptions
from crossposter.state.upkeep import Upkeep

log = logging.getLogger(__name__)


class SqliteDialect(Dialect):
    name = "sqlite"
    begin = "BEGIN IMMEDIATE"
    snapshot = "BEGIN"
    driver_errors = (sqlite3.Error,)

    def stamp(self, moment: datetime | None) -> str | None:
        return iso(moment)

    def moment(self, value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    def has_table(self, db: Any, table: str) -> bool:
        return (
            db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
            ).fetchone()
            is not None
        )

    def columns(self, db: Any, table: str) -> dict[str, tuple[str, bool]]:
        return {
            column["name"]: (column["type"].upper(), bool(column["notnull"] or column["pk"]))
            for column in db.execute(f"PRAGMA table_info({table})").fetchall()
        }

    def add_column(self, db: Any, table: str, column: str, kind: str) -> None:
        if column not in self.columns(db, table):
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def in_transaction(self, db: Any) -> bool:
        return db.in_transaction


DIALECT = SqliteDialect()


class SqliteState(Ledger, AfterPosting, Coordination, Upkeep, Subscriptions, Administration):
    """The state file. Open with `SqliteState.open(...)` as a context manager."""

    dialect = DIALECT

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
        state._log_ahead()
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
        connection = sqlite3.connect(":memory:", isolation_level=None, factory=_Connection)
        state = cls(connection, None, None, read_only=False)
        state._prepare(create=True)
        state.read_only = read_only
        return state

    @classmethod
    def loaded_from(cls, state: State) -> SqliteState:
        """An in-memory state holding what `state` (of any backend) holds, settings included."""
        copy = cls.in_memory()
        try:
            copy.replace_with(state.export_data())
            with copy.batch():
                for feed, fingerprint in state.settings_fingerprints().items():
                    copy.save_settings_fingerprint(feed, fingerprint)
        except BaseException:
            copy.close()
            raise
        return copy

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

    def _log_ahead(self) -> None:
        """Write-ahead logging for the run, each commit synced: as durable, and cheaper.

        A commit appends to the `-wal` file and syncs it once, where the rollback journal
        syncs the journal, then the file, and creates and deletes the journal each time
        (about 0.2 ms a commit against 1.5 ms on this project's machines; two commits a post).
        Durability is unchanged: with `synchronous = FULL` a commit that returned is on the
        disk, so a post's pending record survives the process crashing, or the power
        failing, before its request is sent, as long as the disk honours fsync (as before).
        WAL shares memory between the processes of one machine, which a network file system
        does not give; the README asks for a local disk already (the lock file needs one).
        """
        try:
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
        except StateError:
            self.close()
            raise

    def _log_back(self) -> None:
        """The file back in rollback mode, its log checkpointed into it, once the run is done.

        So a reader that may not write (check, a preview, a state in a read-only folder)
        opens it as it always did, and the one file is the whole state. A reader still
        open keeps the file in WAL mode until a later run's end: nothing is waited for.
        (Within one process, once a read-only view has read the file in WAL mode, SQLite
        keeps it so: `run --loop --listen`, whose probes read the state, may run in WAL
        mode throughout, which its own readers and other processes' read as well.)
        """
        with contextlib.suppress(sqlite3.Error, StateError):
            self._db.execute("PRAGMA busy_timeout = 0")
            self._db.execute("PRAGMA journal_mode = DELETE")

    def close(self) -> None:
        if self._lock_fd is not None:
            self._log_back()
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
                with self._transaction() as db:
                    migrate(db, DIALECT, 0, now_utc())
            applied = self._applied_steps()
        except ValueError as newer:
            self.close()
            raise StateError(
                f"{where}: written by a newer crossposter (state version {newer.args[0]}, "
                f"this one reads {SCHEMA_VERSION}); upgrade crossposter"
            ) from None
        except StateError:
            self.close()
            raise
        except sqlite3.DatabaseError as error:
            self.close()
            raise _state_error(where, error) from None
        if applied < 1:
            self.close()
            raise StateError(f"{where}: not a crossposter state file; it was left untouched")
        if self.read_only:
            return
        self._check_writable()
        if applied < SCHEMA_VERSION or not DIALECT.has_table(self._db, "_migrations"):
            # Brought up to date in one transaction, names recorded.
            with self._transaction() as db:
                migrate(db, DIALECT, applied, now_utc())

    def _applied_steps(self) -> int:
        return applied_steps(self._db, DIALECT)

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
            f"{where}: the state file is busy, another program is writing it ({error}); try again"
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


def user_name() -> str:
    """Who this process reads and writes files as: a permission problem names them."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a container's arbitrary uid, with no passwd entry
        return f"uid {os.geteuid()}"


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


_Cursor = translating_cursor(
    sqlite3.Cursor, sqlite3.Error, _translated, lambda cursor: cursor.connection.where
)


class _Connection(sqlite3.Connection):
    """A connection whose failures of the file (full, I/O, busy, corrupt) are StateErrors,
    wherever they happen: opening, reading, any write, a batch's commit."""

    where: object = "state"

    def execute(self, sql, parameters=(), /):
        return self.cursor(_Cursor).execute(sql, parameters)

    def executemany(self, sql, rows, /):
        return self.cursor(_Cursor).executemany(sql, rows)

    def executescript(self, script, /):
        with translating(self.where, sqlite3.Error, _translated):
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
