"""Tests for crossposter.compose.length: Mastodon's status length, as the server counts it.

The expected values follow Mastodon's app/validators/status_length_validator.rb,
app/lib/extractor.rb, config/initializers/twitter_regex.rb and twitter-text
3.1.0's regex.rb/extractor.rb (see the module docstring of crossposter.compose.length).
"""

from __future__ import annotations

import itertools

import pytest
import regex
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from crossposter.compose import length
from crossposter.compose.length import (
    find_mentions,
    find_urls,
    grapheme_count,
    mastodon_length,
)
from crossposter.compose.tlds import COUNTRY_TLDS, GENERIC_TLDS
from crossposter.compose.toot import ELLIPSIS, shorten

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 👨‍👩‍👧‍👦
FLAG_FR = "\U0001f1eb\U0001f1f7"  # 🇫🇷
E_ACUTE_DECOMPOSED = "e\u0301"
LONG_URL = "https://blog.example.org/" + "a" * 175  # 200 characters


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("hello", 5),
        (FAMILY, 1),
        (FLAG_FR, 1),
        (FLAG_FR + FLAG_FR, 2),
        ("\U0001f44d\U0001f3fd", 1),  # thumbs up + skin tone modifier
        (E_ACUTE_DECOMPOSED, 1),
        ("Ame\u0301lie", 6),
        ("日本語のテキスト", 8),  # CJK: one cluster per character
        ("שלום עולם", 9),  # Hebrew (RTL)
        ("مرحبا", 5),  # Arabic (RTL)
        ("\r\n", 1),
        # Ruby <= 3.4 (Unicode 15.0) has no GB9c: a Devanagari conjunct is two
        # clusters there, one in regex's newer Unicode. We count as the server.
        ("क्ष", 2),
        ("नमस्ते", 4),
    ],
)
def test_grapheme_count(text: str, expected: int) -> None:
    assert grapheme_count(text) == expected


@pytest.mark.parametrize(
    ("text", "spoiler", "expected"),
    [
        # Plain text, stripping.
        ("Hello, world", "", 12),
        ("  Hello \n\t", "", 5),
        ("Hello", "  CW ", 7),
        ("\u00a0Hello", "", 6),  # Ruby's strip leaves NBSP alone
        ("\u3000", "cw", 2),  # only whitespace: "blank?", counts 0
        ("Hi", "Content warning: food", 23),
        # The validator counts spoiler + text joined: a mark at the start of
        # the text joins the spoiler's last letter.
        ("\u0301x", "e", 2),
        # URLs with a scheme and a known TLD count 23, whatever their length.
        ("https://example.com", "", 23),
        ("https://t.co", "", 23),
        (LONG_URL, "", 23),
        (f"New post: {LONG_URL}", "", 10 + 23),
        ("HTTPS://EXAMPLE.COM/Path", "", 23),
        ("gemini://example.org/x and gopher://example.org", "", 23 + 5 + 23),
        ("https://bücher.de/x", "", 23),
        ("https://example.한국/x", "", 23),
        ("https://example.xn--3e0b707e", "", 23),
        ("https://mastodon.social/@alice", "", 23),
        ("https://example.com:8443/x", "", 23),
        # Trailing punctuation is not part of the URL.
        ("https://exemple.fr/été?x=1.", "", 24),
        ("Read https://example.com/a, then https://example.com/b!", "", 5 + 24 + 6 + 24),
        ("(https://en.wikipedia.org/wiki/Primer_(film))", "", 25),
        ("https://t.co/abc123?x=1", "", 23 + 4),  # twitter-text cuts t.co URLs
        # Not URLs for Mastodon: literal length.
        ("example.com/x", "", 13),
        ("www.example.com", "", 15),
        ("http://localhost:3000/posts/1", "", 29),
        ("http://127.0.0.1/x", "", 18),
        ("http://[::1]/x", "", 14),
        ("https://example.zzz", "", 19),
        ("https://example.com1", "", 20),
        ("ftp://example.com/f", "", 19),
        ("xmpp:alice@example.com", "", 22),
        ("xhttps://example.com", "", 20),
        ("http://" + "a" * 70 + ".com", "", 81),  # label over 63: IDNA refuses it
        ("https://\U0001f44d.ws", "", 12),  # libidn refuses code points unassigned in 3.2
        ("https://\u1e9ea.de", "", 13),  # U+1E9E is newer than Unicode 3.2: refused
        ("https://example.com/" + "a" * 4100, "", 4120),  # over MAX_URL_LENGTH
        ("https://example.com/" + "a" * 4076, "", 23),  # exactly 4096
        # Mentions count as @user.
        ("@alice@mastodon.social", "", 6),
        ("@bob", "", 4),
        ("Thanks @alice@mastodon.social!", "", 7 + 6 + 1),
        ("cc @Alice.Smith@example.co.uk.", "", 3 + 12 + 1),
        ("x@bob@example.com", "", 17),  # preceded by a word character
        ("@alice@mastodon.social@", "", 23),  # followed by "@": not a mention
        # Hashtags and shortcodes count literally.
        ("#DéveloppementWeb :blobcat:", "", 27),
    ],
)
def test_mastodon_length(text: str, spoiler: str, expected: int) -> None:
    assert mastodon_length(text, spoiler) == expected


