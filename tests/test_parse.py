"""Parsing: stable identities, absolute links, clean titles, malformed feeds still used."""

from __future__ import annotations

import pytest

from crossposter.errors import FeedError
from crossposter.feeds.parse import (
    MAX_AUTHOR,
    MAX_CATEGORIES,
    MAX_CATEGORY,
    MAX_HTML,
    MAX_ID,
    MAX_LINK,
    MAX_TITLE,
    parse_feed,
)

from conftest import CORPUS, corpus_files
from support.feeds import atom, rss

URL = "https://blog.example.org/feed/"


def parse(text: str, url: str = URL, **kwargs):
    return parse_feed(text.encode("utf-8"), url=url, **kwargs)


def test_an_rss_item_becomes_an_entry():
    feed = parse(
        rss(
            [
                {
                    "title": "Bonjour",
                    "link": "https://blog.example.org/bonjour/",
                    "guid": "https://blog.example.org/?p=7",
                    "description": "<p>Un résumé.</p>",
                    "categories": ["Python", "Web"],
                    "pubDate": "Tue, 24 Nov 2026 08:12:00 +0000",
                    "author": "jf@example.org (JF)",
                }
            ],
            title="Mon blog",
            language="fr-FR",
        )
    )
    [entry] = feed.entries
    assert feed.info.title == "Mon blog" and feed.info.language == "fr-FR"
    assert entry.id == "https://blog.example.org/?p=7"
    assert entry.link == "https://blog.example.org/bonjour/"
    assert entry.title == "Bonjour"
    assert entry.categories == ("Python", "Web")
    assert entry.published.isoformat() == "2026-11-24T08:12:00+00:00"
    assert "Un résumé." in entry.summary_html


@pytest.mark.parametrize(
    ("item", "expected_id"),
    [
        ({"guid": "tag:blog,2026:7", "link": "https://b.example/7"}, "tag:blog,2026:7"),
        ({"link": "https://b.example/7"}, "https://b.example/7"),
    ],
)
def test_identity_is_the_guid_else_the_link(item, expected_id):
    document = rss([{"title": "T", **item}]).replace("<guid>https://b.example/7</guid>", "")
    [entry] = parse(document).entries
    assert entry.id == expected_id


def test_identity_without_guid_or_link_is_a_stable_hash_of_title_and_date():
    document = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>'
        "<item><title>Sans lien</title><pubDate>Tue, 24 Nov 2026 08:12:00 +0000</pubDate>"
        "</item></channel></rss>"
    )
    first = parse(document).entries[0]
    again = parse(document).entries[0]
    other = parse(document.replace("Sans lien", "Autre")).entries[0]
    assert first.id.startswith("sha256:") and first.id == again.id != other.id
    assert first.link is None


def test_relative_links_resolve_against_the_feed_url():
    document = rss([{"title": "T", "link": "/2026/11/post/", "guid": "p1"}])
    [entry] = parse(document, url="https://blog.example.org/feed/").entries
    assert entry.link == "https://blog.example.org/2026/11/post/"


def test_relative_links_in_a_local_feed_resolve_against_its_self_link():
    document = atom(
        [{"title": "T", "link": "/blog/post", "id": "urn:x:1"}], link="https://site.example/blog/"
    )
    document = document.replace(
        "<title>", '<link rel="self" href="https://site.example/blog/feed.xml"/><title>', 1
    )
    [entry] = parse(document, url="/srv/www/feed.xml").entries
    assert entry.link == "https://site.example/blog/post"


def test_xml_base_wins_over_the_feed_url():
    document = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://other.example/base/">'
        "<title>t</title><id>urn:f</id><updated>2026-01-01T00:00:00Z</updated>"
        '<entry><title>e</title><id>urn:e</id><link href="post.html"/>'
        "<updated>2026-01-01T00:00:00Z</updated></entry></feed>"
    )
    [entry] = parse(document).entries
    assert entry.link == "https://other.example/base/post.html"


@pytest.mark.parametrize(
    ("raw_title", "clean"),
    [
        ("L&amp;#8217;été", "L’été"),
        ("L&#8217;été", "L’été"),
        ("Tom &amp;amp; Jerry", "Tom & Jerry"),
        ("&lt;b&gt;Gras&lt;/b&gt; et net", "Gras et net"),
    ],
)
def test_titles_escaped_twice_come_out_clean(raw_title, clean):
    document = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>'
        f"<item><title>{raw_title}</title><link>https://b.example/1</link></item>"
        "</channel></rss>"
    )
    assert parse(document).entries[0].title == clean


