"""Hashtags from blog categories, valid and matched the way Mastodon does it.

Pure functions only. The rules come from Mastodon's `app/models/tag.rb`
(`Tag::HASHTAG_RE`, `HASHTAG_NAME_RE`) and `app/lib/hashtag_normalizer.rb`:

    HASHTAG_SEPARATORS = "_\\u00B7\\u30FB\\u200c"
    HASHTAG_FIRST_SEQUENCE = [[:word:]_][[:word:]SEP]*[[:alpha:]SEP][[:word:]SEP]*[[:word:]_]
    HASHTAG_LAST_SEQUENCE  = [[:word:]_]*[[:alpha:]][[:word:]_]*
    HASHTAG_RE = (?<=^|[[:space:]])[#＃](FIRST|LAST)

Onigmo's Unicode [[:word:]] is Letter | Mark | Decimal_Number | Connector_Punctuation,
and [[:alpha:]] is the Alphabetic property.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable, Mapping

import regex

from crossposter.names import DEFAULT_SKIPPED_CATEGORIES, category_key

__all__ = [
    "DEFAULT_SKIPPED_CATEGORIES",
    "HASHTAG_RE",
    "MAX_CATEGORY_TAG_LENGTH",
    "find_hashtags",
    "hashtags_for",
    "normalize_tag",
    "to_hashtag",
]

_WORD = r"\p{L}\p{M}\p{Nd}\p{Pc}"
_SEPARATORS = "_\u00b7\u30fb\u200c"
_NAME_PAT = (
    rf"(?:[{_WORD}_][{_WORD}{_SEPARATORS}]*[\p{{Alphabetic}}{_SEPARATORS}]"
    rf"[{_WORD}{_SEPARATORS}]*[{_WORD}_])"
    rf"|(?:[{_WORD}_]*\p{{Alphabetic}}[{_WORD}_]*)"
)
# A hashtag in a status, as Mastodon's Tag::HASHTAG_RE finds it; group 1 is the name.
HASHTAG_RE = regex.compile(rf"(?:(?<=^)|(?<=\s))[#＃]({_NAME_PAT})", regex.MULTILINE)
_NAME_FULL = regex.compile(rf"(?:{_NAME_PAT})", regex.IGNORECASE)

# Characters a hashtag name may keep; the separators only between word characters.
_NOT_KEPT = regex.compile(rf"[^{_WORD}{_SEPARATORS}]+")
_APOSTROPHES = regex.compile(r"\\?['’ʼ‘`´]")
_HAS_LETTER = regex.compile(rf"[\p{{Alphabetic}}&&[{_WORD}]]", regex.VERSION1)
_EDGE_SEPARATORS = "\u00b7\u30fb\u200c"

# What Lucene's ASCIIFoldingFilter (used by Mastodon's HashtagNormalizer) turns
# into plain letters without a combining mark to drop.
_FOLD = str.maketrans(
    {
        "æ": "ae",
        "œ": "oe",
        "ø": "o",
        "đ": "d",
        "ð": "d",
        "ł": "l",
        "þ": "th",
        "ı": "i",
        "ŋ": "n",
        "ħ": "h",
        "ŧ": "t",
        "ĸ": "q",
        "ſ": "s",
    }
)
_INVALID_IN_NORMALIZED = regex.compile(r"[^\p{Alphabetic}\p{Nd}\u0e47-\u0e4e_\u00b7\u30fb\u200c]")


def _is_latin_base(char: str) -> bool:
    if not char:
        return False  # a mark with no letter before it belongs to no Latin letter
    code = ord(char)
    return code < 0x0250 or 0x1E00 <= code <= 0x1EFF


def normalize_tag(tag: str) -> str:
    """The form under which Mastodon treats two hashtags as the same one.

    NFKC, case folding, accents stripped from Latin letters (`DéveloppementWeb`
    → `developpementweb`), characters that cannot be in a tag removed. A
    leading "#" is ignored.
    """
    text = unicodedata.normalize("NFKC", (tag or "").strip().lstrip("#＃"))
    text = text.casefold().translate(_FOLD)
    decomposed = unicodedata.normalize("NFD", text)
    kept: list[str] = []
    base = ""
    for char in decomposed:
        if unicodedata.combining(char):
            if _is_latin_base(base):
                continue
        else:
            base = char
        kept.append(char)
    folded = unicodedata.normalize("NFC", "".join(kept))
    return _INVALID_IN_NORMALIZED.sub("", folded)


def find_hashtags(text: str) -> list[str]:
    """The hashtag names Mastodon would find in `text`, in order, without "#"."""
    return [match.group(1) for match in HASHTAG_RE.finditer(text or "")]


def _capitalize(word: str) -> str:
    first = word[0]
    upper = first.upper()
    # "ß".upper() is "SS": keep letters that do not have a one-letter capital.
    return (upper if len(upper) == 1 else first) + word[1:]


def to_hashtag(name: str, mapping: Mapping[str, str] | None = None) -> str | None:
    """A category name as a valid Mastodon hashtag name (without "#"), or None.

    `mapping` is consulted first, keys compared case-insensitively
    (`{"C++": "Cpp"}`); a mapping to "" means "no hashtag". Several words are
    joined in CamelCase keeping accents and inner capitals (`Développement
    Web` → `DéveloppementWeb`, `raspberry-pi` → `RaspberryPi`); a single word
    keeps its case; apostrophes vanish without starting a word (`Aujourd'hui`
    → `Aujourdhui`). None when no letter remains (`2024`, `!!!`).
    """
    if not name or not name.strip():
        return None
    if mapping:
        wanted = category_key(name, hashtag=True)
        for key, value in mapping.items():
            if category_key(key, hashtag=True) == wanted:
                if value is None or not str(value).strip().lstrip("#＃"):
                    return None
                name = str(value)
                break
    text = unicodedata.normalize("NFC", name).strip().lstrip("#＃")
    text = _APOSTROPHES.sub("", text)
    words = []
    for word in _NOT_KEPT.split(text):
        word = word.strip(_EDGE_SEPARATORS)
        if word:
            words.append(word)
    if not words:
        return None
    tag = words[0] if len(words) == 1 else "".join(_capitalize(word) for word in words)
    tag = unicodedata.normalize("NFC", tag)
    if not _HAS_LETTER.search(tag) or not _NAME_FULL.fullmatch(tag):
        return None
    return tag


def _skip_key(name: str) -> str:
    return normalize_tag(name)


@functools.lru_cache(maxsize=16)
def _skipped_keys(names: tuple[str, ...]) -> frozenset[str]:
    """The keys of the category names to skip: made once per list, not once per toot (the
    default list has dozens of names, each normalized)."""
    return frozenset(_skip_key(name) for name in names) - {""}


# A category whose hashtag is longer than this is a phrase, not a topic
# ("Australian security and counter-terrorism"): it gives no hashtag, unless
# `hashtag_map` names what it becomes.
MAX_CATEGORY_TAG_LENGTH = 30


def _present(text: str) -> set[str]:
    return {normalize_tag(name) for name in find_hashtags(text)}


def hashtags_for(
    categories: Iterable[str],
    *,
    fixed: Iterable[str] = (),
    mapping: Mapping[str, str] | None = None,
    skip: Iterable[str] = DEFAULT_SKIPPED_CATEGORIES,
    limit: int | None = 5,
    already_in_text: str = "",
) -> tuple[list[str], list[str]]:
    """The hashtags (without "#") to add to a toot: `(fixed_tags, category_tags)`.

    `fixed` are the configured ones, always kept (a composer short of room drops
    category tags first); `category_tags` come from `categories`, at most
    `limit` of them (no cap when None), skipping the `skip` names (WordPress's
    "Uncategorized" in many languages by default), any name that gives no
    valid tag and any that gives one longer than MAX_CATEGORY_TAG_LENGTH (unless
    `mapping` names it). Both lists are free of duplicates, case- and
    accent-insensitively, across each other (fixed wins) and with the hashtags
    Mastodon already finds in `already_in_text`.
    """
    seen = _present(already_in_text)
    fixed_tags: list[str] = []
    for name in fixed or ():
        tag = to_hashtag(name, mapping)
        if tag is None:
            continue
        key = normalize_tag(tag)
        if key and key not in seen:
            seen.add(key)
            fixed_tags.append(tag)

    mapped = {category_key(key, hashtag=True) for key in mapping or {}}
    skipped = _skipped_keys(tuple(skip or ()))
    category_tags: list[str] = []
    cap = None if limit is None else max(limit, 0)
    for name in categories or ():
        if cap is not None and len(category_tags) >= cap:
            break
        if not isinstance(name, str) or _skip_key(name) in skipped:
            continue
        tag = to_hashtag(name, mapping)
        if tag is None:
            continue
        if len(tag) > MAX_CATEGORY_TAG_LENGTH and category_key(name, hashtag=True) not in mapped:
            continue
        key = normalize_tag(tag)
        if not key or key in seen or key in skipped:
            continue
        seen.add(key)
        category_tags.append(tag)
    return fixed_tags, category_tags
