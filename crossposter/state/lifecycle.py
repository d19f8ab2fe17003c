"""The state's role after posting: what became of each toot (edits, deletions, replies),
the hooks run for it, and each account's deletions."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from crossposter.models import Article, Toot
from crossposter.state.records import (
    ANNOUNCED_STATUSES,
    AnnouncedPost,
    PostedEntry,
    now_utc,
    toot_from_json,
    toot_json,
)
from crossposter.state.sql import SqlStore

# Deletions older than this are forgotten: Mastodon's limit counts 30 minutes.
DELETIONS_KEPT = timedelta(days=1)


class AfterPosting(SqlStore):
    def announced(
        self, feed: str | None = None, posted_since: datetime | None = None
    ) -> list[AnnouncedPost]:
        """Every entry whose toot went out (posted, retracted, deleted), oldest first; those
        posted since `posted_since` only, when given (a run's look at recent toots)."""
        where, values = ("AND feed = ?", (feed,)) if feed is not None else ("", ())
        if posted_since is not None:
            where += " AND COALESCE(posted_at, updated) >= ?"
            values = (*values, self.dialect.stamp(posted_since))
        marks = ", ".join("?" for _ in ANNOUNCED_STATUSES)
        rows = self._rows(
            "SELECT feed, entry_id, link, title, status, toot_id, toot_url, account, instance, "
            "posted_at, updated, edited_at, replies, replies_fetched_at, card FROM entries "
            f"WHERE status IN ({marks}) AND toot_id IS NOT NULL {where} "
            "ORDER BY COALESCE(posted_at, updated), feed COLLATE BINARY, entry_id COLLATE BINARY",
            (*ANNOUNCED_STATUSES, *values),
        )
        moment = self.dialect.moment
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
                posted_at=moment(row["posted_at"] or row["updated"]),
                edited_at=moment(row["edited_at"]),
                replies=json.loads(row["replies"]) if row["replies"] else None,
                replies_fetched_at=moment(row["replies_fetched_at"]),
                card=None if row["card"] is None else bool(row["card"]),
            )
            for row in rows
        ]

    def save_replies(
        self, feed: str, entry_id: str, replies: list[dict[str, Any]], at: datetime | None = None
    ) -> None:
        """The public replies to the entry's toot, as just read (now, or `at`)."""
        self._write(
            "UPDATE entries SET replies = ?, replies_fetched_at = ? "
            "WHERE feed = ? AND entry_id = ?",
            (
                json.dumps(replies, ensure_ascii=False),
                self.dialect.stamp(at or now_utc()),
                feed,
                entry_id,
            ),
        )

    def claim_hook(self, feed: str, entry_id: str, event: str, occurrence: str) -> bool:
        """Note that a hook is about to run for this event; False when one already did.

        Durable before it returns, so a crash during the hook never runs it twice.
        """
        return bool(
            self._write(
                "INSERT INTO hook_runs (feed, entry_id, event, occurrence, started) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (feed, entry_id, event, occurrence, self.dialect.stamp(now_utc())),
                durable=True,
            )
        )

    def posted_entries(self, feed: str, *, edit_recorded: bool = False) -> list[PostedEntry]:
        """The feed's entries whose toot is on the instance, oldest first; `edit_recorded`:
        only those with an edit recorded, maybe unsent (looked for on every run)."""
        rows = self._rows(
            "SELECT entries.*, entries.last_seen >= feeds.last_parsed AS in_feed "
            "FROM entries LEFT JOIN feeds ON feeds.name = entries.feed "
            "WHERE feed = ? AND status = 'posted' AND toot_id IS NOT NULL "
            + ("AND edit_toot IS NOT NULL " if edit_recorded else "")
            + "ORDER BY posted_at NULLS FIRST, entry_id COLLATE BINARY",
            (feed,),
        )
        moment = self.dialect.moment
        return [
            PostedEntry(
                feed=row["feed"],
                entry_id=row["entry_id"],
                link=row["link"],
                title=row["title"],
                toot_id=row["toot_id"],
                toot_url=row["toot_url"],
                toot=toot_from_json(row["toot"]) if row["toot"] else None,
                article=Article.from_json(row["article"]),
                posted_at=moment(row["posted_at"]),
                edited_at=moment(row["edited_at"]),
                in_feed=bool(row["in_feed"]),
                edit=toot_from_json(row["edit_toot"]) if row["edit_toot"] else None,
                edit_article=Article.from_json(row["edit_article"]),
                checked_at=moment(row["checked_at"]),
                gone_since=moment(row["gone_since"]),
                account=row["account"],
                instance=row["instance"],
                edits=row["edits"] or 0,
                earlier_articles=tuple(
                    Article.from_json(json.dumps(item))
                    for item in json.loads(row["earlier_articles"] or "[]")
                ),
            )
            for row in rows
        ]

    def mark_edit_pending(
        self, feed: str, entry_id: str, toot: Toot, article: Article, worker: str | None = None
    ) -> None:
        """Record an edit before its request is sent; durable when it returns. With `worker`,
        LeaseLost (and nothing written) unless it still holds the feed's lease."""
        with self._transaction(durable=True) as db:
            if worker is not None:
                self._confirm_lease(db, feed, worker)
            db.execute(
                "UPDATE entries SET edit_toot = ?, edit_article = ?, updated = ? "
                "WHERE feed = ? AND entry_id = ?",
                (toot_json(toot), article.to_json(), self.dialect.stamp(now_utc()), feed, entry_id),
            )

    def mark_edited(self, feed: str, entry_id: str, at: datetime) -> None:
        """The pending edit went out: it is now the posted toot and article, one more edit,
        and the entry's title (as `state entries` shows it) the one it announces; the article
        the toot showed before joins the earlier ones."""
        stamp = self.dialect.stamp
        with self._transaction(durable=True) as db:
            row = db.execute(
                "SELECT article, edit_article, earlier_articles FROM entries "
                "WHERE feed = ? AND entry_id = ? AND edit_toot IS NOT NULL",
                (feed, entry_id),
            ).fetchone()
            if row is None:
                return
            earlier = json.loads(row["earlier_articles"] or "[]")
            if row["article"] is not None:
                earlier.append(json.loads(row["article"]))
            earlier_json = json.dumps(earlier, ensure_ascii=False)
            title = Article.from_json(row["edit_article"]).title if row["edit_article"] else None
            db.execute(
                "UPDATE entries SET toot = edit_toot, article = edit_article, edit_toot = NULL, "
                "edit_article = NULL, edited_at = ?, updated = ?, edits = COALESCE(edits, 0) + 1, "
                "earlier_articles = ?, title = COALESCE(?, title) WHERE feed = ? AND entry_id = ?",
                (stamp(at), stamp(now_utc()), earlier_json, title, feed, entry_id),
            )

    def drop_edit(self, feed: str, entry_id: str) -> None:
        """The instance refused the pending edit: the toot stays, the article as edited stays
        the reference (so the same edit is not tried again)."""
        self._write(
            "UPDATE entries SET article = edit_article, edit_toot = NULL, edit_article = NULL "
            "WHERE feed = ? AND entry_id = ? AND edit_toot IS NOT NULL",
            (feed, entry_id),
            durable=True,
        )

    def mark_deleted(self, feed: str, entry_id: str, reason: str = "") -> bool:
        """The toot is gone from the instance (deleted by hand): never edited or posted again.

        False when the state has no announced entry by that id.
        """
        return self._end_toot(feed, entry_id, "deleted", reason)

    def mark_retracted(self, feed: str, entry_id: str, reason: str = "") -> bool:
        """The toot was deleted on purpose (its article was, or `retract`): never announced
        again unless forgotten. False when the state has no announced entry by that id."""
        return self._end_toot(feed, entry_id, "retracted", reason)

    def _end_toot(self, feed: str, entry_id: str, status: str, reason: str) -> bool:
        return bool(
            self._write(
                "UPDATE entries SET status = ?, reason = ?, edit_toot = NULL, "
                "edit_article = NULL, updated = ? "
                "WHERE feed = ? AND entry_id = ? AND toot_id IS NOT NULL",
                (status, reason or None, self.dialect.stamp(now_utc()), feed, entry_id),
                durable=True,
            )
        )

    def record_check(self, feed: str, entry_id: str, at: datetime, gone: bool | None) -> None:
        """An absent article's link was asked at `at`: gone (404/410), there, or unknown."""
        stamp = self.dialect.stamp(at)
        if gone is None:
            change, values = "", ()
        elif gone:
            # The first "gone" answer is the one the second must be an hour after.
            change, values = ", gone_since = COALESCE(gone_since, ?)", (stamp,)
        else:
            change, values = ", gone_since = NULL", ()
        self._write(
            f"UPDATE entries SET checked_at = ?{change} WHERE feed = ? AND entry_id = ?",
            (stamp, *values, feed, entry_id),
        )

    def removal_counts(self, feed: str, since: datetime) -> tuple[int, int]:
        """How many of the feed's articles were checked at `since` or later, and how many
        of those answer 404 or 410. A person allowing deletions (`allow_deletions`) starts
        the count again, and lets go the articles gone before: they count no more."""
        row = self._row(
            "SELECT count(*) AS checked, count(CASE WHEN entries.gone_since IS NOT NULL AND "
            "(feeds.deletions_allowed_at IS NULL OR entries.gone_since >= "
            "feeds.deletions_allowed_at) THEN 1 END) AS gone "
            "FROM entries LEFT JOIN feeds ON feeds.name = entries.feed "
            "WHERE entries.feed = ? AND entries.checked_at >= ? AND "
            "(feeds.deletions_allowed_at IS NULL OR entries.checked_at >= "
            "feeds.deletions_allowed_at)",
            (feed, self.dialect.stamp(since)),
        )
        return int(row["checked"]), int(row["gone"])

    def hold_deletions(self, feed: str, at: datetime | None) -> None:
        """Hold the feed's deletions from `at` on (kept from the first time), or, with None,
        no longer (every article counted answers again)."""
        change = "COALESCE(deletions_held_since, ?)" if at is not None else "?"
        self._write(
            f"UPDATE feeds SET deletions_held_since = {change} WHERE name = ?",
            (self.dialect.stamp(at) if at is not None else None, feed),
            durable=True,
        )

    def allow_deletions(self, feed: str, at: datetime) -> bool:
        """A person let the feed's held deletions go (`state allow-deletions`): they go out,
        and the count starts again at `at`. False when the state has no such feed."""
        return bool(
            self._write(
                "UPDATE feeds SET deletions_held_since = NULL, deletions_allowed_at = ? "
                "WHERE name = ?",
                (self.dialect.stamp(at), feed),
                durable=True,
            )
        )

    def record_deletion(self, account: str, at: datetime) -> None:
        """Note that `account` deleted one of its toots at `at` (Mastodon limits how many).

        Durable before it returns. A deletion older than a day may be forgotten.
        """
        stamp = self.dialect.stamp
        with self._transaction(durable=True) as db:
            db.execute("INSERT INTO deletions (account, at) VALUES (?, ?)", (account, stamp(at)))
            db.execute("DELETE FROM deletions WHERE at < ?", (stamp(at - DELETIONS_KEPT),))

    def deletions_since(self, account: str, since: datetime) -> int:
        """How many toots `account` deleted at `since` or later."""
        row = self._row(
            "SELECT count(*) AS n FROM deletions WHERE account = ? AND at >= ?",
            (account, self.dialect.stamp(since)),
        )
        return int(row["n"])
