"""The state's role for feeds: what each was last fetched as, and its validators."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from crossposter.models import Validators
from crossposter.state.records import FeedState, now_utc
from crossposter.state.sql import SqlStore

FEED_COLUMNS = "name, url, etag, last_modified, last_fetch, last_result, last_parsed"


class Feeds(SqlStore):
    def feed(self, name: str) -> FeedState | None:
        row = self._row(f"SELECT {FEED_COLUMNS} FROM feeds WHERE name = ?", (name,))
        return self._feed_state(row) if row else None

    def feeds(self) -> list[FeedState]:
        rows = self._rows(f"SELECT {FEED_COLUMNS} FROM feeds ORDER BY name COLLATE BINARY")
        return [self._feed_state(row) for row in rows]

    def _feed_state(self, row: Any) -> FeedState:
        return FeedState(
            name=row["name"],
            url=row["url"],
            validators=Validators(etag=row["etag"], last_modified=row["last_modified"]),
            last_fetch=self.dialect.moment(row["last_fetch"]),
            last_result=row["last_result"],
            last_parsed=self.dialect.moment(row["last_parsed"]),
        )

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
        stamp = self.dialect.stamp
        self._write(
            "INSERT INTO feeds (name, url, last_fetch, last_result, last_parsed) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET url = excluded.url, "
            "last_fetch = excluded.last_fetch, last_result = excluded.last_result, "
            "last_parsed = COALESCE(excluded.last_parsed, feeds.last_parsed)",
            (name, url, stamp(at or now_utc()), result, stamp(parsed_at)),
        )

    def save_validators(self, name: str, validators: Validators) -> None:
        """Remember ETag/Last-Modified; call only once every new entry has been handled."""
        self._write(
            "UPDATE feeds SET etag = ?, last_modified = ? WHERE name = ?",
            (validators.etag, validators.last_modified, name),
        )

    def _forget_validators(self, db: Any, feeds: Iterable[str]) -> None:
        # Otherwise the next run gets a 304 and never reads the entry that became new.
        db.executemany(
            "UPDATE feeds SET etag = NULL, last_modified = NULL WHERE name = ?",
            [(feed,) for feed in feeds],
        )

    def settings_fingerprints(self) -> dict[str, str]:
        """Feed name → a digest of the settings its last run used."""
        rows = self._rows(
            "SELECT substr(key, 10) AS feed, value FROM meta WHERE key LIKE 'settings:%'"
        )
        return {row["feed"]: row["value"] for row in rows}

    def save_settings_fingerprint(self, feed: str, fingerprint: str) -> None:
        self._write(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (f"settings:{feed}", fingerprint),
        )

    def next_polls(self, feeds: Iterable[str] | None = None) -> dict[str, datetime | None]:
        """Feed name (of `feeds`, or all) → when `run --loop` polls it next (None: at the
        next pass); a feed never polled is absent."""
        if feeds is None:
            rows = self._rows("SELECT name, next_poll FROM feeds")
        else:
            rows = self._in("SELECT name, next_poll FROM feeds WHERE name IN ({})", (), feeds)
        return {row["name"]: self.dialect.moment(row["next_poll"]) for row in rows}

    def set_next_poll(self, feed: str, at: datetime) -> None:
        self._write("UPDATE feeds SET next_poll = ? WHERE name = ?", (self.dialect.stamp(at), feed))
