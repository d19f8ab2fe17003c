"""Mastodon's own examples, as a table: what its specs say a server links and counts.

Each row cites where it comes from, in the mastodon/mastodon repository:

* ``validator``: spec/validators/status_length_validator_spec.rb
* ``formatter``: spec/lib/text_formatter_spec.rb (``href="..."`` is the URL entity, the
  one StatusLengthValidator counts as 23)
* ``twitter_regex``: spec/initializers/twitter_regex_spec.rb, added with "Allow @ at the
  end of an URL" (mastodon/mastodon#31124, in v4.3.0): config/initializers/twitter_regex.rb
  dropped ``@`` from ``valid_url_path_ending_chars``
* ``account``: app/models/account.rb ``MENTION_RE``; v4.2.x has
  ``@((USERNAME_RE)(?:@[[:word:].-]+[[:word:]]+)?)`` with
  ``USERNAME_RE = /[a-z0-9_]+([a-z0-9_.-]+[a-z0-9_]+)?/i``; v4.3.x has
  ``@((USERNAME_RE)(?:@[[:word:]]+([.-]+[[:word:]]+)*)?)`` with
  ``USERNAME_RE = /[a-z0-9_]+([.-]+[a-z0-9_]+)*/i``
* ``differential``: cases a differential test against Mastodon's validator found
  (the "untrusted feeds" issue).

A server whose version is unknown is counted with the larger of the 4.2 and 4.3 counts.
"""

from __future__ import annotations

import pytest

from crossposter.compose.length import find_mentions, find_urls, mastodon_length
from crossposter.compose.toot import compose
from crossposter.config import FeedOptions
from crossposter.models import Entry, FeedInfo, InstanceLimits

V42 = "4.2.10"
V43 = "4.3.0"
UNKNOWN = None

MEDIUM = "https://hackernoon.com/the-power-to-build-communities-a-response-to-mark-"
MEDIUM += "zuckerberg-3f2cac9148a4"
MCMANSION = "http://www.mcmansionhell.com/post/156408871451/"
MCMANSION += "50-states-of-mcmansion-hell-scottsdale-arizona"

