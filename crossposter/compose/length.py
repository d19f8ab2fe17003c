"""Count a status the way a Mastodon server does before it accepts it.

Where each rule comes from (paths in the mastodon/mastodon repository unless
said otherwise):

* ``app/validators/status_length_validator.rb``: the limit applies to
  ``spoiler_text`` joined with the "countable" text, measured with
  ``String#each_grapheme_cluster``. The countable text is the status text with
  every URL entity replaced by ``'x' * 23`` (``URL_PLACEHOLDER``) and every
  mention ``@user@domain`` replaced by ``@user``; a blank text (only
  whitespace) counts as empty. The entities are
  ``Extractor.extract_urls_with_indices(text, extract_url_without_protocol:
  false)`` plus ``Extractor.extract_mentions_or_lists_with_indices(text)``,
  minus overlaps (``remove_overlapping_entities``). Hashtags, custom emoji
  shortcodes, ``xmpp:`` and ``magnet:`` URIs count literally.
* ``app/models/status.rb`` (``prepare_contents``): ``text`` and
  ``spoiler_text`` are ``strip``-ped first, with Ruby's ``String#strip``
  (ASCII whitespace and NUL only, not NBSP or U+3000).
* ``app/lib/extractor.rb``: mentions are found with ``Account::MENTION_RE``
  (``app/models/account.rb``); one followed by ``@``, ``＠``, a Latin accented
  letter or ``://`` (twitter-text's ``end_mention_match``) is not a mention,
  nor one whose domain is longer than 253 characters (``MAX_DOMAIN_LENGTH``).
* ``config/initializers/twitter_regex.rb``: Mastodon's redefinition of
  twitter-text's ``valid_url``: schemes ``http``, ``https``, ``dat``,
  ``dweb``, ``ipfs``, ``ipns``, ``ssb``, ``gopher``, ``gemini``; path
  characters are anything but whitespace, ``<>()?`` (balanced parentheses
  allowed); a path may not end in ``!*"'「」<>;:=,.$%[]~&|`` (so a trailing
  ``.,!?:;`` stays outside the URL), nor, before v4.3.0, in ``@`` (mastodon/mastodon#31124);
  the query may contain non-ASCII. With the ``@``, a scheme-less ``a.de/@?https://...``
  becomes one (skipped) match on 4.3, which swallows the link after it.
* ``Account::MENTION_RE`` also changed in v4.3.0 (see ``_MENTION_RE_4_2``). The server's
  reported version picks the rules; an unknown one counts with both, keeping the larger.
* twitter-text 3.1.0 (github.com/twitter/twitter-text, ``rb/lib/twitter-text/
  regex.rb`` and ``extractor.rb``): the domain must end in a TLD from
  ``tld_lib.yml`` (see :mod:`crossposter.compose.tlds`) or ``xn--`` punycode, so
  ``localhost`` and IP addresses are never URLs; URLs without a scheme are
  skipped because Mastodon passes ``extract_url_without_protocol: false``;
  ``https://t.co/slug`` URLs are cut after the slug; a domain that
  ``IDN::Idna.toASCII`` (libidn, IDNA 2003, unassigned code points refused)
  rejects, or a URL longer than 4096 characters once its domain is in ASCII
  form, is not a URL.

Grapheme clusters: Mastodon runs on Ruby 3.3/3.4, whose ``\\X`` follows
Unicode 15.0. ``regex``'s ``\\X`` follows a newer Unicode, which keeps Indic
conjuncts (consonant + virama + consonant, rule GB9c of Unicode 15.1) in one
cluster where Ruby 3.4 counts two, and joins newer combining marks to their
base where an older Unicode sees an unassigned code point. :func:`grapheme_count`
adds those breaks back (code points unassigned in this Python's
``unicodedata``, 14.0 on 3.11, count as new), so it never counts fewer clusters
than the server does. On a server running Ruby 4.0 (Unicode 17) a Hindi
conjunct is one cluster: there the count is one too high, the safe way.

Known differences from the server, all rare:

* ``url_cost=0`` (Pleroma/Akkoma) switches off every substitution, mentions
  included, since those servers count the text as written.
* The 253-character mention domain limit is applied with 4.2's rules too; were a 4.2
  server without it, such a mention would count more here than there, the safe way.

The URL and mention expressions were checked against Ruby's own Onigmo (the
twitter-text 3.1.0 and Mastodon sources above, evaluated by Ruby 3.1) on tens of
thousands of generated texts, and the IDNA step against libidn 1.41's
``idna_to_ascii_8z`` with flags 0. That comparison missed Onigmo's multi-character case
folding under ``/i`` (a TLD written ``ß`` is ``ss``, ``ﬁ`` is ``fi``), now reproduced with
``regex``'s full folding, and ran one release's rules: tests/test_length_mastodon_specs.py
holds the cases since found, with Mastodon's own spec examples.
"""

