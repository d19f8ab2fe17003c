"""WebSub (W3C Recommendation, 2018) from the subscriber's side: subscribing to the hub a
feed advertises, answering the hub's verification of intent, checking its deliveries.

A delivery only marks the feed due: the feed is then fetched as usual, so its content
goes through the same conditional GET, parsing and exactly-once rules as a poll's. The
subscriptions live in the state (one per feed, shared by replicas); subscribing and
renewing happen under the feed's lease, so two replicas never subscribe twice.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import datetime, timedelta
from http import HTTPStatus

import requests

from crossposter.models import Hub, WebSubSubscription
from crossposter.web import USER_AGENT, root_cause

CALLBACK_PATH = "/websub/"
# Asked for; the hub grants what it will and says so in its verification.
LEASE_SECONDS = 7 * 86400
# Renewed once this share of the lease is left: a day of a week, time for a hub that
# is down a while.
RENEW_WHEN_LEFT = 0.15
# A subscription the hub has not verified within this long is asked for again: a hub
# that refused or could not be reached is asked again then.
VERIFICATION_WAIT = timedelta(hours=1)
HUB_TIMEOUT = 10.0


class HubError(Exception):
    """The hub refused a subscription, or could not be reached."""


def callback_url(base: str, subscription: WebSubSubscription) -> str:
    """Where the hub calls back for `subscription`, under `websub_callback`."""
    return base.rstrip("/") + CALLBACK_PATH + subscription.callback_id


def new_subscription(feed: str, hub: Hub, now: datetime) -> WebSubSubscription:
    """A subscription not asked for yet: its own unguessable callback and secret."""
    return WebSubSubscription(
        feed=feed,
        hub=hub.url,
        topic=hub.topic,
        callback_id=secrets.token_urlsafe(24),
        secret=secrets.token_hex(32),
        requested_at=now,
    )


def to_request(
    feed: str, existing: WebSubSubscription | None, hub: Hub, now: datetime
) -> WebSubSubscription | None:
    """The subscription of `feed` to ask `hub` for now, or None when `existing` is fine.

    A hub or topic that changed is a new subscription; one whose lease nears its end, or
    whose verification never came, is asked for again with the same callback and secret,
    unless it was asked for within VERIFICATION_WAIT.
    """
    if existing is None or (existing.hub, existing.topic) != (hub.url, hub.topic):
        return new_subscription(feed, hub, now)
    if now - existing.requested_at < VERIFICATION_WAIT:
        # Asked for lately (by this replica or another): its verification is awaited.
        return None
    left = existing.lease_until - now if existing.lease_until else timedelta(0)
    if left > timedelta(seconds=LEASE_SECONDS * RENEW_WHEN_LEFT):
        return None
    return replace(existing, requested_at=now)


def subscribe(subscription: WebSubSubscription, callback: str) -> None:
    """Ask the hub for `subscription` (hub.mode=subscribe); HubError when it says no."""
    form = {
        "hub.mode": "subscribe",
        "hub.topic": subscription.topic,
        "hub.callback": callback,
        "hub.secret": subscription.secret,
        "hub.lease_seconds": str(LEASE_SECONDS),
    }
    try:
        answer = requests.post(
            subscription.hub,
            data=form,
            headers={"User-Agent": USER_AGENT},
            timeout=HUB_TIMEOUT,
            allow_redirects=False,
        )
    except requests.RequestException as error:
        raise HubError(f"hub {subscription.hub}: {root_cause(error)}") from None
    if answer.status_code not in (HTTPStatus.OK, HTTPStatus.ACCEPTED, HTTPStatus.NO_CONTENT):
        raise HubError(f"hub {subscription.hub} answered {answer.status_code}")


def verified_lease(
    query: dict[str, str], subscription: WebSubSubscription | None, now: datetime
) -> datetime | None:
    """When the lease the hub's verification of intent grants ends; None when the
    verification is not for a subscription we asked for (the answer is then 404)."""
    if subscription is None or query.get("hub.mode") != "subscribe":
        return None
    if query.get("hub.topic") != subscription.topic or not query.get("hub.challenge"):
        return None
    try:
        seconds = int(query.get("hub.lease_seconds") or LEASE_SECONDS)
    except ValueError:
        seconds = LEASE_SECONDS
    return now + timedelta(seconds=max(seconds, 0))