@pytest.mark.parametrize("punct", list(".,!?:;"))
def test_trailing_punctuation_is_excluded(punct: str) -> None:
    assert mastodon_length(f"https://example.com/post{punct}") == 24
    assert find_urls(f"see https://example.com/post{punct}") == [(4, 28)]


def test_url_cost_is_configurable() -> None:
    text = "New: https://example.com/a-rather-long-path-to-a-post"
    assert mastodon_length(text, url_cost=23) == 5 + 23
    assert mastodon_length(text, url_cost=25) == 5 + 25


def test_url_cost_zero_counts_everything_literally() -> None:
    # Pleroma/Akkoma report characters_reserved_per_url = 0 and count the text
    # as written, so neither URLs nor mentions are shortened.
    text = "Hi @alice@example.social https://example.com/x"
    assert mastodon_length(text, url_cost=0) == len(text)
    assert mastodon_length("  https://example.com  ", "cw", url_cost=0) == 2 + 19


def test_negative_url_cost_is_refused() -> None:
    with pytest.raises(ValueError):
        mastodon_length("x", url_cost=-1)


def test_find_urls_and_mentions_spans() -> None:
    text = "Hi @alice@mastodon.social, see https://example.com/a. And @bob"
    assert [text[s:e] for s, e in find_urls(text)] == ["https://example.com/a"]
    assert [text[s:e] for s, e in find_mentions(text)] == ["@alice@mastodon.social", "@bob"]
    # A mention inside a URL is part of the URL.
    assert find_mentions("https://example.com/~x@y.com/") == []
    assert find_urls("no links here") == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com", True),
        ("https://example.com/2024/05/post-title/", True),
        ("https://exemple.fr/été?x=1", True),
        ("http://example.org/a_(b)", True),
        ("https://exemple.fr/été?x=1.", False),
        ("http://localhost/x", False),
        ("http://localhost:8080/x", False),
        ("http://127.0.0.1/x", False),
        ("example.com/x", False),
        ("https://example.invalid/x", False),
        ("https://t.co/abc?x=1", False),
        (" https://example.com", False),
    ],
)
def test_a_url_alone_is_one_link_from_end_to_end_or_not(url: str, expected: bool) -> None:
    # One link from end to end counts as url_cost and is linked whole.
    assert (find_urls(url) == [(0, len(url))]) is expected


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("hello", 10, "hello"),
        ("hello", 3, "he…"),
        ("hello", 0, ""),
        ("hello", -1, ""),
        (FAMILY + FAMILY + "x", 2, FAMILY + "…"),
        (FLAG_FR * 3, 3, FLAG_FR * 3),
        (FLAG_FR * 3, 2, FLAG_FR + "…"),
        ("Ame\u0301lie", 4, "Ame\u0301…"),
        ("क्षa", 2, ""),  # the conjunct costs 2 on the server; never split it
        ("क्षa", 3, "क्षa"),
    ],
)
def test_shorten_counts_and_cuts_whole_grapheme_clusters(
    text: str, limit: int, expected: str
) -> None:
    assert shorten(text, limit) == expected


def test_tld_list() -> None:
    assert len(GENERIC_TLDS) == 1259
    assert len(COUNTRY_TLDS) == 315
    tlds = set(GENERIC_TLDS + COUNTRY_TLDS)
    assert {"com", "org", "social", "fr", "uk", "한국", "onion"} <= tlds
    assert "zzz" not in tlds and "localhost" not in tlds


# --- Property tests --------------------------------------------------------------

FRAGMENTS = [
    "https://",
    "http://",
    "gemini://",
    "example.com",
    "exemple.fr",
    "t.co/",
    "localhost",
    "127.0.0.1",
    ".",
    ",",
    "!",
    ":",
    "/",
    "?",
    "=",
    "(",
    ")",
    "@",
    "@alice",
    "@bob@example.social",
    "#tag",
    " ",
    "\n",
    "\u3000",
    "x",
    "é",
    "\u0301",
    "क",
    "्",
    "\U0001f44d",
    "\U0001f3fd",
    "\u200d",
    FLAG_FR,
    "\u0600",
    "한국",
]
texts = st.one_of(st.text(), st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join))