from __future__ import annotations

import encodings.idna
import functools
import re
import stringprep
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import regex

from crossposter.compose.tlds import COUNTRY_TLDS, GENERIC_TLDS


class _LazyPattern:
    """A pattern compiled on first use: compiling these costs ~50 ms at import, which a run
    that finds nothing new (and so counts no toot) should not pay."""

    def __init__(self, pattern: str | Callable[[], str], flags: int = 0) -> None:
        self._source = (pattern, flags)
        self._compiled: regex.Pattern[str] | None = None

    def __getattr__(self, name: str):
        if self._compiled is None:
            pattern, flags = self._source
            self._compiled = regex.compile(pattern() if callable(pattern) else pattern, flags)
        return getattr(self._compiled, name)


__all__ = [
    "find_mentions",
    "find_urls",
    "grapheme_count",
    "mastodon_length",
]

# Mastodon's StatusLengthValidator::URL_PLACEHOLDER_CHARS; servers publish
# their own value as configuration.statuses.characters_reserved_per_url.
DEFAULT_URL_COST = 23

# twitter-text Extractor constants, and Mastodon's Extractor::MAX_DOMAIN_LENGTH.
_MAX_URL_LENGTH = 4096
_MAX_TCO_SLUG_LENGTH = 40
_MAX_MENTION_DOMAIN_LENGTH = 253

# Ruby's String#strip: "\0", "\t", "\n", "\v", "\f", "\r" and " ", nothing else.
_RUBY_STRIP_CHARS = "\0\t\n\x0b\x0c\r "


def _cls(*items: str | tuple[int, int]) -> str:
    """A character-class body from code points and (first, last) ranges."""
    parts = []
    for item in items:
        if isinstance(item, tuple):
            parts.append(f"{_esc(item[0])}-{_esc(item[1])}")
        else:
            parts.extend(_esc(ord(ch)) for ch in item)
    return "".join(parts)


def _esc(cp: int) -> str:
    return f"\\U{cp:08x}"


# --- twitter-text's building blocks (rb/lib/twitter-text/regex.rb) ---------

_UNICODE_SPACES = _cls(
    (0x09, 0x0D), " \x85\xa0\u1680\u180e", (0x2000, 0x200A), "\u2028\u2029\u202f\u205f\u3000"
)
_DIRECTIONAL = _cls("\u061c\u200e\u200f", (0x202A, 0x202E), (0x2066, 0x2069))
_INVALID = _cls("\ufffe\ufeff\uffff")
_LATIN_ACCENTS = _cls(
    (0xC0, 0xD6),
    (0xD8, 0xF6),
    (0xF8, 0xFF),
    (0x0100, 0x024F),
    (0x0253, 0x0254),
    (0x0256, 0x0257),
    "\u0259\u025b\u0263\u0268\u026f\u0272\u0289\u028b\u02bb",
    (0x0300, 0x036F),
    (0x1E00, 0x1EFF),
)
# PUNCTUATION_CHARS as Ruby reads '!"#$%&\'()*+,-./:;<=>?@\[\]^_\`{|}~' inside a
# character class: the backslash itself is *not* part of it.
_PUNCTUATION = _cls("!\"#$%&'()*+,-./:;<=>?@[]^_`{|}~")
_SPACE_CHARS = _cls(" \t\n\x0b\x0c\r")
_CTRL_CHARS = _cls((0x00, 0x1F), "\x7f")

