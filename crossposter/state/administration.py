"""The state's role for a person's repairs (`crossposter state ...`): forget, retry, drop,
prune; and the whole state as an export, and back."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from crossposter.errors import StateError
from crossposter.state.feeds import Feeds
from crossposter.state.ledger import _release_link
from crossposter.state.records import now_utc
from crossposter.state.schema import (
    EXPORT_FORMAT,
    EXPORT_ORDER,
    EXPORTED_TABLES,
    SCHEMA_VERSION,
    bring_up_to_date,
    import_problem,
)
from crossposter.state.sql import iso


class Administration(Feeds):
    def schema_version(self) -> int:
        """The schema's version as the state records it: how many named steps it has been
        through (or, for one from before names, the version its backend wrote then)."""
        row = self._row("SELECT value FROM meta WHERE key = 'schema_version'")
        return int(row["value"]) if row else 0

    def _applied_steps(self) -> int:
        raise NotImplementedError

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[None]:
        """Reads that see one moment of the state, whatever others write meanwhile."""
        self._db.execute(self.dialect.snapshot)
        try:
            yield
        finally:
            # Nothing was written: ending it any way will do, and must not hide an error.
            self._roll_back("ROLLBACK")

    def forget(self, feed: str, entry_id: str) -> bool:
        """Drop what is known of an entry, its link's claim too, so the next run finds it new
        and announces it."""
        with self._transaction() as db:
            removed = db.execute(
                "DELETE FROM entries WHERE feed = ? AND entry_id = ?", (feed, entry_id)
            ).rowcount
            _release_link(db, feed, entry_id)
            if removed:
                self._forget_validators(db, [feed])
        return bool(removed)

    def retry_failed(self, feed: str | None = None) -> int:
        """Failed entries become unknown again: the next run composes and announces them anew."""
        where, values = ("AND feed = ?", (feed,)) if feed is not None else ("", ())
        with self._transaction() as db:
            feeds = [
                row["feed"]
                for row in db.execute(
                    f"SELECT DISTINCT feed FROM entries WHERE status = 'failed' {where}", values
                ).fetchall()
            ]
            removed = db.execute(
                f"DELETE FROM entries WHERE status = 'failed' {where}", values
            ).rowcount
            self._forget_validators(db, feeds)
        return removed

    def drop_pending(self, feed: str) -> int:
        """Pending posts and queued entries of a feed become seen: they will not go out, the
        links of the pending ones are released."""
        with self._transaction() as db:
            db.execute(
                "DELETE FROM announced_links WHERE feed = ? AND entry_id IN "
                "(SELECT entry_id FROM entries WHERE feed = ? AND status = 'pending')",
                (feed, feed),
            )
            return db.execute(
                "UPDATE entries SET status = 'seen', idempotency_key = NULL, toot = NULL, "
                "pending_since = NULL, queued_entry = NULL, updated = ? "
                "WHERE feed = ? AND status IN ('pending', 'queued')",
                (self.dialect.stamp(now_utc()), feed),
            ).rowcount

    def prune(self, feed: str, retention: timedelta) -> int:
        """Forget entries absent from the feed for `retention` of the feed's own parses.

        Measured against the feed's last successful parse, not the clock: a feed
        that answers 304 for a year keeps every entry it still holds. A retracted
        entry is kept: its article must not come back as new.
        """
        state = self.feed(feed)
        if state is None or state.last_parsed is None:
            return 0
        return self._write(
            "DELETE FROM entries WHERE feed = ? AND last_seen < ? "
            "AND status IN ('seen', 'posted', 'failed', 'deleted')",
            (feed, self.dialect.stamp(state.last_parsed - retention)),
        )

    def export_data(self) -> dict[str, Any]:
        """Everything the state holds, as JSON-ready data, from one consistent snapshot.

        A state an older crossposter wrote, read as it is (a preview's view), exports as
        that version: the import then brings its rows up to date, as an upgrade would.
        """
        with self._snapshot():
            data: dict[str, Any] = {
                "format": EXPORT_FORMAT,
                "version": self._applied_steps(),
                "exported_at": iso(now_utc()),
            }
            for table, order in EXPORT_ORDER.items():
                if self.dialect.has_table(self._db, table):
                    rows = self._rows(f"SELECT * FROM {table} ORDER BY {order}")
                    data[table] = [
                        {
                            column: iso(value) if isinstance(value, datetime) else value
                            for column, value in dict(row).items()
                        }
                        for row in rows
                    ]
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
        problem = import_problem(self._db, self.dialect, data)
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
                bring_up_to_date(db, self.dialect, version)
        except (*self.dialect.driver_errors, TypeError, AttributeError) as error:
            raise StateError(f"the export cannot be imported ({error}); nothing changed") from None
