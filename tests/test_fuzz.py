"""Whatever bytes a feed holds, fetch → parse → compose ends in entries and
toots, or in a clear FeedError / UnpostableEntry: never a traceback."""

from __future__ import annotations

import io
import logging
from contextlib import redirect_stderr

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crossposter.cli import main
from crossposter.compose.toot import UnpostableEntry, compose
from crossposter.config import FeedOptions
from crossposter.errors import FeedError
from crossposter.feeds.parse import parse_feed
from crossposter.models import Entry, FeedInfo, InstanceLimits

from conftest import corpus_files
from support.feeds import rss

LIMITS = (InstanceLimits(), InstanceLimits(max_characters=5000, characters_reserved_per_url=0))
OPTIONS = FeedOptions()
CORPUS = [path.read_bytes() for path in corpus_files()]
A_FEED = rss(
    [
        {
            "title": "Un titre",
            "link": "https://blog.example.org/1/",
            "description": "<p>Un résumé avec <a href='/x'>un lien</a>.</p>",
            "categories": ["C++", "Non classé"],
        }
    ]
).encode()


def parse_and_compose(content: bytes) -> None:
    """The property: only our own, explained errors may come out."""
    try:
        parsed = parse_feed(content, url="https://blog.example.org/feed/")
    except FeedError as error:
        assert error.reason
        return
    for entry in parsed.entries:
        for limits in LIMITS:
            try:
                toot = compose(entry, parsed.info, OPTIONS, limits)
            except UnpostableEntry:
                continue
            assert toot.length <= limits.max_characters


def test_a_nul_in_the_declared_encoding_is_a_feed_error():
    content = b'<?xml version="1.0" encoding="UTF\x00-8"?><rss version="2.0"><channel/></rss>'
    with pytest.raises(FeedError, match="cannot be read"):
        parse_feed(content, url="https://blog.example.org/feed/")


def test_every_corpus_feed_parses_and_composes():
    for content in CORPUS:
        parse_and_compose(content)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4000))
def test_random_bytes(content):
    parse_and_compose(content)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_damaged_feeds(data):
    original = data.draw(st.sampled_from([*CORPUS, A_FEED]))
    cut = data.draw(st.integers(0, len(original)))
    damaged = bytearray(original[:cut] if data.draw(st.booleans()) else original)
    for _ in range(data.draw(st.integers(0, 8))):
        if damaged:
            position = data.draw(st.integers(0, len(damaged) - 1))
            damaged[position] = data.draw(st.integers(0, 255))
    parse_and_compose(bytes(damaged))


texts = st.text(max_size=600)


@settings(max_examples=300, deadline=None)
@given(
    title=texts,
    summary=texts,
    content=texts,
    categories=st.lists(st.text(max_size=40), max_size=8),
    link=st.one_of(
        st.none(),
        st.just("https://blog.example.org/2026/11/un-article/"),
        st.builds(lambda path: f"https://blog.example.org/{path}", st.text(max_size=400)),
    ),
    language=st.one_of(st.none(), st.text(max_size=12)),
    author=st.text(max_size=80),
)
def test_any_entry_composes_to_a_toot_within_the_limit_or_is_refused_clearly(
    title, summary, content, categories, link, language, author
):
    entry = Entry(
        id="x",
        link=link,
        title=title,
        summary_html=summary,
        content_html=content,
        author=author,
        categories=tuple(categories),
        language=language,
    )
    for limits in LIMITS:
        try:
            toot = compose(entry, FeedInfo(title=title), OPTIONS, limits)
        except UnpostableEntry:
            continue
        assert toot.length <= limits.max_characters


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=st.one_of(st.binary(max_size=2000), st.sampled_from([*CORPUS[:5], A_FEED])))
def test_a_run_on_any_file_ends_cleanly(tmp_path, content):
    feed = tmp_path / "feed.xml"
    feed.write_bytes(content)
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "instance: https://mastodon.example\nstate_file: state.sqlite3\n"
        "feeds:\n  - {name: blog, url: feed.xml, backfill: 3}\n",
        encoding="utf-8",
    )
    stderr = io.StringIO()
    with redirect_stderr(stderr):
        code = main(["run", "--dry-run", "--config", str(config)])
    logging.getLogger("crossposter").handlers.clear()
    assert code in (0, 1)
    assert "Traceback" not in stderr.getvalue()
    if code == 1:
        assert "feed blog" in stderr.getvalue()