_DOMAIN_VALID_CHARS = (
    f"[^{_DIRECTIONAL}{_PUNCTUATION}{_SPACE_CHARS}{_CTRL_CHARS}{_INVALID}{_UNICODE_SPACES}]"
)
_D = _DOMAIN_VALID_CHARS
# A label can only end at its first ".", so making it atomic changes no match.
_VALID_SUBDOMAIN = rf"(?>(?:{_D}(?:[_\-]|{_D})*)?{_D}\.)"
_VALID_DOMAIN_NAME = rf"(?>(?:{_D}(?:[\-]|{_D})*)?{_D}\.)"


def _ordered_alternation(words: list[str]) -> str:
    """``(?:w1|w2|...)`` with common prefixes factored out, same matches.

    Alternation is ordered choice, and ``aX|bY|aZ`` matches exactly what
    ``a(?:X|Z)|bY`` does when ``a`` and ``b`` cannot match the same character,
    so grouping by first character (keeping the original order inside each
    group, and never moving a word across an exhausted, empty one) changes
    nothing but speed: without it, each of the ~1,600 TLDs is tried in turn at
    every candidate position.
    """
    branches: list[str] = []
    run: dict[str, list[str]] = {}

    def flush() -> None:
        for members in run.values():
            if len(members) == 1:
                branches.append(regex.escape(members[0]))
            elif len({m[0] for m in members}) > 1:
                # Distinct characters that fold together: keep them unfactored.
                branches.extend(regex.escape(m) for m in members)
            else:
                rest = _ordered_alternation([m[1:] for m in members])
                branches.append(regex.escape(members[0][0]) + rest)
        run.clear()

    for word in words:
        if not word:
            flush()
            branches.append("")
        else:
            run.setdefault(word[0].casefold(), []).append(word)
    flush()
    return "(?:" + "|".join(branches) + ")"


_TLD_END = r"(?=[^0-9a-z@+\-]|$)"
_LONGEST_TLD = max(len(tld) for tld in (*GENERIC_TLDS, *COUNTRY_TLDS))
_VALID_PUNYCODE = r"(?:xn--[0-9a-z]+)"


def _tld(words: tuple[str, ...], multi_folding: str) -> str:
    """twitter-text's ``valid_gTLD`` or ``valid_ccTLD``, as Onigmo matches it under /i.

    Onigmo folds one letter to several inside a literal word ("ﬁ" matches ``fi``, "ß"
    matches ``ss``); ``regex``'s full case folding (``(?f)``) does too, but only in a
    plain list of words, not in the factored one that keeps the common case fast. So the
    plain list is used where such a letter is near enough to be part of the TLD.
    """
    near = f"(?=.{{0,{_LONGEST_TLD - 1}}}[{multi_folding}])"
    words_list = list(words)
    plain = "|".join(regex.escape(word) for word in words_list)
    factored = _ordered_alternation(words_list)
    return f"(?:(?:{near}(?f:{plain})|(?!{near}){factored}){_TLD_END})"


@functools.cache
def _valid_domain() -> str:
    # Full case folding maps these to several letters; all are below U+FB18.
    multi_folding = _cls(*(chr(cp) for cp in range(0xDF, 0xFB18) if len(chr(cp).casefold()) > 1))
    gtld = _tld(GENERIC_TLDS, multi_folding)
    cctld = _tld(COUNTRY_TLDS, multi_folding)
    return f"(?:{_VALID_SUBDOMAIN}*{_VALID_DOMAIN_NAME}(?:{gtld}|{cctld}|{_VALID_PUNYCODE}))"


