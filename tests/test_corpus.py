"""Every entry of every real feed in tests/corpus/ becomes a toot Mastodon accepts:
within 500, with an absolute web link, with no HTML left in it; or, when the entry has no
link at all, it is refused as unpostable (and the run skips it with a warning)."""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import pytest

from crossposter.compose.length import mastodon_length
from crossposter.compose.toot import UnpostableEntry, compose
from crossposter.config import FeedOptions
from crossposter.errors import FeedError
from crossposter.feeds.parse import parse_feed

from conftest import corpus_files
from support.builders import MASTODON_LIMITS

FEED_URL = "https://example.org/feed.xml"
MASTODON = MASTODON_LIMITS
MARKUP = re.compile(r"<\s*/?\s*[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>|<!--|<!\[CDATA\[")
ENTITY = re.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
FILES = corpus_files()


def source(entry) -> str:
    return entry.title + entry.summary_html + entry.content_html


def parsed(path):
    try:
        return parse_feed(path.read_bytes(), url=FEED_URL)
    except FeedError as error:
        pytest.skip(f"{path.name} is not a feed crossposter can read: {error}")


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_every_corpus_entry_composes_to_an_acceptable_toot(path):
    feed = parsed(path)
    for entry in feed.entries:
        if not entry.link:
            with pytest.raises(UnpostableEntry):
                compose(entry, feed.info, FeedOptions(), MASTODON)
            continue

        toot = compose(entry, feed.info, FeedOptions(), MASTODON)

        where = f"{path.name}: {entry.id}"
        assert toot.length == mastodon_length(toot.text) <= 500, where
        assert entry.link in toot.text, where
        link = urlsplit(entry.link)
        assert link.scheme in ("http", "https") and link.netloc, where
        for tag in MARKUP.findall(toot.text):
            # Only a tag the article shows as text (escaped in the feed, as in a code
            # sample) may appear; markup of the feed never does.
            assert tag not in source(entry) and tag in html.unescape(source(entry)), where
        assert not ENTITY.search(toot.text), f"{where}: {toot.text!r}"
        assert "None" not in toot.text.replace(entry.title, ""), where


def test_the_corpus_exercises_both_outcomes():
    linked = unlinked = 0
    for path in FILES:
        try:
            feed = parse_feed(path.read_bytes(), url=FEED_URL)
        except FeedError:
            continue
        for entry in feed.entries:
            if entry.link:
                linked += 1
            else:
                unlinked += 1
    assert linked > 200
    assert unlinked >= 1
