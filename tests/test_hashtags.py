"""crossposter.compose.hashtags: categories to Mastodon hashtags."""

from __future__ import annotations

import feedparser
import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from crossposter.compose.hashtags import (
    DEFAULT_SKIPPED_CATEGORIES,
    find_hashtags,
    hashtags_for,
    normalize_tag,
    to_hashtag,
)

from conftest import corpus_files

# Mastodon's app/models/tag.rb, written out independently of the module under test:
#   HASHTAG_SEPARATORS = "_\u00B7\u30FB\u200c"
#   HASHTAG_FIRST_SEQUENCE_CHUNK_ONE = "[[:word:]_][[:word:]#{SEP}]*[[:alpha:]#{SEP}]"
#   HASHTAG_FIRST_SEQUENCE_CHUNK_TWO = "[[:word:]#{SEP}]*[[:word:]_]"
#   HASHTAG_LAST_SEQUENCE = '([[:word:]_]*[[:alpha:]][[:word:]_]*)'
#   HASHTAG_NAME_RE = /\A(#{HASHTAG_NAME_PAT})\z/i
SEP = "_\u00b7\u30fb\u200c"
FIRST = f"[[:word:]_][[:word:]{SEP}]*[[:alpha:]{SEP}][[:word:]{SEP}]*[[:word:]_]"
LAST = "[[:word:]_]*[[:alpha:]][[:word:]_]*"
HASHTAG_NAME_RE = regex.compile(rf"(?:{FIRST})|(?:{LAST})", regex.IGNORECASE)


def is_valid_tag(name: str) -> bool:
    # Python's [[:word:]] also takes ZWJ; Onigmo's does not.
    return "\u200d" not in name and HASHTAG_NAME_RE.fullmatch(name) is not None


MAPPING = {"C++": "Cpp", "c#": "CSharp", "Divers": ""}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Python", "Python"),
        ("linux", "linux"),
        ("WordPress", "WordPress"),
        ("iPhone", "iPhone"),
        ("Développement Web", "DéveloppementWeb"),
        ("open source", "OpenSource"),
        ("raspberry-pi", "RaspberryPi"),
        ("my iPhone", "MyIPhone"),
        ("Vie  quotidienne ", "VieQuotidienne"),
        ("e\u0301te\u0301", "été"),  # NFC
        ("Aujourd'hui", "Aujourdhui"),
        ("Rock’n’roll", "Rocknroll"),
        ("angie\\'s list", "AngiesList"),  # TechCrunch (corpus)
        ("C++", "Cpp"),
        ("c++", "Cpp"),
        ("C#", "CSharp"),
        ("Divers", None),  # mapped to nothing
        ("C", "C"),
        ("F#", "F"),
        ("Node.js", "NodeJs"),
        ("#hashtag", "hashtag"),
        ("Web 2.0", "Web20"),
        ("2024", None),
        ("!!!", None),
        ("", None),
        ("   ", None),
        ("_", None),
        ("Auteur·ices", "Auteur·ices"),
        ("·début·", "début"),
        ("日本 語", "日本語"),
        ("Минск", "Минск"),
        ("Straße", "Straße"),
        ("Minor World Earthquakes Magnitude -3.9", "MinorWorldEarthquakesMagnitude39"),
        ("snake_case", "snake_case"),
    ],
)
def test_to_hashtag(name: str, expected: str | None) -> None:
    tag = to_hashtag(name, MAPPING)
    assert tag == expected
    if tag is not None:
        assert is_valid_tag(tag)


def test_mapping_values_are_cleaned_too() -> None:
    assert to_hashtag("cs", {"CS": "C Sharp"}) == "CSharp"
    assert to_hashtag("C++") == "C"


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("#DéveloppementWeb", "developpementweb"),
        ("developpementweb", "developpementweb"),
        ("ŒUVRE", "oeuvre"),
        ("Straße", "strasse"),
        ("Ｆｕｌｌｗｉｄｔｈ", "fullwidth"),
        ("Non classé", "nonclasse"),
        ("Минск", "минск"),
    ],
)
def test_normalize_tag(tag: str, expected: str) -> None:
    assert normalize_tag(tag) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#one #Two", ["one", "Two"]),
        ("(#tag x#tag", []),
        ("#2024 #C++ #été", ["C", "été"]),
        ("line\n#tag", ["tag"]),
        ("＃fullwidth", ["fullwidth"]),
        ("#écriture·inclusive", ["écriture·inclusive"]),
    ],
)
def test_find_hashtags(text: str, expected: list[str]) -> None:
    assert find_hashtags(text) == expected