_VALID_URL_PRECEDING_CHARS = rf"(?:[^A-Z0-9@＠$#＃{_INVALID}]|[{_DIRECTIONAL}]|^)"

# twitter-text's own path expressions; Mastodon replaces them, but its new
# valid_url_path_ending_chars was built while valid_url_balanced_parens was
# still twitter-text's, so that one survives inside it.
_TT_GENERAL_PATH_CHARS = rf"[a-z\p{{sc=Cyrillic}}0-9!*';:=+,.$/%#\[\]\p{{Pd}}_~&|@{_LATIN_ACCENTS}]"
_TT_BALANCED_PARENS = (
    rf"\((?:{_TT_GENERAL_PATH_CHARS}+|(?:{_TT_GENERAL_PATH_CHARS}*"
    rf"\({_TT_GENERAL_PATH_CHARS}+\){_TT_GENERAL_PATH_CHARS}*))\)"
)

# --- Mastodon's config/initializers/twitter_regex.rb -------------------------

_GENERAL_PATH_CHARS = r"[^\p{White_Space}<>()?]"
_G = _GENERAL_PATH_CHARS
_BALANCED_PARENS = rf"\((?:{_G}+|(?:{_G}*\({_G}+\){_G}*))\)"
_UCHARS = _cls(
    (0xA0, 0xD7FF),
    (0xF900, 0xFDCF),
    (0xFDF0, 0xFFEF),
    *((plane, plane + 0xFFFD) for plane in range(0x10000, 0xE0000, 0x10000)),
    (0xE1000, 0xEFFFD),
    (0xE000, 0xF8FF),
    (0xF0000, 0xFFFFD),
    (0x100000, 0x10FFFD),
)
_URL_QUERY_CHARS = rf"[a-z0-9!?*'();:&=+$/%#\[\]\-_.,~|@^{_UCHARS}]"
_URL_QUERY_ENDING_CHARS = rf"[a-z0-9_&=#/\-{_UCHARS}]"
# Onigmo folds "ß" to "ss" and "ﬁ" to "fi" under /i, inside a literal word: a scheme
# or a TLD written with them is one (`(?f:...)`, full case folding, does the same).
_PROTOCOLS = r"(?f:https?|dat|dweb|ipfs|ipns|ssb|gopher|gemini)://"
# What a URL path may not end with; v4.3.0 dropped "@" ("Allow @ at the end of an
# URL", mastodon/mastodon#31124), so `http://e.co/@` links its "@" from 4.3 on.
_PATH_END_EXCLUDED_4_3 = r"!*\"'「」<>;:=,.$%\[\]~&|"
_PATH_END_EXCLUDED_4_2 = _PATH_END_EXCLUDED_4_3 + "@"


def _valid_url(path_end_excluded: str) -> _LazyPattern:
    def expression() -> str:
        path_ending_chars = (
            rf"(?:[^\p{{White_Space}}()?{path_end_excluded}]" + f"|(?:{_TT_BALANCED_PARENS}))"
        )
        path = f"(?:(?:{_G}*(?:{_BALANCED_PARENS}{_G}*)*{path_ending_chars})|(?:{_G}+/))"
        return (
            f"(?P<before>{_VALID_URL_PRECEDING_CHARS})"
            "(?P<url>"
            f"(?P<protocol>{_PROTOCOLS})?"
            f"(?P<domain>{_valid_domain()})"
            r"(?::[0-9]+)?"
            f"(?:/{path}*)?"
            rf"(?:\?{_URL_QUERY_CHARS}*{_URL_QUERY_ENDING_CHARS})?"
            ")"
        )

    return _LazyPattern(expression, regex.IGNORECASE | regex.MULTILINE | regex.VERSION0)


_VALID_TCO_URL = _LazyPattern(r"https?://t\.co/([a-z0-9]+)", regex.IGNORECASE)