# (text, URLs Mastodon links, source)
LINKED = [
    (
        MEDIUM,
        [MEDIUM],
        "formatter: a stand-alone medium URL",
    ),
    ("http://google.com", ["http://google.com"], "formatter: a stand-alone google URL"),
    ("http://example.gay", ["http://example.gay"], "formatter: a URL with a newer TLD"),
    ("https://nic.みんな/", ["https://nic.みんな/"], "formatter: a stand-alone IDN URL"),
    (
        MCMANSION + ". ",
        [MCMANSION],
        "formatter: a URL with a trailing period",
    ),
    ("(http://google.com/)", ["http://google.com/"], "formatter: a URL enclosed with parentheses"),
    (
        "http://www.google.com!",
        ["http://www.google.com"],
        "formatter: a trailing exclamation point",
    ),
    ("http://www.google.com'", ["http://www.google.com"], "formatter: a trailing single quote"),
    ("http://www.google.com>", ["http://www.google.com"], "formatter: a trailing angle bracket"),
    (
        "https://www.ruby-toolbox.com/search?utf8=%E2%9C%93&q=autolink",
        ["https://www.ruby-toolbox.com/search?utf8=%E2%9C%93&q=autolink"],
        "formatter: a query string with an escaped unicode character",
    ),
    (
        "https://www.ruby-toolbox.com/search?utf8=✓&q=autolink",
        ["https://www.ruby-toolbox.com/search?utf8=✓&q=autolink"],
        "formatter: a query string with a unicode character",
    ),
    (
        "https://www.ruby-toolbox.com/search?utf8=✓",
        ["https://www.ruby-toolbox.com/search?utf8=✓"],
        "formatter: a query string with a unicode character at the end",
    ),
    (
        "https://www.ruby-toolbox.com/search?utf8=%E2%9C%93&utf81=✓&q=autolink",
        ["https://www.ruby-toolbox.com/search?utf8=%E2%9C%93&utf81=✓&q=autolink"],
        "formatter: escaped and not escaped unicode characters",
    ),
    (
        "https://en.wikipedia.org/wiki/Diaspora_(software)",
        ["https://en.wikipedia.org/wiki/Diaspora_(software)"],
        "formatter: parentheses in a URL",
    ),
    ('"https://example.com/"', ["https://example.com/"], "formatter: a URL in quotation marks"),
    ("<https://example.com/>", ["https://example.com/"], "formatter: a URL in angle brackets"),
    (
        "https://ja.wikipedia.org/wiki/日本",
        ["https://ja.wikipedia.org/wiki/日本"],
        "formatter: a Japanese path",
    ),
    (
        "https://ko.wikipedia.org/wiki/대한민국",
        ["https://ko.wikipedia.org/wiki/대한민국"],
        "formatter: a Korean path",
    ),
    ("https://example.com/\u3000abc123", ["https://example.com/"], "formatter: a full-width space"),
    (
        "「[https://example.org/」",
        ["https://example.org/"],
        "formatter: a URL in Japanese quotation marks",
    ),
    (
        "https://baike.baidu.com/item/中华人民共和国",
        ["https://baike.baidu.com/item/中华人民共和国"],
        "formatter: a Simplified Chinese path",
    ),
    (
        "https://zh.wikipedia.org/wiki/臺灣",
        ["https://zh.wikipedia.org/wiki/臺灣"],
        "formatter: a Traditional Chinese path",
    ),
    (
        "http://example.com/b<del>b</del>",
        ["http://example.com/b"],
        "formatter: unsafe code, visible part",
    ),
    (
        'http://example.com/blahblahblahblah/a<script>alert("Hello")</script>',
        ["http://example.com/blahblahblahblah/a"],
        "formatter: unsafe code, invisible part",
    ),
    # The formatter shows this one raw only because Addressable cannot parse it; the
    # extractor, which is what StatusLengthValidator counts with, still takes it.
    ("http://www\\.google\\.com", ["http://www\\.google\\.com"], "formatter: an invalid URL"),
    ("xmpp:user@instance.com", [], "formatter: xmpp: URIs are linked but count literally"),
    (
        "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a",
        [],
        "formatter: magnet: URIs are linked but count literally",
    ),
    (
        "special characters: https://gta.fandom.com/wiki/TW @admin",
        ["https://gta.fandom.com/wiki/TW"],
        "twitter_regex: matches URLs followed by @mention",
    ),
]


@pytest.mark.parametrize("version", [V42, V43, UNKNOWN])
@pytest.mark.parametrize(("text", "urls", "source"), LINKED, ids=[row[2] for row in LINKED])
def test_mastodon_links_what_its_specs_link(text, urls, source, version):
    assert [text[s:e] for s, e in find_urls(text, version=version)] == urls


