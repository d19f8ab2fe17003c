"""What one account's pass knows of its instance, and adapts to: its limits, what its API
version allows (mastodon.capabilities), and the uploads it holds that no toot will use."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta
from typing import Protocol

from crossposter.errors import PublishError, StatusGone
from crossposter.mastodon.capabilities import Capabilities
from crossposter.models import InstanceLimits, Toot
from crossposter.state import PostingState

log = logging.getLogger(__name__)

LIMITS_MAX_AGE = timedelta(days=1)


class InstanceOutbox(Protocol):
    """What this module asks of posting.Outbox (named here: posting imports this module)."""

    # False for a preview's, which asks nothing.
    sends: bool

    def limits(self, stop: threading.Event) -> InstanceLimits: ...

    def delete_upload(self, media_id: str, stop: threading.Event) -> None: ...


class KnownInstance:
    """An account's instance for the length of a pass; `label` names the account in the log."""

    def __init__(
        self,
        url: str,
        account: str,
        outbox: InstanceOutbox,
        state: PostingState,
        stop: threading.Event,
        known_limits: dict[str, InstanceLimits],
        label: str,
    ):
        self.url = url
        self._account = account
        self._outbox = outbox
        self._state = state
        self._stop = stop
        # Instance → limits, shared by the accounts of a pass: each instance is asked once.
        self._known_limits = known_limits
        self._label = label
        # What the pass already said the instance does not take.
        self._told: set[str] = set()

    @property
    def limits(self) -> InstanceLimits:
        if self.url not in self._known_limits:
            self._known_limits[self.url] = self._load_limits()
        return self._known_limits[self.url]

    @property
    def capabilities(self) -> Capabilities:
        """What the instance supports: mastodon.capabilities decides, from its API version."""
        return Capabilities.of(self.limits)

    def _load_limits(self) -> InstanceLimits:
        # A preview asks nothing: what a run stored, however old, says more (and how old).
        max_age = LIMITS_MAX_AGE if self._outbox.sends else timedelta.max
        cached = self._state.cached_limits(self.url, max_age)
        if cached:
            return cached
        limits = self._outbox.limits(self._stop)
        if limits.source != "default":
            self._state.save_limits(self.url, limits)
        return limits

    def fit(self, toot: Toot) -> Toot:
        """`toot` without what the instance does not take, said once per pass."""
        if toot.quote_approval_policy is None or self.capabilities.quote_approval_policy:
            return toot
        if "quote_approval_policy" not in self._told:
            self._told.add("quote_approval_policy")
            log.info(
                "%s: quote_approval_policy left out: the instance does not take it (%s; "
                "Mastodon 4.5, API version 7, does); toots get the account's default",
                self._label,
                self.capabilities.describe(),
            )
        return replace(toot, quote_approval_policy=None)

    def discard_uploads(self, media_ids: tuple[str, ...]) -> None:
        """Delete uploads no toot will use: they would stay on the instance for a day.

        Only a server that can (API version 4, Mastodon 4.4) is asked. One it could not
        delete now (a network error, a 429, a stop) is recorded, and a later run's
        `sweep_unused_uploads` deletes it.
        """
        if not media_ids or not self.capabilities.delete_media:
            return
        left = self._delete(media_ids)
        if left:
            self._state.record_unused_uploads(self.url, self._account, left)

    def sweep_unused_uploads(self) -> None:
        """Delete the uploads an earlier run recorded as unused, as far as the instance lets."""
        recorded = self._state.unused_uploads(self.url, self._account)
        if not recorded or not self.capabilities.delete_media:
            return
        left = set(self._delete(recorded))
        for media_id in recorded:
            if media_id not in left:
                self._state.forget_unused_upload(self.url, self._account, media_id)

    def _delete(self, media_ids: Iterable[str]) -> list[str]:
        """Delete each upload; those left on the instance. The first failure stops the rest:
        the next request would meet the same closed door or rate limit."""
        media_ids = list(media_ids)
        for done, media_id in enumerate(media_ids):
            if self._stop.is_set():
                return media_ids[done:]
            try:
                self._outbox.delete_upload(media_id, self._stop)
            except StatusGone:
                pass  # gone already: what was wanted
            except PublishError as error:
                log.info("%s: unused upload %s not deleted yet: %s", self._label, media_id, error)
                return media_ids[done:]
        return []