# --- Account::MENTION_RE and twitter-text's end_mention_match ------------------

# [[:word:]] as Onigmo defines it for Unicode strings.
_WORD_CHARS = r"\p{Alphabetic}\p{M}\p{Nd}\p{Pc}"
_WORD = f"[{_WORD_CHARS}]"
_NOT_AFTER = rf"(?<![=/{_WORD_CHARS}])"
# v4.3: USERNAME_RE = /[a-z0-9_]+([.-]+[a-z0-9_]+)*/i,
# MENTION_RE = %r{(?<![=/[:word:]])@((#{USERNAME_RE})(?:@[[:word:]]+([.-]+[[:word:]]+)*)?)}
_MENTION_RE_4_3 = _LazyPattern(
    rf"{_NOT_AFTER}@((?i:[a-z0-9_]+(?:[.\-]+[a-z0-9_]+)*)(?:@{_WORD}+(?:[.\-]+{_WORD}+)*)?)",
    regex.VERSION0,
)
# v4.2: USERNAME_RE = /[a-z0-9_]+([a-z0-9_.-]+[a-z0-9_]+)?/i,
# MENTION_RE = %r{(?<![=/[:word:]])@((#{USERNAME_RE})(?:@[[:word:].-]+[[:word:]]+)?)}i
_MENTION_RE_4_2 = _LazyPattern(
    rf"{_NOT_AFTER}@([a-z0-9_]+(?:[a-z0-9_.\-]+[a-z0-9_]+)?(?:@[{_WORD_CHARS}.\-]+{_WORD}+)?)",
    regex.IGNORECASE | regex.VERSION0,
)
_AT_SIGNS = _LazyPattern("[@＠]")
# Anchored with .match(text, pos), which is what "\A" on post_match means.
_END_MENTION_MATCH = _LazyPattern(f"(?:[@＠]|[{_LATIN_ACCENTS}]+|://)")

# --- Grapheme clusters ---------------------------------------------------------

_CLUSTER = _LazyPattern(r"\X", regex.DOTALL)
_INCB_CONSONANT = _LazyPattern(r"\p{InCB=Consonant}")
_INCB_LINKER_OR_EXTEND = _LazyPattern(r"[\p{InCB=Linker}\p{InCB=Extend}]")
_EXT_PICT = _LazyPattern(r"\p{Extended_Pictographic}")
_PREPEND = _LazyPattern(r"\p{GCB=Prepend}")
_BLANK = _LazyPattern(r"[\p{White_Space}]*")


def _extra_breaks(cluster: str) -> int:
    """Breaks Ruby (Unicode 15.0) makes inside one of ``regex``'s clusters."""
    extra = 0
    for i in range(1, len(cluster)):
        ch, prev = cluster[i], cluster[i - 1]
        if _INCB_CONSONANT.match(ch):
            # GB9c (Unicode 15.1) joins a conjunct; before it, a consonant
            # after a virama or other mark started a new cluster.
            if _INCB_LINKER_OR_EXTEND.match(prev):
                extra += 1
        elif (
            unicodedata.category(ch) == "Cn"
            and not _EXT_PICT.match(ch)
            and not _PREPEND.match(prev)
        ):
            # A mark newer than this Python's Unicode database: an older
            # Unicode sees an unassigned code point, which starts a cluster.
            extra += 1
    return extra


def _cluster_cost(cluster: str) -> int:
    return 1 if len(cluster) == 1 else 1 + _extra_breaks(cluster)


# Below the combining marks (U+0300), every character is a cluster of its own but for
# "\r\n", in any Unicode (each pair checked against ``regex``'s ``\X``).
_FIRST_MARK = "\u0300"


def grapheme_count(text: str) -> int:
    """Extended grapheme clusters in ``text``, as Mastodon's Ruby counts them.

    A family emoji (ZWJ sequence), a flag, or "e" + combining accent count 1
    each; ``len()`` would count several code points.
    """
    if not text or max(text) < _FIRST_MARK:
        return len(text) - text.count("\r\n")
    return sum(_cluster_cost(c) for c in _CLUSTER.findall(text))


