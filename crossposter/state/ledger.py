"""The state's ledger: every entry seen, and each post pending before its request and posted
after its answer, with the links each account announced."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from crossposter.models import Article, Entry, Posted, Toot, link_key
from crossposter.state.records import (
    EntryRecord,
    PendingPost,
    entry_from_json,
    entry_json,
    now_utc,
    toot_from_json,
    toot_json,
)
from crossposter.state.sql import SqlStore


class Ledger(SqlStore):
    def known_ids(self, feed: str) -> set[str]:
        return {
            row["entry_id"]
            for row in self._rows("SELECT entry_id FROM entries WHERE feed = ?", (feed,))
        }

    def mark_seen(self, feed: str, entries: Iterable[Entry], at: datetime | None = None) -> None:
        """Record entries as known without announcing them; known ones are left as they are."""
        stamp = self.dialect.stamp(at or now_utc())
        self._write_many(
            "INSERT INTO entries (feed, entry_id, status, link, title, first_seen, last_seen, "
            "updated) VALUES (?, ?, 'seen', ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            # In key order: appended rows fill B-tree pages, shuffled ones leave them half
            # empty (1,000 feeds x 100 entries: 20.7 MB instead of 25.6 MB).
            sorted(
                ((feed, e.id, e.link, e.title, stamp, stamp, stamp) for e in entries),
                key=lambda row: row[1],
            ),
        )

    def mark_queued(self, feed: str, entries: Iterable[Entry], at: datetime | None = None) -> None:
        """Record entries selected for posting and left for a later run, whole: known from
        now on (never new again), and posted by `queued` even once gone from the feed."""
        stamp = self.dialect.stamp(at or now_utc())
        self._write_many(
            "INSERT INTO entries (feed, entry_id, status, link, title, first_seen, last_seen, "
            "updated, queued_entry) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            [(feed, e.id, e.link, e.title, stamp, stamp, stamp, entry_json(e)) for e in entries],
        )

    def queued(self, feed: str) -> list[Entry]:
        """The feed's queued entries, as they were when queued, first queued first."""
        rows = self._rows(
            "SELECT queued_entry FROM entries WHERE feed = ? AND status = 'queued' "
            "ORDER BY first_seen, entry_id COLLATE BINARY",
            (feed,),
        )
        return [entry_from_json(row["queued_entry"]) for row in rows]

    def mark_filtered(
        self, feed: str, skipped: Iterable[tuple[Entry, str]], at: datetime | None = None
    ) -> None:
        """Record entries a filter rule kept from being announced, with that rule as the reason."""
        stamp = self.dialect.stamp(at or now_utc())
        self._write_many(
            "INSERT INTO entries (feed, entry_id, status, link, title, first_seen, last_seen, "
            "reason, updated) VALUES (?, ?, 'seen', ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [(feed, e.id, e.link, e.title, stamp, stamp, why, stamp) for e, why in skipped],
        )

    def touch(self, feed: str, entry_ids: Iterable[str], at: datetime | None = None) -> None:
        """The entries are still in the feed: keep them from being pruned."""
        stamp = self.dialect.stamp(at or now_utc())
        self._write_many(
            "UPDATE entries SET last_seen = ? WHERE feed = ? AND entry_id = ?",
            [(stamp, feed, entry_id) for entry_id in entry_ids],
        )

    def confirm_lease(self, feed: str, worker: str) -> None:
        """LeaseLost unless `worker` still holds `feed`: asked before a deletion or a retry,
        which record no pending row whose transaction could confirm it."""
        with self._transaction() as db:
            self._confirm_lease(db, feed, worker)

    def mark_pending(
        self,
        feed: str,
        entry: Entry,
        idempotency_key: str,
        toot: Toot,
        *,
        account: str,
        worker: str | None = None,
    ) -> PendingPost | None:
        """Record the toot about to be sent; what a retry would find, as `pending` returns it.

        The entry's link is claimed for `account` in the same write: None,
        and nothing written, when another entry already announced that link there.
        The claim is one insert that a unique key on (account, link) refuses, never a
        look followed by a write: two processes pending one link cannot both win. With
        `worker`, LeaseLost (and nothing written) unless it still holds the feed's lease.
        """
        now = now_utc().replace(microsecond=0)
        stamp = self.dialect.stamp(now)
        with self._transaction(durable=True) as db:
            if worker is not None:
                self._confirm_lease(db, feed, worker)
            if entry.link and not _claim(db, account, entry.link, feed, entry.id):
                return None
            db.execute(
                "INSERT INTO entries (feed, entry_id, status, link, title, first_seen, last_seen, "
                "idempotency_key, toot, pending_since, updated, article) "
                "VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (feed, entry_id) DO UPDATE SET status = 'pending', "
                "idempotency_key = excluded.idempotency_key, toot = excluded.toot, "
                "pending_since = excluded.pending_since, reason = NULL, "
                "updated = excluded.updated, article = excluded.article, queued_entry = NULL",
                (
                    feed,
                    entry.id,
                    entry.link,
                    entry.title,
                    stamp,
                    stamp,
                    idempotency_key,
                    toot_json(toot),
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
            pending_since=now,
            link=entry.link,
            title=entry.title,
        )

    def announced_links(self, account: str, links: Iterable[str]) -> set[str]:
        """Which of `links` `account` announced, posted or pending: compared by `link_key`
        (a key given is its own key), returned as given."""
        given = {link_key(link): link for link in links}
        rows = self._in(
            "SELECT link FROM announced_links WHERE account = ? AND link IN ({})",
            (account,),
            list(given),
        )
        return {given[row["link"]] for row in rows}

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
        stamp = self.dialect.stamp(now_utc())
        self._write(
            "UPDATE entries SET status = 'posted', toot_id = ?, toot_url = ?, reason = NULL, "
            "updated = ?, posted_at = ?, account = COALESCE(?, account), "
            "instance = COALESCE(?, instance) WHERE feed = ? AND entry_id = ?",
            (posted.id, posted.url, stamp, stamp, account, instance, feed, entry_id),
            durable=True,
        )

    def mark_failed(self, feed: str, entry_id: str, reason: str) -> None:
        """The server refused the toot: the entry's link is announced nowhere, it is released."""
        with self._transaction(durable=True) as db:
            db.execute(
                "UPDATE entries SET status = 'failed', reason = ?, updated = ? "
                "WHERE feed = ? AND entry_id = ?",
                (reason, self.dialect.stamp(now_utc()), feed, entry_id),
            )
            _release_link(db, feed, entry_id)

    def pending(self, feed: str) -> list[PendingPost]:
        """The feed's posts left pending, oldest first."""
        rows = self._rows(
            "SELECT feed, entry_id, idempotency_key, toot, pending_since, link, title "
            "FROM entries WHERE feed = ? AND status = 'pending' "
            "ORDER BY pending_since, entry_id COLLATE BINARY",
            (feed,),
        )
        return [
            PendingPost(
                feed=row["feed"],
                entry_id=row["entry_id"],
                idempotency_key=row["idempotency_key"],
                toot=toot_from_json(row["toot"]),
                pending_since=self.dialect.moment(row["pending_since"]),
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
        rows = self._rows(
            "SELECT feed, entry_id, status, link, title, first_seen, toot_url, reason, updated "
            f"FROM entries {where} ORDER BY updated DESC, first_seen DESC LIMIT ?",
            (*values, limit),
        )
        moment = self.dialect.moment
        return [
            EntryRecord(
                feed=row["feed"],
                entry_id=row["entry_id"],
                status=row["status"],
                link=row["link"],
                title=row["title"],
                first_seen=moment(row["first_seen"]),
                toot_url=row["toot_url"],
                reason=row["reason"],
                updated=moment(row["updated"]),
            )
            for row in rows
        ]

    def status_counts(self, feed: str) -> dict[str, int]:
        rows = self._rows(
            "SELECT status, COUNT(*) AS count FROM entries WHERE feed = ? GROUP BY status", (feed,)
        )
        return {row["status"]: row["count"] for row in rows}


def _claim(db: Any, account: str, link: str, feed: str, entry_id: str) -> bool:
    """Claim `link` for the entry on `account`: won when new, or already this entry's.

    One statement: the primary key makes a second process's insert wait for the first's
    transaction, then find the link taken, so two claims of one link never both win.
    """
    return bool(
        db.execute(
            "INSERT INTO announced_links (account, link, feed, entry_id) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (account, link) DO UPDATE SET feed = excluded.feed "
            "WHERE announced_links.feed = excluded.feed "
            "AND announced_links.entry_id = excluded.entry_id RETURNING feed",
            (account, link_key(link), feed, entry_id),
        ).fetchall()
    )


def _release_link(db: Any, feed: str, entry_id: str) -> None:
    """A link an entry no longer announces is free again."""
    db.execute("DELETE FROM announced_links WHERE feed = ? AND entry_id = ?", (feed, entry_id))