DISCOUNTED_URLS = st.one_of(
    st.sampled_from(
        [
            "https://example.com",
            LONG_URL,
            "https://exemple.fr/été?x=1",
            "https://en.wikipedia.org/wiki/Primer_(film)",
            "gemini://example.org/",
            "https://example.한국/x",
        ]
    ),
    st.builds(
        "https://{}.{}/{}".format,
        st.from_regex(r"[a-z0-9]{1,20}", fullmatch=True),
        st.sampled_from(["com", "org", "social", "fr", "blog", "한국"]),
        st.from_regex(r"[A-Za-z0-9_-]{0,30}", fullmatch=True),
    ),
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(texts, texts, st.sampled_from([0, 23, 25]))
def test_never_raises_and_is_non_negative(text: str, spoiler: str, url_cost: int) -> None:
    n = mastodon_length(text, spoiler, url_cost)
    assert isinstance(n, int) and n >= 0
    assert grapheme_count(text) >= 0
    for spans in (find_urls(text), find_mentions(text)):
        for start, end in spans:
            assert 0 <= start < end <= len(text)
    # Entities never overlap.
    spans = sorted(find_urls(text) + find_mentions(text))
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


@FAST
@given(texts, DISCOUNTED_URLS, st.sampled_from([23, 25]))
def test_appending_a_url_costs_url_cost_plus_one(text: str, url: str, url_cost: int) -> None:
    assert find_urls(url) == [(0, len(url))]
    base = "a" + text.rstrip(length._RUBY_STRIP_CHARS)
    # A Prepend character would take the separating space into its cluster.
    assume(not regex.match(r"\p{GCB=Prepend}", base[-1]))
    before = mastodon_length(base, url_cost=url_cost)
    assert mastodon_length(f"{base} {url}", url_cost=url_cost) == before + url_cost + 1
    assert mastodon_length(f"{base} {url}", url_cost=0) == (
        mastodon_length(base, url_cost=0) + 1 + grapheme_count(url)
    )


@FAST
@given(texts, st.integers(min_value=0, max_value=40))
# U+0600 is a Prepend mark: it belongs to the cluster of the character after it.
@example(text="000000\u0600 0", limit=7)
def test_shorten_respects_the_bound_and_never_breaks_a_cluster(text: str, limit: int) -> None:
    cut = shorten(text, limit)
    assert grapheme_count(cut) <= limit
    if cut == text:
        return
    head = cut.removesuffix(ELLIPSIS).rstrip(" ")
    assert text.startswith(head)
    clusters = regex.findall(r"\X", text)
    kept = regex.findall(r"\X", head)
    assert kept == clusters[: len(kept)]  # never a broken cluster


@FAST
@given(
    st.lists(st.text(alphabet="abké", min_size=0, max_size=4), min_size=1, max_size=12),
    st.text(alphabet="abké.K", max_size=6),
)
def test_factored_alternation_matches_like_the_plain_one(words: list[str], probe: str) -> None:
    plain = regex.compile("(?:" + "|".join(regex.escape(w) for w in words) + ")", regex.I)
    factored = regex.compile(length._ordered_alternation(words), regex.I)
    m1, m2 = plain.match(probe), factored.match(probe)
    assert (m1 and m1.group()) == (m2 and m2.group())


PLAIN_URL_WORDS = st.builds(
    "{}://{}{}{}{}".format,
    st.sampled_from(["https", "http", "HTTPS", "ftp", "gemini"]),
    st.from_regex(r"(?:(?:[a-zA-Z0-9_-]{1,8}|com|fr|xn--p1ai)\.){0,3}", fullmatch=True),
    st.one_of(
        st.sampled_from(["com", "ORG", "fr", "co", "xn--p1ai", "localhost", "ex-ample", "a-"]),
        st.from_regex(r"[a-z0-9-]{1,6}", fullmatch=True),
    ),
    st.sampled_from(["", ":8080", ".", ":", "?q=1", "/"]),
    st.text(alphabet="/aZ09-_.,!?:;@#()[]<>~&|$%'\"*=+é「", max_size=14),
)


@FAST
@given(PLAIN_URL_WORDS, st.sampled_from(["", "Voir ", "(", "\n"]), st.sampled_from(["", " fin"]))
@example(word="https://blog.example.org/a/b.", before="", after="")
@example(word="https://t.co/abc", before="", after="")
@example(word="http://a.b.com/@", before="Voir ", after="")
@example(word="https://blog1.example/posts/2", before="", after="")
@example(word="https://blog1.example/to/https://a.com", before="", after="")
def test_a_plain_url_is_found_where_the_expression_finds_it(word, before, after):
    """The shortcut for a word that is one plain URL agrees with the whole expression,
    for both releases' rules, wherever it answers."""
    text = before + word + after
    start = len(before)
    for rules in (length._RULES_4_2, length._RULES_4_3):
        shortcut = length._plain_url(text, start, start + len(word), rules)
        if shortcut is None:
            continue
        expected = [
            (*m.span("url"), m.group("domain"))
            for m in rules.url.finditer(text, max(start - 1, 0), start + len(word))
            if m.group("protocol") is not None
        ]
        assert list(shortcut) == expected


@FAST
@given(st.text(alphabet=st.characters(max_codepoint=0x2FF), max_size=30))
@example(text="a\r\nb\n\rc")
def test_clusters_below_the_combining_marks_are_counted_without_the_expression(text):
    assert grapheme_count(text) == len(regex.findall(r"\X", text, flags=regex.DOTALL))