# --- Entity extraction ---------------------------------------------------------


def _idna_to_ascii(domain: str) -> str | None:
    """``IDN::Idna.toASCII(domain)`` (libidn, IDNA 2003, flags 0), or None."""
    labels = encodings.idna.dots.split(domain)
    trailing_dot = len(labels) > 1 and not labels[-1]
    if trailing_dot:
        labels.pop()  # libidn keeps an empty root label as a trailing "."
    out = []
    try:
        for label in labels:
            if not label.isascii():
                # libidn refuses code points unassigned in Unicode 3.2
                # (AllowUnassigned off); Python's codec lets them through.
                if any(stringprep.in_table_a1(ch) for ch in label):
                    return None
                encodings.idna.nameprep(label)  # prohibited characters, bidi
            out.append(encodings.idna.ToASCII(label).decode("ascii"))
    except (UnicodeError, ValueError):
        return None
    return ".".join(out) + ("." if trailing_dot else "")


def _is_valid_domain(url_length: int, domain: str) -> bool:
    """twitter-text's ``Extractor#is_valid_domain`` for a URL with a scheme."""
    encoded = _idna_to_ascii(domain)
    if encoded is None:
        return False
    if len(encoded) > len(domain):
        url_length += len(encoded) - len(domain)
    return url_length <= _MAX_URL_LENGTH


# No part of a URL match (domain, path or query) can hold one of these, so
# matches never cross them; the character before a URL may be one.
_URL_SEPARATORS = re.compile(r"[\t\n\x0b\x0c\r \x85]+")


@dataclass(frozen=True)
class _Rules:
    """The expressions one Mastodon release finds URLs and mentions with."""

    url: _LazyPattern
    mention: _LazyPattern
    # The characters a URL's path may not end with (the URL ends before them).
    path_end_excluded: str


_RULES_4_2 = _Rules(
    _valid_url(_PATH_END_EXCLUDED_4_2),
    _MENTION_RE_4_2,
    _PATH_END_EXCLUDED_4_2.replace("\\", ""),  # the characters, not their escapes
)
_RULES_4_3 = _Rules(
    _valid_url(_PATH_END_EXCLUDED_4_3),
    _MENTION_RE_4_3,
    _PATH_END_EXCLUDED_4_3.replace("\\", ""),  # the characters, not their escapes
)
# "4.3.0", "4.2.10", "4.3.0+glitch", "4.4.0-beta.1"; a fork that only imitates the API says
# "2.7.2 (compatible; Pleroma 2.5.0)", which tells nothing about Mastodon's rules.
_MASTODON_VERSION = re.compile(r"(\d+)\.(\d+)\.\d+(?:[-+][\w.+-]*)?")


def _rules_for(version: str | None) -> tuple[_Rules, ...]:
    """The rules of the release ``version`` names; both when it names none.

    Releases before 4.2 get 4.2's rules: the ones they differ in count higher there.
    Releases after 4.3 get 4.3's, the newest read here.
    """
    found = _MASTODON_VERSION.fullmatch((version or "").strip())
    if found is None:
        return (_RULES_4_3, _RULES_4_2)
    return (_RULES_4_3,) if (int(found[1]), int(found[2])) >= (4, 3) else (_RULES_4_2,)