# (text, version, length, source)
COUNTS = [
    ("a" * 520, V43, 520, "validator: text over 500 characters"),
    (
        ("a" * 476) + " http://" + "b" * 30 + ".com/example",
        V43,
        500,
        "validator: counts URLs as 23 characters flat",
    ),
    (
        ("a" * 476) + " http://" + "b" * 30 + ".com/example",
        V42,
        500,
        "validator: counts URLs as 23 characters flat",
    ),
    (
        ("a" * 475) + " @alice@" + "b" * 30 + ".com",
        V43,
        482,
        "validator: counts only the front part of remote usernames",
    ),
    (
        ("a" * 475) + " @alice@" + "b" * 30 + ".com",
        V42,
        482,
        "validator: counts only the front part of remote usernames",
    ),
    # twitter_regex: matches URLs containing @ symbol (v4.3.0); v4.2 leaves the "@" out.
    (
        "special characters: https://gta.fandom.com/wiki/TW@ Content",
        V43,
        20 + 23 + 8,
        "twitter_regex: matches URLs containing @ symbol",
    ),
    (
        "special characters: https://gta.fandom.com/wiki/TW@ Content",
        V42,
        20 + 23 + 1 + 8,
        "twitter_regex: before v4.3 the @ is not part of the URL",
    ),
    (
        "special characters: https://gta.fandom.com/wiki/TW @admin",
        V43,
        20 + 23 + 7,
        "twitter_regex: matches URLs followed by @mention",
    ),
    # The differential test's three findings.
    ("http://e.co/@", V43, 23, "differential: an @ that ends a URL path, v4.3"),
    ("http://e.co/@", V42, 24, "differential: an @ that ends a URL path, v4.2"),
    ("http://e.co/@", UNKNOWN, 24, "differential: unknown version takes the larger count"),
    (
        "a.de/@?https://example.com/a-long-path-name",
        V43,
        43,
        "differential: a scheme-less prefix swallows the link that follows, v4.3",
    ),
    (
        "a.de/@?https://example.com/a-long-path-name",
        V42,
        30,
        "differential: a scheme-less prefix ends before the @, v4.2",
    ),
    (
        "a.de/@?https://example.com/a-long-path-name",
        UNKNOWN,
        43,
        "differential: unknown version takes the larger count",
    ),
    ("https://yle.\ufb01", V43, 23, "differential: TLD fi written with the fi ligature"),
    ("https://yle.\ufb01", V42, 23, "differential: TLD fi written with the fi ligature"),
    ("https://yle.\ufb01", UNKNOWN, 23, "differential: TLD fi written with the fi ligature"),
    ("http://a.\u00df", UNKNOWN, 23, "differential: TLD ss written as sharp s"),
    ("see http://a.\u00df/x!", V42, 4 + 23 + 1, "differential: TLD ss written as sharp s"),
    ("http://yle.\ufb01le", UNKNOWN, 14, "differential: a folded TLD must still end the domain"),
    # account: each version's own mention rule, not the other's.
    ("@user@x", V43, 5, "account: v4.3 takes a one-character domain"),
    ("@user@x", V42, 7, "account: v4.2 needs two characters after the @, so no mention"),
    ("@user@x", UNKNOWN, 7, "account: unknown version takes the larger count"),
    ("@user@.example", V42, 5, "account: v4.2 lets a domain start with a dot"),
    ("@user@.example", V43, 14, "account: v4.3 does not, and an @ after the name voids it"),
    ("@user@.example", UNKNOWN, 14, "account: unknown version takes the larger count"),
    ("@user@a..b", V42, 5, "account: v4.2 domain [[:word:].-]+[[:word:]]+"),
    ("@user@a..b", V43, 5, "account: v4.3 domain [[:word:]]+([.-]+[[:word:]]+)*"),
]


@pytest.mark.parametrize(
    ("text", "version", "expected", "source"), COUNTS, ids=[f"{r[3]} [{r[1]}]" for r in COUNTS]
)
def test_mastodon_counts_what_its_specs_count(text, version, expected, source):
    assert mastodon_length(text, version=version) == expected


@pytest.mark.parametrize(
    ("version", "expected"), [("4.3.1", 23 + 2), ("4.2.9", 24 + 2), (None, 24 + 2)]
)
def test_compose_counts_by_the_version_in_the_instance_limits(version, expected):
    toot = compose(
        Entry(id="1", link="http://e.co/@", title="T"),
        FeedInfo(),
        FeedOptions(template="{title} {url}"),
        InstanceLimits(version=version),
    )
    assert toot.length == expected


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("4.3.0", 23),
        ("4.3.0+glitch", 23),
        ("4.4.0-beta.2", 23),
        ("4.2.9", 24),
        ("4.1.0", 24),
        ("2.7.2 (compatible; Pleroma 2.5.0)", 24),  # not Mastodon: its version says nothing
        ("garbage", 24),
        ("", 24),
    ],
)
def test_the_reported_version_chooses_the_rules(version, expected):
    assert mastodon_length("http://e.co/@", version=version) == expected


def test_mentions_follow_the_same_version_as_urls():
    assert find_mentions("@user@x", version=V43) == [(0, 7)]
    assert find_mentions("@user@x", version=V42) == []
