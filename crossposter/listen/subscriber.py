"""The loop's side of WebSub: after each pass, subscribe the feeds that advertise a hub and
renew what nears its lease's end; between passes, look subscriptions up for the hub's
calls. Only the loop's thread writes the state: a lease a hub's verification grants is
noted here and written after the next pass.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from crossposter.config import Settings
from crossposter.health import worker_id
from crossposter.leases import FeedLeases
from crossposter.listen.websub import (
    HubError,
    callback_url,
    subscribe,
    to_request,
)
from crossposter.models import Hub, WebSubSubscription
from crossposter.state import SubscribingState, now_utc
from crossposter.storage import open_read_only, open_state

log = logging.getLogger(__name__)


class WebSubSubscriber:
    def __init__(
        self, settings: Callable[[], Settings], clock: Callable[[], datetime] = now_utc
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        # Callback id → the end of the lease a hub's verification granted, to be written.
        self._granted: dict[str, datetime] = {}
        # Feed → the hub its last changed fetch advertised (None: it advertised none).
        self._hubs: dict[str, Hub | None] = {}

    @property
    def enabled(self) -> bool:
        return self._settings().websub_callback is not None

    def subscription(self, callback_id: str) -> WebSubSubscription | None:
        """The subscription a hub calls back about (from a listener thread)."""
        if not self.enabled:
            return None
        with open_read_only(self._settings()) as state:
            return state.websub_subscription_by_callback(callback_id)

    def lease_granted(self, callback_id: str, until: datetime) -> None:
        with self._lock:
            self._granted[callback_id] = until

    def after_pass(self, report) -> None:
        """Subscribe and renew, with what a pass's RunReport saw of the feeds' hubs."""
        settings = self._settings()
        for feed in report.feeds:
            if feed.poll_outcome == "changed":
                self._hubs[feed.name] = feed.hub
        with self._lock:
            granted, self._granted = self._granted, {}
        if settings.websub_callback is None:
            return
        now = self._clock()
        with open_state(settings) as state:
            for callback_id, until in granted.items():
                state.set_websub_lease(callback_id, until)
            for feed in settings.enabled_feeds:
                self._keep_subscribed(state, settings, feed.name, now)

    def _keep_subscribed(
        self, state: SubscribingState, settings: Settings, feed: str, now: datetime
    ) -> None:
        existing = state.websub_subscription(feed)
        hub = self._hub(feed, existing)
        if hub is None:
            if existing is not None and feed in self._hubs:
                # The feed no longer names a hub: the subscription lapses with its lease.
                state.delete_websub_subscription(feed)
            return
        if to_request(feed, existing, hub, now) is None:
            return
        # Under the feed's lease: two replicas never subscribe it twice.
        with FeedLeases(state, worker_id(), settings.lease_timeout) as leases:
            if not leases.take([feed]):
                return
            wanted = to_request(feed, state.websub_subscription(feed), hub, now)
            if wanted is None:
                return
            # Kept before asking: the hub's verification may come before its answer.
            state.save_websub_subscription(wanted)
            try:
                subscribe(wanted, callback_url(str(settings.websub_callback), wanted))
            except HubError as error:
                # Kept as asked for: asked again once VERIFICATION_WAIT has passed.
                log.warning(
                    "feed %s: WebSub subscription not made: %s; polling goes on", feed, error
                )
                return
            log.info("feed %s: WebSub subscription asked of %s", feed, wanted.hub)

    def _hub(self, feed: str, existing: WebSubSubscription | None) -> Hub | None:
        if feed in self._hubs:
            return self._hubs[feed]
        # Seen by another replica (or before a restart): the state knows its hub.
        return Hub(existing.hub, existing.topic) if existing else None
