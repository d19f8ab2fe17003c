"""How every backend groups its writes: a batch for a pass, and writes that guard a post
durable at once, even inside one. Each backend says how a write transaction begins, how
it knows one is open, and which of its driver's errors a rollback may swallow."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, ClassVar

from crossposter.errors import StateError


class Transactions:
    _db: Any
    read_only: bool
    _batching: bool = False
    # SQLite takes its write lock when the transaction begins (IMMEDIATE), not at its
    # first write, so two writers never deadlock halfway.
    BEGIN: ClassVar[str] = "BEGIN"
    # The driver's errors a rollback after a failure may meet (the server or SQLite may
    # have ended the transaction itself).
    ROLLBACK_ERRORS: ClassVar[tuple[type[Exception], ...]] = ()

    def _in_transaction(self) -> bool:
        raise NotImplementedError

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
        self._db.execute(self.BEGIN)
        self._batching = True
        try:
            yield
        finally:
            self._batching = False
            if self._in_transaction():
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
                self._db.execute(self.BEGIN)
            return
        self._db.execute(self.BEGIN)
        try:
            yield self._db
        except BaseException:
            self._roll_back("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _roll_back(self, *statements: str) -> None:
        # A failing rollback must not hide the error that made it necessary.
        with contextlib.suppress(*self.ROLLBACK_ERRORS, StateError):
            for statement in statements:
                if self._in_transaction():
                    self._db.execute(statement)
