"""WebSub, the pure parts: the hub and topic a feed advertises (its HTTP Link header, or
Atom <link rel="hub">, RSS <atom:link rel="hub">), what to ask the hub for and when, and
what a hub's verification of intent grants."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from crossposter.feeds.hubs import advertised_hub
from crossposter.feeds.parse import parse_feed
from crossposter.listen.websub import LEASE_SECONDS, to_request, verified_lease
from crossposter.models import FeedInfo, Hub

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Blog</title>
  <link rel="hub" href="https://hub.example.org/"/>
  <link rel="self" href="https://blog.example.org/feed.atom"/>
  <id>urn:x</id><updated>2026-11-01T00:00:00Z</updated>
  <entry><id>1</id><title>One</title><link href="https://blog.example.org/1"/>
  <updated>2026-11-01T00:00:00Z</updated></entry>
</feed>"""

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>
  <title>Blog</title><link>https://blog.example.org/</link>
  <atom:link rel="hub" href="https://pubsubhubbub.appspot.com/"/>
  <atom:link rel="self" type="application/rss+xml" href="https://blog.example.org/feed/"/>
  <item><title>One</title><link>https://blog.example.org/1</link><guid>1</guid></item>
</channel></rss>"""

PLAIN = RSS.replace('<atom:link rel="hub" href="https://pubsubhubbub.appspot.com/"/>', "")


def discovered(document: str, headers: dict[str, str] | None = None) -> Hub | None:
    url = "https://blog.example.org/fetched"
    info = parse_feed(document.encode(), url=url, headers=headers).info
    return advertised_hub(info, headers or {}, url)


def test_an_atom_feed_names_its_hub_and_self():
    assert discovered(ATOM) == Hub("https://hub.example.org/", "https://blog.example.org/feed.atom")


def test_an_rss_feed_names_them_with_atom_link():
    assert discovered(RSS) == Hub(
        "https://pubsubhubbub.appspot.com/", "https://blog.example.org/feed/"
    )


def test_the_link_header_comes_before_the_document():
    headers = {
        "Link": '<https://hub2.example.org/>; rel="hub", </feed/?self>; rel="self"',
        "Content-Type": "application/rss+xml",
    }
    assert discovered(RSS, headers) == Hub(
        "https://hub2.example.org/", "https://blog.example.org/feed/?self"
    )


def test_a_link_header_may_name_only_the_hub():
    headers = {"link": '<https://hub2.example.org/>; rel="hub"'}
    assert discovered(PLAIN, headers) == Hub(
        "https://hub2.example.org/", "https://blog.example.org/feed/"
    )


def test_a_feed_without_a_hub_has_none():
    assert discovered(PLAIN) is None


@pytest.mark.parametrize(
    "info",
    [
        FeedInfo(hub="https://hub.example.org/"),  # no self: not a WebSub topic
        FeedInfo(self_url="https://blog.example.org/feed"),
        FeedInfo(),
    ],
)
def test_a_hub_needs_a_topic_and_a_topic_a_hub(info):
    assert advertised_hub(info, {}, "https://blog.example.org/feed") is None


def test_a_hub_that_is_not_a_web_address_is_ignored():
    headers = {"Link": '<javascript:alert(1)>; rel="hub"'}
    assert discovered(PLAIN, headers) is None
    assert discovered(RSS.replace("https://pubsubhubbub.appspot.com/", "ftp://hub/")) is None


# -- what to ask the hub, and what its verification grants --------------------------------

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
HUB = Hub("https://hub.example.org/", "https://blog.example.org/feed/")


def test_a_feed_first_seen_with_a_hub_gets_a_subscription_of_its_own():
    first = to_request("blog", None, HUB, NOW)
    second = to_request("blog", None, HUB, NOW)
    assert (first.feed, first.hub, first.topic, first.lease_until) == (
        "blog",
        HUB.url,
        HUB.topic,
        None,
    )
    assert first.callback_id != second.callback_id and first.secret != second.secret
    assert len(first.secret) == 64 and first.secret not in repr(first)


def test_a_verified_subscription_is_renewed_only_near_the_end_of_its_lease():
    verified = replace(
        to_request("blog", None, HUB, NOW), lease_until=NOW + timedelta(seconds=LEASE_SECONDS)
    )
    assert to_request("blog", verified, HUB, NOW + timedelta(days=5)) is None
    renewal = to_request("blog", verified, HUB, NOW + timedelta(days=6, hours=1))
    assert (renewal.callback_id, renewal.secret) == (verified.callback_id, verified.secret)
    assert renewal.requested_at == NOW + timedelta(days=6, hours=1)


def test_an_unverified_subscription_is_asked_again_after_an_hour():
    asked = to_request("blog", None, HUB, NOW)
    assert to_request("blog", asked, HUB, NOW + timedelta(minutes=59)) is None
    assert to_request("blog", asked, HUB, NOW + timedelta(minutes=61)).callback_id == (
        asked.callback_id
    )


def test_a_renewal_just_asked_for_is_not_asked_again_while_its_verification_is_awaited():
    # Two replicas: the second takes the feed's lease right after the first renewed.
    verified = replace(
        to_request("blog", None, HUB, NOW), lease_until=NOW + timedelta(seconds=LEASE_SECONDS)
    )
    renewal = to_request("blog", verified, HUB, NOW + timedelta(days=6, hours=1))
    assert to_request("blog", renewal, HUB, NOW + timedelta(days=6, hours=1, minutes=5)) is None


def test_a_new_hub_or_topic_is_a_new_subscription():
    asked = to_request("blog", None, HUB, NOW)
    moved = to_request("blog", asked, Hub("https://other.example/", HUB.topic), NOW)
    assert moved.callback_id != asked.callback_id and moved.hub == "https://other.example/"


def verification(**fields) -> dict[str, str]:
    query = {"hub.mode": "subscribe", "hub.topic": HUB.topic, "hub.challenge": "c"}
    return {**query, **fields}


def test_a_verification_for_our_subscription_grants_the_lease_it_says():
    asked = to_request("blog", None, HUB, NOW)
    until = verified_lease(verification(**{"hub.lease_seconds": "3600"}), asked, NOW)
    assert until == NOW + timedelta(hours=1)


@pytest.mark.parametrize(
    "query",
    [
        verification(**{"hub.topic": "https://blog.example.org/other/"}),
        verification(**{"hub.mode": "unsubscribe"}),
        verification(**{"hub.challenge": ""}),
    ],
)
def test_a_verification_we_did_not_ask_for_is_refused(query):
    assert verified_lease(query, to_request("blog", None, HUB, NOW), NOW) is None
    assert verified_lease(verification(), None, NOW) is None
