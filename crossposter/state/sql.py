"""What both backends share: one SQL store over a small dialect.

Every query is written once, with `?` placeholders and SQLite's spelling; the
PostgreSQL connection translates them as it sends them (state/postgres.py). What
truly differs is the dialect's: how a moment and a column's type are written, which
driver errors a rollback may meet, how a write transaction begins.

Each write that guards a post (pending, posted, failed...) is durable when it returns,
even inside a batch: `_transaction(durable=True)`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from crossposter.errors import StateError


def iso(moment: datetime | None) -> str | None:
    """A moment as the state file keeps it and an export carries it: fixed width and UTC, so
    SQL compares these strings in time order. Whole seconds."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ") if moment else None


# What a backend makes of its driver's error: a StateError to raise, or None (a bug: let it be).
Translate = Callable[[Any, Exception], StateError | None]


@contextlib.contextmanager
def translating(
    where: object, driver_error: type[Exception], translate: Translate
) -> Iterator[None]:
    try:
        yield
    except driver_error as error:
        translated = translate(where, error)
        if translated is None:
            raise
        raise translated from None


def translating_cursor(
    base: type, driver_error: type[Exception], translate: Translate, where: Callable[[Any], object]
) -> type:
    """A cursor class whose every call that reaches the database raises a StateError for a
    failure of the database (`translate`), naming it by `where(cursor)`."""

    def guarded(name: str) -> Callable[..., Any]:
        method = getattr(base, name)

        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            with translating(where(self), driver_error, translate):
                return method(self, *args, **kwargs)

        return call

    names = ["execute", "executemany", "fetchone", "fetchall"]
    namespace: dict[str, Any] = {}
    if hasattr(base, "__next__"):  # sqlite3: a cursor is its own iterator
        names.append("__next__")
    else:  # psycopg: iterating is a generator of its own

        def iterate(self: Any) -> Iterator[Any]:
            with translating(where(self), driver_error, translate):
                yield from base.__iter__(self)

        namespace["__iter__"] = iterate
    namespace.update({name: guarded(name) for name in names})
    return type(f"Translating{base.__name__}", (base,), namespace)


class Dialect:
    """What one database writes differently; the SQL store asks it, never the driver."""

    name: ClassVar[str]
    # SQLite takes its write lock when the transaction begins (IMMEDIATE), not at its
    # first write, so two writers never deadlock halfway.
    begin: ClassVar[str] = "BEGIN"
    # How a transaction that only reads one moment of the state begins (an export).
    snapshot: ClassVar[str] = "BEGIN"
    # The driver's errors a rollback after a failure may meet (the server or SQLite may
    # have ended the transaction itself), and those an import may meet on bad rows.
    driver_errors: ClassVar[tuple[type[Exception], ...]] = ()

    def stamp(self, moment: datetime | None) -> Any:
        """A moment as a query parameter."""
        raise NotImplementedError

    def moment(self, value: Any) -> datetime | None:
        """A moment as a row holds it."""
        raise NotImplementedError

    def has_table(self, db: Any, table: str) -> bool:
        raise NotImplementedError

    def columns(self, db: Any, table: str) -> dict[str, tuple[str, bool]]:
        """Column name → (INTEGER, REAL or TEXT, whether a value is required)."""
        raise NotImplementedError

    def add_column(self, db: Any, table: str, column: str, kind: str) -> None:
        """Add the column unless the table has it already."""
        raise NotImplementedError

    def in_transaction(self, db: Any) -> bool:
        raise NotImplementedError


class SqlStore:
    """A state in a SQL database: the connection, its transactions and the queries' helpers.

    The roles (state/feeds.py, ledger.py, lifecycle.py, coordination.py,
    administration.py) are mixins over this; a backend adds connecting, locking and
    its errors.
    """

    _db: Any
    dialect: Dialect
    read_only: bool
    _batching: bool = False
    # Whether several processes may work on this state at once (and so share its feeds
    # out by lease), or one only, as a lock file makes it.
    shared: ClassVar[bool] = False

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- reading -----------------------------------------------------------------

    def _rows(self, sql: str, values: Sequence[Any] = ()) -> list[Any]:
        """The rows of a query, each read by column name."""
        return self._db.execute(sql, tuple(values)).fetchall()

    def _row(self, sql: str, values: Sequence[Any] = ()) -> Any:
        rows = self._rows(sql, values)
        return rows[0] if rows else None

    def _in(self, sql: str, values: Sequence[Any], many: Iterable[Any]) -> list[Any]:
        """`sql` with `IN ({})` filled with `many`, in slices: SQLite allows a bounded number
        of parameters per statement."""
        wanted = list(dict.fromkeys(many))
        rows: list[Any] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            rows.extend(self._rows(sql.format(marks), (*values, *chunk)))
        return rows

    # -- writing -----------------------------------------------------------------

    def _write(self, sql: str, values: Sequence[Any] = (), *, durable: bool = False) -> int:
        """One statement in its own transaction (or the batch's); how many rows it changed."""
        with self._transaction(durable=durable) as db:
            return db.execute(sql, tuple(values)).rowcount

    def _write_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            with self._transaction() as db:
                db.executemany(sql, rows)

    def _shared_write(self, sql: str, values: Sequence[Any] = ()) -> None:
        """A write the other processes of this state must see when it returns (a 429, a
        heartbeat), whatever batch this one is in."""
        self._write(sql, values, durable=True)

    def _shared_rows(self, sql: str, values: Sequence[Any] = ()) -> list[Any]:
        """Rows the other processes may have just written."""
        return self._rows(sql, values)

    # -- transactions --------------------------------------------------------------

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Commit the writes made inside together when the block ends (or fails).

        Each commit costs a sync to disk: a run over 1,000 unchanged feeds would
        spend seconds on them. A write that guards a post (pending, posted, failed)
        still reaches the disk at once, with everything written before it.
        """
        if self._batching or self.read_only:
            yield
            return
        self._db.execute(self.dialect.begin)
        self._batching = True
        try:
            yield
        finally:
            self._batching = False
            if self.dialect.in_transaction(self._db):
                try:
                    self._db.execute("COMMIT")
                except StateError:
                    # A full disk or a server gone, say: the batch's writes wait for the
                    # next run, which finds every post they guarded already committed.
                    self._roll_back("ROLLBACK")
                    raise

    @contextlib.contextmanager
    def _transaction(self, *, durable: bool = False) -> Iterator[Any]:
        if self._batching:
            # A savepoint keeps a failed write from taking the batch's other writes with it.
            self._db.execute("SAVEPOINT write")
            try:
                yield self._db
            except BaseException:
                self._roll_back("ROLLBACK TO write", "RELEASE write")
                raise
            self._db.execute("RELEASE write")
            if durable:
                self._db.execute("COMMIT")
                self._db.execute(self.dialect.begin)
            return
        self._db.execute(self.dialect.begin)
        try:
            yield self._db
        except BaseException:
            self._roll_back("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _roll_back(self, *statements: str) -> None:
        # A failing rollback must not hide the error that made it necessary.
        with contextlib.suppress(*self.dialect.driver_errors, StateError):
            for statement in statements:
                if self.dialect.in_transaction(self._db):
                    self._db.execute(statement)
