"""crossposter.compose.language: the language code sent with a status."""

from __future__ import annotations

import feedparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossposter.compose.language import (
    MASTODON_LANGUAGES,
    choose_language,
    detect_language,
    normalize_language,
)
from crossposter.compose.toot import compose
from crossposter.config import FeedOptions
from crossposter.feeds.parse import parse_feed

from conftest import corpus_files
from support.feeds import atom, rss


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("fr", "fr"),
        ("fr-FR", "fr"),
        ("fr_FR", "fr"),
        ("FR", "fr"),
        (" fr ", "fr"),
        ("fr-CA", "fr"),
        ("en-us", "en"),
        ("en-GB", "en"),
        ("pt-br", "pt"),
        ("es-AR", "es"),  # a UI locale in Mastodon, not a posting language
        ("de-DE-1996", "de"),
        ("fr_FR.UTF-8", "fr"),
        ("en-US, fr", "en"),
        ("ast", "ast"),
        ("kab", "kab"),
        ("tok", "tok"),
        ("zgh", "zgh"),
        ("zh", "zh"),
        ("zh-TW", "zh-TW"),
        ("zh_tw", "zh-TW"),
        ("zh-cn", "zh-CN"),
        ("zh-HK", "zh-HK"),
        ("zh-Hant", "zh-TW"),
        ("zh-Hans-CN", "zh-CN"),
        ("zh-Hant-HK", "zh-HK"),
        ("zh-SG", "zh"),
        ("yue", "zh-YUE"),
        ("ms-Arab", "ms-Arab"),
        ("ms", "ms"),
        ("iw", "he"),
        ("in-ID", "id"),
        ("fra", None),
        ("eng", None),
        ("und", None),
        ("French", None),
        ("xx-YY", None),
        ("", None),
        ("   ", None),
        ("-", None),
        (None, None),
    ],
)
def test_normalize_language(code: str | None, expected: str | None) -> None:
    assert normalize_language(code) == expected


def test_accepted_codes_mirror_mastodon() -> None:
    # 182 two-letter, 21 three-letter and 5 regional keys in SUPPORTED_LOCALES.
    assert len(MASTODON_LANGUAGES) == 182 + 21 + 5
    assert {"fr", "en", "de", "ast", "zh-TW", "zh-YUE", "ms-Arab"} <= MASTODON_LANGUAGES
    assert all(normalize_language(code) == code for code in MASTODON_LANGUAGES)


@pytest.mark.parametrize(
    ("entry", "feed", "configured", "override", "expected"),
    [
        ("de", "fr-FR", "en", None, "de"),
        (None, "fr-FR", "en", None, "fr"),
        (None, None, "en", None, "en"),
        ("de", "fr-FR", "en", "es", "es"),
        ("xx", "bogus", "fr_FR", None, "fr"),
        ("de", "fr", "en", "not a language", "de"),
        (None, None, None, None, None),
        ("", "", "", "", None),
    ],
)
def test_choose_language(
    entry: str | None,
    feed: str | None,
    configured: str | None,
    override: str | None,
    expected: str | None,
) -> None:
    assert choose_language(entry, feed, configured, override) == expected


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=20)))
def test_normalize_language_gives_an_accepted_code_or_none(code: str | None) -> None:
    result = normalize_language(code)
    assert result is None or result in MASTODON_LANGUAGES
    assert normalize_language(result) == result


def test_corpus_feed_languages() -> None:
    found = {}
    for path in corpus_files():
        language = feedparser.parse(str(path)).feed.get("language")
        if language:
            found[path.name] = normalize_language(language)
    assert found["feed-rs__rss_2.0_spiegel.xml"] == "de"
    assert found["rss-parser__guardian.rss"] == "en"
    assert found["rss-parser__encoding.rss"] == "pt"
    assert found["feed-rs__rss_0.91_missing_id.xml"] == "es"
    assert all(code in MASTODON_LANGUAGES for code in found.values())


# --- where a toot's language comes from, through parse and compose

LINK = "https://blog.example.org/post/"


