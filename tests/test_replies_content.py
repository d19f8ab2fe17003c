"""A reply is written by anyone on the fediverse, and the replies file is meant to be shown
on a blog: only http(s) URLs, HTML cut to what Mastodon's strict sanitizer allows in a
status, display names as plain text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossposter.after_posting.replies import public_replies
from crossposter.after_posting.replies_file import due, replies_document
from crossposter.state import AnnouncedPost

# The list, kept here apart from the code's: the property test's oracle.
ALLOWED_TAGS = {"p", "br", "span", "a", "del", "s", "pre", "blockquote", "code", "b", "strong"}
ALLOWED_TAGS |= {"u", "i", "em", "ul", "ol", "li", "ruby", "rt", "rp"}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "rel", "class"},
    "span": {"class"},
    "ol": {"start", "reversed"},
    "li": {"value"},
    "p": {"class"},
}


def reply(**fields) -> dict:
    account = fields.pop("account", {})
    return {
        "visibility": "public",
        "url": "https://elsewhere.example/@alice/1",
        "content": "<p>Nice post!</p>",
        "account": {
            "display_name": "Alice",
            "acct": "alice@elsewhere.example",
            "avatar": "https://elsewhere.example/alice.png",
            "url": "https://elsewhere.example/@alice",
            **account,
        },
        **fields,
    }


def written(**fields) -> dict:
    [one] = public_replies([reply(**fields)])
    return one


HOSTILE_URLS = [
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD4=",
    "vbscript:msgbox",
    "/relative/path",
    "//elsewhere.example/x",
    "",
    None,
    42,
]


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_a_url_that_is_not_http_or_https_becomes_null(url):
    one = written(url=url, uri=url, account={"avatar": url, "url": url})
    assert one["url"] is None
    assert one["account"]["avatar"] is None
    assert one["account"]["url"] is None


@pytest.mark.parametrize(
    "url", ["https://elsewhere.example/@alice/1", "http://elsewhere.example/@alice/1"]
)
def test_an_http_or_https_url_is_kept(url):
    one = written(url=url, account={"avatar": url, "url": url})
    assert one["url"] == one["account"]["avatar"] == one["account"]["url"] == url


@pytest.mark.parametrize(
    ("content", "shown"),
    [
        ("<p>Nice <script>alert(1)</script>post</p>", "<p>Nice post</p>"),
        ('<p><a href="javascript:alert(1)">x</a></p>', "<p><a>x</a></p>"),
        ('<p><a href="data:text/html,x">x</a></p>', "<p><a>x</a></p>"),
        ('<p><a href="/relative">x</a></p>', "<p><a>x</a></p>"),
        ('<p><img src="x" onerror="alert(1)">hi</p>', "<p>hi</p>"),
        ('<p onclick="alert(1)" style="color:red">hi</p>', "<p>hi</p>"),
        ("<iframe src='https://evil.example/'></iframe><p>hi</p>", "<p>hi</p>"),
        ("<style>body{display:none}</style><p>hi</p>", "<p>hi</p>"),
        ('<div class="x"><h1>Big</h1></div>', "Big"),
        (
            '<p lang="fr" class="x">Salut <span class="h-card"><a href="https://m.example/@bob" '
            'class="u-url mention" rel="nofollow noopener" target="_blank">@bob</a></span></p>',
            '<p lang="fr" class="x">Salut <span class="h-card"><a href="https://m.example/@bob" '
            'class="u-url mention" rel="nofollow noopener">@bob</a></span></p>',
        ),
        (
            '<ol start="3" reversed><li value="4">a</li></ol>',
            '<ol start="3" reversed=""><li value="4">a</li></ol>',
        ),
        (
            "<ruby>漢<rp>(</rp><rt>kan</rt><rp>)</rp></ruby>",
            "<ruby>漢<rp>(</rp><rt>kan</rt><rp>)</rp></ruby>",
        ),
    ],
)
def test_content_keeps_only_what_mastodons_strict_sanitizer_allows(content, shown):
    one = written(content=content)
    assert one["content"] == shown


def test_the_text_is_that_of_the_sanitized_content():
    one = written(content="<p>Nice<script>document.write('evil')</script> post</p>")
    assert one["text"] == "Nice post"


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("<b>Alice</b>", "Alice"),
        ("Alice<script>alert(1)</script>", "Alice"),
        ("&lt;img src=x onerror=alert(1)&gt;Bob", "Bob"),
        ("Chloé 🌻", "Chloé 🌻"),
    ],
)
def test_a_display_name_is_plain_text(name, shown):
    assert written(account={"display_name": name})["account"]["display_name"] == shown


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        self.found.extend((tag, name, value) for name, value in attrs)
        self.found.append((tag, "", None))


@given(
    st.lists(
        st.sampled_from(
            [
                "<p>",
                "</p>",
                "<a href='javascript:x'>",
                "<a href='https://ok.example/'>",
                "</a>",
                "<script>",
                "</script>",
                "<img src=x onerror=y>",
                "<svg onload=y>",
                "<span class='c' style='x'>",
                "<!--",
                "-->",
                "<",
                ">",
                '"',
                "'",
                "&lt;",
                "<iframe>",
                "<form action=x>",
                "<p lang=fr onclick=y>",
                "text",
                " ",
            ]
        ),
        max_size=30,
    ).map("".join)
)
def test_no_content_carries_an_element_or_attribute_beyond_the_allow_list(content):
    markup = _Markup()
    markup.feed(written(content=content)["content"])
    for tag, attribute, value in markup.found:
        assert tag in ALLOWED_TAGS
        if attribute:
            assert attribute == "lang" or attribute in ALLOWED_ATTRIBUTES.get(tag, ())
        if attribute == "href":
            assert value.lower().startswith(("http://", "https://"))


# -- leaving the window --------------------------------------------------------------

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
WINDOW = timedelta(days=30)
INTERVAL = timedelta(hours=1)


def toot(age: timedelta, read_after: timedelta | None, status: str = "posted") -> AnnouncedPost:
    """A toot posted `age` ago whose replies were last read `read_after` its posting."""
    posted_at = NOW - age
    return AnnouncedPost(
        feed="blog",
        entry_id="e",
        link="https://blog.example.org/1/",
        title="T",
        status=status,
        toot_id="1",
        toot_url="https://m.example/@b/1",
        account="default",
        instance="https://m.example",
        posted_at=posted_at,
        replies=[{"text": "hi"}] if read_after is not None else None,
        replies_fetched_at=posted_at + read_after if read_after is not None else None,
    )


DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("age", "read_after", "read_now"),
    [
        (10 * DAY, 10 * DAY - 2 * INTERVAL, True),
        (10 * DAY, 10 * DAY - INTERVAL / 6, False),  # read 10 minutes ago
        (10 * DAY, None, True),
        (31 * DAY, 30 * DAY - 2 * INTERVAL, True),  # left the window: read one last time
        (31 * DAY, 30 * DAY + INTERVAL, False),  # its last time was after it left
        (31 * DAY, None, False),  # never read while in the window: not now either
        (38 * DAY, 29 * DAY, False),  # gone from the file already
    ],
)
def test_a_toot_leaving_the_window_is_read_one_last_time(age, read_after, read_now):
    assert (due([toot(age, read_after)], NOW, WINDOW, INTERVAL) != []) is read_now


def test_a_retracted_toot_is_never_read():
    assert due([toot(DAY, None, status="retracted")], NOW, WINDOW, INTERVAL) == []


@pytest.mark.parametrize(
    ("age", "kept"),
    [(DAY, True), (30 * DAY, True), (37 * DAY - INTERVAL, True), (37 * DAY + INTERVAL, False)],
)
def test_replies_leave_the_file_a_week_after_their_toot_left_the_window(age, kept):
    document = replies_document([toot(age, 29 * DAY if age > 29 * DAY else DAY / 2)], NOW, WINDOW)
    assert (document != {}) is kept
