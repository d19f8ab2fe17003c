"""What one account's pass knows of its instance, and adapts to: its limits, what its API
version allows (mastodon.capabilities), and the uploads it holds that no toot will use."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from datetime import timedelta
from typing import Protocol

from crossposter.errors import PublishError, StatusGone
from crossposter.mastodon.capabilities import Capabilities
from crossposter.models import InstanceLimits, Toot
from crossposter.state import CoordinationRole

log = logging.getLogger(__name__)

LIMITS_MAX_AGE = timedelta(days=1)


class InstanceOutbox(Protocol):
    """What this module asks of posting.Outbox (named here: posting imports this module)."""

    def limits(self, stop: threading.Event) -> InstanceLimits: ...

    def delete_upload(self, media_id: str, stop: threading.Event) -> None: ...


class KnownInstance:
    """An account's instance for the length of a pass; `label` names the account in the log."""

    def __init__(
        self,
        url: str,
        outbox: InstanceOutbox,
        state: CoordinationRole,
        stop: threading.Event,
        known_limits: dict[str, InstanceLimits],
        label: str,
    ):
        self.url = url
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
        cached = self._state.cached_limits(self.url, LIMITS_MAX_AGE)
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

        Only a server that can (API version 4, Mastodon 4.4) is asked; a failure is left
        to the instance's own cleanup of unused media.
        """
        if not media_ids or not self.capabilities.delete_media:
            return
        for media_id in media_ids:
            try:
                self._outbox.delete_upload(media_id, self._stop)
            except StatusGone:
                pass  # gone already: what was wanted
            except PublishError as error:
                log.info("%s: unused upload %s not deleted: %s", self._label, media_id, error)
