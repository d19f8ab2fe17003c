"""WebSub discovery: the hub and topic a feed advertises, in its HTTP Link header or in the
document (Atom <link rel="hub">, RSS <atom:link rel="hub">)."""

from __future__ import annotations

import pytest

from crossposter.feeds.hubs import advertised_hub
from crossposter.feeds.parse import parse_feed
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