def test_a_malformed_feed_whose_entries_parse_is_used_and_says_so():
    document = rss([{"title": "Ok", "link": "https://b.example/1"}]).replace(
        "</channel>", "<broken & </channel>"
    )
    feed = parse(document)
    assert feed.malformed and len(feed.entries) == 1


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        ("<!DOCTYPE html><html><body>Hi</body></html>", {"content-type": "text/html"}, "HTML page"),
        ("   ", {}, "empty"),
        ("just some words", {"content-type": "text/plain"}, "not a feed"),
    ],
)
def test_a_document_that_is_not_a_feed_is_refused(body, headers, reason):
    with pytest.raises(FeedError, match=reason):
        parse(body, headers=headers)


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_every_corpus_feed_parses_to_entries_with_absolute_links_or_none(path):
    try:
        feed = parse_feed(path.read_bytes(), url="https://example.org/feed.xml")
    except FeedError:
        # Only a feed with no entries at all may be refused (feed-rs invalid_1).
        assert "invalid_1" in path.name
        return
    ids = [entry.id for entry in feed.entries]
    assert all(ids)
    for entry in feed.entries:
        assert entry.link is None or entry.link.startswith(("http://", "https://"))
        assert "&#" not in entry.title and "&amp;" not in entry.title


def test_the_corpus_holds_every_feed_its_sources_list():
    assert len(corpus_files()) == 41, CORPUS


def test_a_damaged_xml_base_is_ignored_rather_than_fatal():
    """Found by test_fuzz: urljoin raises on 'https://[' and took the whole feed down."""
    document = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:f</id>'
        "<updated>2026-01-01T00:00:00Z</updated>"
        '<entry><title>e</title><id>urn:e</id><link href="https://b.example/e"/>'
        "<updated>2026-01-01T00:00:00Z</updated>"
        '<content type="html" xml:base="https://[broken/">&lt;p&gt;x&lt;/p&gt;</content>'
        "</entry></feed>"
    )
    [entry] = parse(document).entries
    assert entry.link == "https://b.example/e"
    assert entry.content_base == URL


def test_a_feedburner_feed_links_the_article_not_the_redirect():
    document = (
        '<?xml version="1.0"?><rss version="2.0" '
        'xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0"><channel><title>x</title>'
        "<item><title>Angie's List prices IPO</title>"
        "<link>http://feedproxy.google.com/~r/Techcrunch/~3/kTeeGj4FnwU/</link>"
        '<guid isPermaLink="false">http://techcrunch.com/?p=446154</guid>'
        "<feedburner:origLink>http://techcrunch.com/2011/11/02/angies-list-prices-ipo/"
        "</feedburner:origLink></item></channel></rss>"
    )
    [entry] = parse(document).entries
    assert entry.link == "http://techcrunch.com/2011/11/02/angies-list-prices-ipo/"
    assert entry.id == "http://techcrunch.com/?p=446154"


def test_no_corpus_toot_links_through_feedproxy():
    for path in corpus_files():
        try:
            feed = parse_feed(path.read_bytes(), url="https://example.org/feed.xml")
        except FeedError:
            continue
        for entry in feed.entries:
            assert "feedproxy.google.com" not in (entry.link or ""), (path.name, entry.link)


def test_a_hostile_feeds_fields_are_cut_before_anything_reads_them():
    [entry] = parse(
        rss(
            [
                {
                    "title": "T" * 5_000_000,
                    "link": "https://blog.example.org/long/",
                    "author": "A" * 10_000,
                    "categories": [f"{n:02d}" + "c" * 1_000 for n in range(60)],
                    "description": "<p>" + "s" * 1_000_000 + "</p>",
                    "content": "<p>" + "c" * 1_000_000 + "</p>",
                }
            ],
            title="F" * 100_000,
        )
    ).entries
    assert entry.title == "T" * MAX_TITLE
    assert len(entry.author) == MAX_AUTHOR
    assert len(entry.categories) == MAX_CATEGORIES
    assert all(len(name) == MAX_CATEGORY for name in entry.categories)
    assert entry.categories[0].startswith("00") and entry.categories[-1].startswith("49")
    assert len(entry.summary_html) == len(entry.content_html) == MAX_HTML


def test_a_feed_title_is_cut_too():
    feed = parse(rss([{"title": "T", "link": "https://blog.example.org/1/"}], title="F" * 5_000))
    assert feed.info.title == "F" * MAX_TITLE



def test_an_overlong_guid_becomes_a_stable_digest_of_itself():
    def identity(guid: str) -> str:
        [entry] = parse(rss([{"title": "T", "link": "https://b.example/1", "guid": guid}])).entries
        return entry.id

    longest = "g" * MAX_ID
    assert identity(longest) == longest
    huge = identity("g" * 1_000_000)
    assert huge.startswith("sha256:") and len(huge) < 100
    assert identity("g" * 1_000_000) == huge
    assert identity("h" * 1_000_000) != huge


def test_an_overlong_link_is_no_link():
    path = "/" + "p" * MAX_LINK
    feed = parse(
        rss(
            [
                {"title": "Huge", "link": "https://b.example" + path * 250},
                {"title": "Too long", "link": "https://b.example" + path},
                {"title": "Longest", "link": "https://b.example" + path[: MAX_LINK - 17]},
            ]
        )
    )
    huge, too_long, longest = feed.entries
    assert huge.link is None and too_long.link is None
    assert len(huge.id) < 100
    assert len(longest.link) == MAX_LINK
