"""The state's role of looking after what toots leave on the instance: uploads no toot uses
(deleted by a later run when the first try failed), and whether each toot got a link card
(its feed warned once when one did not)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from crossposter.state.records import now_utc
from crossposter.state.sql import SqlStore


class Upkeep(SqlStore):
    def record_unused_uploads(
        self, instance: str, account: str, media_ids: Iterable[str], at: datetime | None = None
    ) -> None:
        """Uploads of `account` that no toot will use, to delete on a later run."""
        stamp = self.dialect.stamp(at or now_utc())
        self._write_many(
            "INSERT INTO unused_uploads (instance, account, media_id, recorded) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [(instance, account, media_id, stamp) for media_id in dict.fromkeys(media_ids)],
        )

    def unused_uploads(self, instance: str, account: str) -> list[str]:
        """The account's recorded unused uploads, oldest first."""
        rows = self._rows(
            "SELECT media_id FROM unused_uploads WHERE instance = ? AND account = ? "
            "ORDER BY recorded, media_id COLLATE BINARY",
            (instance, account),
        )
        return [row["media_id"] for row in rows]

    def forget_unused_upload(self, instance: str, account: str, media_id: str) -> None:
        """The upload is gone from the instance: nothing is left to delete."""
        self._write(
            "DELETE FROM unused_uploads WHERE instance = ? AND account = ? AND media_id = ?",
            (instance, account, media_id),
        )

    def save_card(self, feed: str, entry_id: str, card: bool) -> None:
        """Whether the instance built a link card for the entry's toot, as looked at once."""
        self._write(
            "UPDATE entries SET card = ? WHERE feed = ? AND entry_id = ?",
            (int(card), feed, entry_id),
        )

    def claim_card_warning(self, feed: str, at: datetime | None = None) -> bool:
        """Note that the feed is warned about a toot without a card; False when it was already
        (by this process or another). Durable when it returns: the warning is given once."""
        return bool(
            self._write(
                "UPDATE feeds SET card_warned = ? WHERE name = ? AND card_warned IS NULL",
                (self.dialect.stamp(at or now_utc()), feed),
                durable=True,
            )
        )