def toot_language(document: str, options: FeedOptions | None = None, headers=None) -> list:
    parsed = parse_feed(document.encode(), url="https://blog.example.org/feed", headers=headers)
    return [
        compose(item, parsed.info, options or FeedOptions()).language for item in parsed.entries
    ]


def test_an_rss_feed_language_becomes_the_toot_language():
    assert toot_language(rss([{"title": "Bonjour", "link": LINK}], language="fr-FR")) == ["fr"]


def test_an_rss_item_language_wins_over_the_feed_language():
    items = [{"title": "Hallo", "link": LINK, "language": "de"}, {"title": "Salut", "link": LINK}]
    assert toot_language(rss(items, language="fr-FR")) == ["de", "fr"]


def test_an_atom_entry_xml_lang_wins_over_the_feed_xml_lang():
    items = [{"title": "Hallo", "link": LINK, "language": "de-AT"}, {"title": "Hi", "link": LINK}]
    assert toot_language(atom(items)) == ["de", "en"]


def test_the_configured_language_is_used_when_the_feed_declares_none():
    document = rss([{"title": "Bonjour", "link": LINK}], language=None)
    assert toot_language(document) == [None]
    assert toot_language(document, FeedOptions(language="fr")) == ["fr"]


def test_the_configured_language_does_not_override_unless_forced():
    document = rss([{"title": "Hello", "link": LINK}], language="en-us")
    assert toot_language(document, FeedOptions(language="fr")) == ["en"]
    assert toot_language(document, FeedOptions(language="fr", force_language=True)) == ["fr"]


def test_a_server_content_language_header_does_not_override_the_document():
    document = rss([{"title": "Bonjour", "link": LINK}], language="fr-FR")
    assert toot_language(document, headers={"Content-Language": "en"}) == ["fr"]


# --- detection, when nothing declares a language

# heise's developer feed: an Atom feed declaring no language at all.
HEISE = atom(
    [
        {
            "title": "Scrum Day 2016: Bewerbungen für Vorträge und Workshops",
            "link": "https://www.heise.de/developer/meldung/3088151.html",
            "summary": "Über das Programm des zehnten Scrum Day stimmen die Teilnehmer selbst "
            "ab. Doch zuvor sind Scrum-Experten dran, sich bis Ende Februar zu bewerben.",
        }
    ],
    language=None,
)


def _language_of(feed: str, options: FeedOptions | None = None) -> str | None:
    parsed = parse_feed(feed.encode(), url="https://www.heise.de/developer/rss/news-atom.xml")
    return compose(parsed.entries[0], parsed.info, options or FeedOptions()).language


def test_a_german_entry_in_a_feed_declaring_no_language_is_detected_as_german():
    assert _language_of(HEISE) == "de"


def test_detection_can_be_turned_off():
    assert _language_of(HEISE, FeedOptions(detect_language=False)) is None


def test_a_declared_language_always_wins_over_detection():
    assert _language_of(HEISE, FeedOptions(language="fr")) == "fr"
    assert _language_of(HEISE.replace("<entry>", '<entry xml:lang="en">', 1)) == "en"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Warum wir unsere Datenbank auf PostgreSQL umgestellt haben", "de"),
        ("Pourquoi nous avons migré notre base de données vers PostgreSQL", "fr"),
        ("El Gobierno aprueba el nuevo plan de vivienda para jóvenes", "es"),
        ("Como configuramos o nosso servidor de integração contínua", "pt"),
        ("Il governo approva la legge di bilancio dopo un lungo dibattito", "it"),
        ("Send emails without publishing. You can now choose whether to publish a post.", "en"),
        # Too short to judge: three words, or too few letters.
        ("Le chat noir", None),
        ("Release 2.1.0 is out", None),
        ("", None),
        # Long enough, but no language stands out.
        ("Kubernetes Docker Helm Terraform Ansible", None),
    ],
)
def test_detection_answers_only_for_text_long_enough_to_judge(text, expected):
    assert detect_language(text) == expected