@pytest.mark.parametrize(
    "name",
    [
        "Uncategorized",
        "uncategorised",
        "Non classé",
        "non classe",
        "NON-CLASSÉ",
        "Sin categoría",
        "Allgemein",
        "Senza categoria",
        "Sem categoria",
        "Geen categorie",
        "Без рубрики",
        "Bez kategorii",
        "未分类",
        "未分類",
        "Okategoriserade",
    ],
)
def test_default_categories_are_skipped(name: str) -> None:
    assert hashtags_for([name, "Python"]) == ([], ["Python"])


def test_default_skip_list_contains_the_usual_names() -> None:
    assert {"Uncategorized", "Non classé", "Allgemein", "未分类"} <= DEFAULT_SKIPPED_CATEGORIES


def test_hashtags_for_orders_dedupes_and_caps() -> None:
    fixed, categories = hashtags_for(
        [
            "Python",
            "python",
            "PYTHON",
            "Développement Web",
            "developpement-web",
            "Blog",
            "a",
            "b",
            "c",
            "d",
            "e",
        ],
        fixed=["#Blog", "MonBlog"],
        limit=3,
    )
    assert fixed == ["Blog", "MonBlog"]
    assert categories == ["Python", "DéveloppementWeb", "a"]


def test_hashtags_for_skips_tags_already_in_text() -> None:
    text = "{title}\n#DeveloppementWeb and #LINUX, not x#Python nor (#Rust"
    fixed, categories = hashtags_for(
        ["Développement Web", "Linux", "Python", "Rust"],
        fixed=["linux", "Mastodon"],
        already_in_text=text,
    )
    assert fixed == ["Mastodon"]
    assert categories == ["Python", "Rust"]


def test_hashtags_for_options() -> None:
    assert hashtags_for(["C++", "Uncategorized"], mapping=MAPPING, skip=()) == (
        [],
        ["Cpp", "Uncategorized"],
    )
    assert hashtags_for(["Divers", "2024", "!!!"], mapping=MAPPING) == ([], [])
    assert hashtags_for(["a", "b"], limit=0) == ([], [])
    assert hashtags_for(["a", "b"], fixed=["x"], limit=None) == (["x"], ["a", "b"])
    assert hashtags_for([], fixed=["2024", "Blog"]) == (["Blog"], [])
    # The skip list also applies to the name a mapping gives.
    assert hashtags_for(["Misc"], mapping={"misc": "Uncategorized"}) == ([], [])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_to_hashtag_is_none_or_valid(name: str) -> None:
    tag = to_hashtag(name)
    if tag is not None:
        assert is_valid_tag(tag), tag
        # Mastodon finds the whole tag again in a status.
        assert find_hashtags(f"Post #{tag} end") == [tag]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(max_size=20), max_size=8),
    st.lists(st.text(max_size=20), max_size=3),
    st.integers(0, 6),
    st.text(max_size=60),
)
def test_hashtags_for_properties(
    categories: list[str], fixed: list[str], limit: int, text: str
) -> None:
    fixed_tags, category_tags = hashtags_for(
        categories, fixed=fixed, limit=limit, already_in_text=text
    )
    assert len(category_tags) <= limit
    keys = [normalize_tag(tag) for tag in fixed_tags + category_tags]
    assert len(keys) == len(set(keys))
    present = {normalize_tag(name) for name in find_hashtags(text)}
    assert not present & set(keys)
    assert all(is_valid_tag(tag) for tag in fixed_tags + category_tags)


def test_corpus_categories_give_valid_tags() -> None:
    seen = 0
    for path in corpus_files():
        for entry in feedparser.parse(str(path)).entries:
            names = [tag.get("term") or "" for tag in entry.get("tags", [])]
            seen += len(names)
            fixed, categories = hashtags_for(names, limit=10)
            assert fixed == []
            assert all(is_valid_tag(tag) for tag in categories), names
            if "Uncategorized" in names:
                assert "Uncategorized" not in categories
    assert seen > 50