# A word that is one plain URL is most of what a toot links: a scheme, a host of ASCII
# labels, a path of printable ASCII without "()<>?" (the query's and the parentheses' rules
# are the expression's). For it, the expression's matches are known without it: a TLD can
# only be a whole label after the first (inside a label, what follows breaks `_TLD_END`).
# Where the last label is one, the URL is the whole host, tried first, then the path up to
# its last character that may end one (the greedy path backs off exactly to there); where
# none is, there is no URL with a scheme (a blog on a made-up domain, `.example`, `.local`).
# Compiling the expression costs ~0.3 s of CPU, once a process; a run whose toots only
# link that way never pays it.
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_PLAIN_URL = re.compile(
    rf"https?://(?P<domain>(?:{_LABEL}\.)*{_LABEL})"
    r"(?P<path>/[\x21-\x27\x2a-\x3b\x3d\x40-\x7e]*)?",
    re.IGNORECASE | re.ASCII,
)
_ASCII_TLDS = frozenset(tld for tld in (*GENERIC_TLDS, *COUNTRY_TLDS) if tld.isascii())


def _plain_url(
    text: str, start: int, end: int, rules: _Rules
) -> tuple[tuple[int, int, str], ...] | None:
    """The URLs with a scheme ``rules.url`` finds in the word ``text[start:end]`` (as
    _url_matches gives them), when the word is one plain URL (see _PLAIN_URL); None when
    only the expression can tell."""
    m = _PLAIN_URL.fullmatch(text, start, end)
    if m is None:
        return None
    domain = m["domain"]
    after_first = domain.lower().split(".")[1:]
    # Punycode ends a domain without `_TLD_END`, and another "://" may start another URL.
    if any(label.startswith("xn--") for label in after_first):
        return None
    if not any(label in _ASCII_TLDS for label in after_first):
        return () if text.count("://", start, end) == 1 else None
    if after_first[-1] not in _ASCII_TLDS or domain.lower() == "t.co":
        return None  # a shorter host, or the t.co rule: the expression's to find
    if m["path"] is None:
        return ((start, end, domain),)
    # "/" may end a path: the URL keeps at least it.
    return ((start, m.start("path") + len(m["path"].rstrip(rules.path_end_excluded)), domain),)


def _url_matches(text: str, rules: _Rules) -> Iterator[tuple[int, int, str | None]]:
    """``(start, end, domain)`` of each match of ``valid_url`` in ``text``, in order: the
    URL's span, and its domain, None for a match without a scheme.

    Only the words that hold "://" are looked at, each on its own: same matches, far
    faster. The expression backtracks over every long run of letters (a paragraph of
    Japanese, a row of emoji), and only a word with "://" can hold a URL with a scheme.
    Matches without a scheme, which Ruby's scan consumes, stay within their word.
    """
    word_start = 0
    for separator in [*_URL_SEPARATORS.finditer(text), None]:
        word_end = separator.start() if separator else len(text)
        if "://" in text[word_start:word_end]:
            plain = _plain_url(text, word_start, word_end, rules)
            if plain is not None:
                yield from plain
            else:
                for m in rules.url.finditer(text, max(word_start - 1, 0), word_end):
                    with_scheme = m.group("protocol") is not None
                    yield (*m.span("url"), m.group("domain") if with_scheme else None)
        word_start = separator.end() if separator else len(text)


def _extract_urls(text: str, rules: _Rules) -> list[tuple[int, int]]:
    """``extract_urls_with_indices(text, extract_url_without_protocol: false)``."""
    if ":" not in text:
        return []
    urls = []
    for start, end, domain in _url_matches(text, rules):
        if domain is None:
            continue  # the match is still consumed, as in Ruby's String#scan
        url = text[start:end]
        tco = _VALID_TCO_URL.match(url)
        if tco:
            if len(tco.group(1)) > _MAX_TCO_SLUG_LENGTH:
                continue
            url = tco.group()
            end = start + len(url)
        if _is_valid_domain(len(url), domain):
            urls.append((start, end))
    return urls


def _extract_mentions(text: str, rules: _Rules) -> list[tuple[int, int]]:
    """Mastodon's ``Extractor.extract_mentions_or_lists_with_indices``."""
    if not _AT_SIGNS.search(text):
        return []
    mentions = []
    for m in rules.mention.finditer(text):
        if _END_MENTION_MATCH.match(text, m.end()):
            continue
        _, _, domain = m.group(1).partition("@")
        if len(domain) > _MAX_MENTION_DOMAIN_LENGTH:
            continue
        mentions.append((m.start(1) - 1, m.end(1)))
    return mentions


