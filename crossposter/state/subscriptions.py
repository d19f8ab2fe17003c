"""The state's WebSub subscriptions: one per feed, at the hub it advertises.

Shared between the processes of a state as coordination is: written at once, read
fresh. No export carries them: each holds its hub's `hub.secret`, which never leaves
the state, and a state imported elsewhere subscribes anew.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crossposter.models import WebSubSubscription
from crossposter.state.sql import SqlStore

SUBSCRIPTION_COLUMNS = "feed, hub, topic, callback_id, secret, requested_at, lease_until"


class Subscriptions(SqlStore):
    def websub_subscription(self, feed: str) -> WebSubSubscription | None:
        return self._subscription_where("feed = ?", feed)

    def websub_subscription_by_callback(self, callback_id: str) -> WebSubSubscription | None:
        """The subscription whose callback URL ends with `callback_id`: what a hub calls."""
        return self._subscription_where("callback_id = ?", callback_id)

    def save_websub_subscription(self, subscription: WebSubSubscription) -> None:
        """Keep `subscription` as its feed's, in place of any other; the other processes
        see it when this returns (a hub may call any of them back at once)."""
        stamp = self.dialect.stamp
        self._shared_write(
            f"INSERT INTO websub_subscriptions ({SUBSCRIPTION_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (feed) DO UPDATE SET "
            "hub = excluded.hub, topic = excluded.topic, callback_id = excluded.callback_id, "
            "secret = excluded.secret, requested_at = excluded.requested_at, "
            "lease_until = excluded.lease_until",
            (
                subscription.feed,
                subscription.hub,
                subscription.topic,
                subscription.callback_id,
                subscription.secret,
                stamp(subscription.requested_at),
                stamp(subscription.lease_until),
            ),
        )

    def set_websub_lease(self, callback_id: str, until: datetime) -> None:
        """The hub verified the subscription: its lease ends at `until`."""
        self._shared_write(
            "UPDATE websub_subscriptions SET lease_until = ? WHERE callback_id = ?",
            (self.dialect.stamp(until), callback_id),
        )

    def delete_websub_subscription(self, feed: str) -> None:
        self._shared_write("DELETE FROM websub_subscriptions WHERE feed = ?", (feed,))

    def _subscription_where(self, condition: str, value: str) -> WebSubSubscription | None:
        rows = self._shared_rows(
            f"SELECT {SUBSCRIPTION_COLUMNS} FROM websub_subscriptions WHERE {condition}",
            (value,),
        )
        return self._subscription(rows[0]) if rows else None

    def _subscription(self, row: Any) -> WebSubSubscription:
        return WebSubSubscription(
            feed=row["feed"],
            hub=row["hub"],
            topic=row["topic"],
            callback_id=row["callback_id"],
            secret=row["secret"],
            requested_at=self.dialect.moment(row["requested_at"]),
            lease_until=self.dialect.moment(row["lease_until"]),
        )
