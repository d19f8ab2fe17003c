"""The `language` of a status: a code Mastodon accepts, or None.

Pure functions only. Mastodon silently replaces a language it does not know by
the account's default, so an unknown code is better left out (None) than sent.
The accepted codes are the keys of `LanguagesHelper::SUPPORTED_LOCALES` in
Mastodon's `app/helpers/languages_helper.rb` (4.3); Mastodon keeps a code when
it is one of them, else keeps what precedes the first "-" or "_" when that is.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import regex
    from py3langid.langid import LanguageIdentifier

__all__ = ["MASTODON_LANGUAGES", "choose_language", "detect_language", "normalize_language"]

# The keys of SUPPORTED_LOCALES, as space-separated lists.
_ISO_639_1_CODES = (
    "aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv "
    "cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gu gv ha he hi ho hr ht "
    "hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky "
    "la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny "
    "oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sn so sq sr ss st "
    "su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za "
    "zh zu"
)
_ISO_639_3_CODES = (
    "ast chr ckb cnr csb jbo kab ldn lfn moh nds pdc sco sma smj szl tok vai xal zba zgh"
)
# Keys with a subtag, in Mastodon's spelling (its comparison is case-sensitive).
_REGIONAL = ("zh-CN", "zh-HK", "zh-TW", "zh-YUE", "ms-Arab")

MASTODON_LANGUAGES: frozenset[str] = frozenset(
    (*_ISO_639_1_CODES.split(), *_ISO_639_3_CODES.split(), *_REGIONAL)
)

_REGIONAL_BY_LOWER = {code.lower(): code for code in _REGIONAL}
# Deprecated ISO 639 codes still found in feeds (Java's Locale writes some of them).
_ALIASES = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "yue": "zh-YUE"}
_CHINESE_SCRIPTS = {"hans": "zh-CN", "hant": "zh-TW"}
_SUBTAGS = re.compile(r"[A-Za-z0-9]+")


def normalize_language(code: str | None) -> str | None:
    """`code` as Mastodon's language code, or None when Mastodon would not accept it.

    `fr-FR`, `fr_FR`, `FR`, ` fr ` → `fr`; `en-us` → `en`; three-letter codes
    Mastodon lists (`ast`, `kab`, `tok`...) pass; Mastodon's regional Chinese
    codes are kept (`zh_tw` → `zh-TW`, `zh-Hant` → `zh-TW`, `zh-Hans-CN` →
    `zh-CN`); `und`, `French`, `fra` and anything unknown → None. Only the first
    of a comma-separated list counts.
    """
    if not isinstance(code, str):
        return None
    first = re.split(r"[,;]", code.strip(), maxsplit=1)[0]
    subtags = _SUBTAGS.findall(first.strip().strip("\"'").replace("_", "-"))
    if not subtags:
        return None
    primary = subtags[0].lower()
    primary = _ALIASES.get(primary, primary)
    if primary in _REGIONAL_BY_LOWER.values():
        return primary
    if primary == "zh" and len(subtags) > 1:
        rest = [subtag.lower() for subtag in subtags[1:]]
        for subtag in reversed(rest):
            regional = _REGIONAL_BY_LOWER.get(f"zh-{subtag}")
            if regional is not None:
                return regional
        for subtag in rest:
            if subtag in _CHINESE_SCRIPTS:
                return _CHINESE_SCRIPTS[subtag]
    if primary == "ms" and len(subtags) > 1 and subtags[1].lower() == "arab":
        return "ms-Arab"
    return primary if primary in MASTODON_LANGUAGES else None


def choose_language(
    entry_language: str | None,
    feed_language: str | None,
    configured: str | None,
    override: str | None,
) -> str | None:
    """The language of the toot: the first valid of `override` (a per-feed setting
    that overrides what the feed says), the entry's, the feed's, `configured`."""
    for candidate in (override, entry_language, feed_language, configured):
        language = normalize_language(candidate)
        if language is not None:
            return language
    return None


# Below these, py3langid's guesses on titles are noise ("Hello world" → fuv at
# 0.15, "Le chat noir" → fr at 0.35), while a title with a sentence of summary
# scores 0.55 to 1.0 for the right language.
MIN_WORDS = 4
MIN_LETTERS = 20
MIN_CONFIDENCE = 0.5


def detect_language(text: str) -> str | None:
    """The language `text` is written in, as Mastodon's code, or None when unsure.

    None when the text is too short to judge (under MIN_WORDS words or
    MIN_LETTERS letters), when the best guess's probability is under
    MIN_CONFIDENCE, or when Mastodon does not know the language guessed.
    """
    words = _word().findall(text or "")
    if len(words) < MIN_WORDS or sum(len(word) for word in words) < MIN_LETTERS:
        return None
    code, confidence = _identifier().classify(text)
    if confidence < MIN_CONFIDENCE:
        return None
    return normalize_language(code)


@functools.cache
def _word() -> regex.Pattern[str]:
    # The configuration checks languages with normalize_language: `regex` (~10 ms to
    # import) waits until a text is measured.
    import regex

    return regex.compile(r"\p{L}[\p{L}\p{M}'’-]*")


@functools.cache
def _identifier() -> LanguageIdentifier:
    # py3langid ships its model in the package; loading it (with numpy) takes
    # ~0.7 s, so only a toot whose language nothing declares pays for it.
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