def _entities(text: str, rules: _Rules) -> list[tuple[int, int, bool]]:
    """URL and mention spans, overlaps removed: (start, end, is_url)."""
    candidates = sorted(
        [(s, e, True) for s, e in _extract_urls(text, rules)]
        + [(s, e, False) for s, e in _extract_mentions(text, rules)],
        key=lambda entity: entity[0],
    )
    kept: list[tuple[int, int, bool]] = []
    for entity in candidates:
        if kept and kept[-1][1] > entity[0]:
            continue
        kept.append(entity)
    return kept


def _counted_entities(text: str, version: str | None) -> list[tuple[int, int, bool]]:
    """The entities of the rules that count ``text`` longest, among those ``version`` allows."""
    candidates = [_entities(text, rules) for rules in _rules_for(version)]
    if len(candidates) == 1:
        return candidates[0]
    return max(
        candidates, key=lambda found: grapheme_count(_substituted(text, DEFAULT_URL_COST, found))
    )


def find_urls(text: str, version: str | None = None) -> list[tuple[int, int]]:
    """Spans ``(start, end)`` of the URLs Mastodon counts as ``url_cost``.

    Offsets index ``text`` as given (no stripping); composition code can use
    them to avoid cutting inside a link. ``version`` is the server's reported
    version; unknown, the spans are those of the release that counts ``text`` longest.
    """
    return [(s, e) for s, e, is_url in _counted_entities(text, version) if is_url]


def find_mentions(text: str, version: str | None = None) -> list[tuple[int, int]]:
    """Spans ``(start, end)`` of the mentions Mastodon counts as ``@user``; see find_urls."""
    return [(s, e) for s, e, is_url in _counted_entities(text, version) if not is_url]


def _ruby_strip(text: str) -> str:
    return text.strip(_RUBY_STRIP_CHARS)


def _substituted(text: str, url_cost: int, entities: list[tuple[int, int, bool]]) -> str:
    """StatusLengthValidator#countable_text, given the entities found in ``text``."""
    if _BLANK.fullmatch(text):
        return ""
    if url_cost == 0:
        return text
    placeholder = "x" * url_cost
    parts = []
    last = 0
    for start, end, is_url in entities:
        parts.append(text[last:start])
        if is_url:
            parts.append(placeholder)
        else:
            # "@#{entity[:screen_name].split('@').first}"
            parts.append("@" + text[start + 1 : end].split("@")[0])
        last = end
    parts.append(text[last:])
    return "".join(parts)


def mastodon_length(
    text: str,
    spoiler_text: str = "",
    url_cost: int = DEFAULT_URL_COST,
    *,
    version: str | None = None,
) -> int:
    """The length Mastodon's StatusLengthValidator compares with the limit.

    ``text`` and ``spoiler_text`` are stripped as Ruby's ``strip`` does; each
    URL Mastodon links counts ``url_cost`` (``characters_reserved_per_url``),
    each ``@user@domain`` mention counts as ``@user``; the result is in
    extended grapheme clusters (see :func:`grapheme_count`).

    ``version`` is the one the server reports (``InstanceLimits.version``): what
    counts as a URL or a mention changed in 4.3. Unknown, the count is the larger
    of 4.2's and 4.3's, which both accept.

    ``url_cost == 0`` is how Pleroma and Akkoma report that they count the text
    as written: then nothing is substituted, neither URLs nor mentions.
    """
    if url_cost < 0:
        raise ValueError("url_cost must be >= 0")
    stripped = _ruby_strip(text)
    countable = max(
        (_substituted(stripped, url_cost, _entities(stripped, r)) for r in _rules_for(version)),
        key=grapheme_count,
    )
    return grapheme_count(_ruby_strip(spoiler_text) + countable)
