"""Turning an entry into a toot that Mastodon accepts: pure functions, no I/O.

Every length is the one Mastodon's validator computes (`mastodon_length` of
the whole toot, its content warning included). The room is spent in this
order: the link is never cut; the configured hashtags always stay; category
hashtags are dropped from the end when the title, link and tags alone would
not fit; the title is trimmed only when it alone leaves no room; the summary
gets whatever is left, cut at a sentence or word boundary.
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import regex

from crossposter.compose.hashtags import (
    HASHTAG_RE,
    find_hashtags,
    hashtags_for,
    normalize_tag,
)
from crossposter.compose.language import choose_language, detect_language
from crossposter.compose.length import find_mentions, find_urls, grapheme_count, mastodon_length
from crossposter.compose.template import (
    DateField,
    render,
)
from crossposter.compose.text import (
    HIDDEN_CHARACTERS,
    clean_title,
    drop_bylines,
    neutralize_link_mentions,
    neutralize_mentions,
    summary_text,
)
from crossposter.models import Entry, FeedInfo, InstanceLimits, Toot
from crossposter.names import category_key

if TYPE_CHECKING:
    from crossposter.config import FeedOptions

ELLIPSIS = "…"
# A summary cut shorter than this is left out rather than shown as a scrap.
MIN_CUT_SUMMARY = 30

_SENTENCE_END = regex.compile(r"[.!?…](?=\s)|[。！？](?=.)", regex.DOTALL)
# Scripts written without spaces between words: a cut may fall between two of
# their characters, or after their punctuation.
_UNSPACED = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
_UNSPACED_BOUNDARY = regex.compile(
    rf"(?<=[{_UNSPACED}\u3000-\u303f\uff01-\uff0f\uff1a-\uff1f])(?=[{_UNSPACED}\u3000-\u303f])"
)
_CLUSTER = regex.compile(r"\X", regex.DOTALL)
_WHITESPACE = regex.compile(r"\s+")
_CUT_DECORATION = " \t\u00a0\u202f,;:–—-"
# What a cut drops from its end. A Prepend mark (U+0600 ARABIC NUMBER SIGN...) belongs to
# the cluster of the character after it: once that is dropped, the mark would join the ellipsis.
_CUT_TAIL = regex.compile(rf"(?:[{regex.escape(_CUT_DECORATION)}\n]|\p{{GCB=Prepend}})+\Z")
# In a link they would make the toot show one address and link another, or only part of it.
_HIDDEN_IN_LINK = regex.compile(rf"[\s{HIDDEN_CHARACTERS}]")


class UnpostableEntry(ValueError):
    """The entry cannot become a toot: it has no usable link, or its link (with
    the configured hashtags and content warning) alone exceeds the limit."""


def compose(
    entry: Entry,
    feed: FeedInfo,
    options: FeedOptions,
    limits: InstanceLimits = InstanceLimits(),
) -> Toot:
    """The toot for `entry`, within the instance's limit as Mastodon counts it.

    `options` are the feed's validated settings, read as they are.

    Raises UnpostableEntry when the entry has no usable link, or when the link,
    the configured hashtags and the content warning alone exceed the limit.
    """
    link = usable_link(entry.link)
    if options.neutralize_mentions:
        link = neutralize_link_mentions(link)
    url_cost, version = limits.characters_reserved_per_url, limits.version
    spoiler = _content_warning(entry, options)

    def measure(fields: Mapping[str, Any]) -> int:
        return mastodon_length(render(options.template, fields), spoiler, url_cost, version=version)

    inert = neutralize_mentions if options.neutralize_mentions else _unchanged
    title = inert(clean_title(entry.title or ""))
    summary = inert(_summary(entry, title, options.summary_max))
    language = _language(entry, feed, options, title, summary)
    categories = [name for name in entry.categories or () if isinstance(name, str)]
    fields: dict[str, Any] = {
        "title": title,
        "summary": summary,
        "url": link,
        "hashtags": "",
        "author": inert(clean_title(entry.author or "")),
        "feed_title": inert(clean_title(feed.title or "")),
        "categories": inert(", ".join(clean_title(name) for name in categories)),
        "published": DateField(entry.published, language),
    }
    fixed, from_categories = hashtags_for(
        categories if options.category_hashtags else (),
        fixed=options.hashtags,
        mapping=dict(options.hashtag_map),
        skip=options.skip_categories,
        limit=options.max_hashtags,
        already_in_text=_literal_text(options.template),
    )

    arranged, tags = _arrange(fields, fixed, from_categories, measure, limits)
    # A tag the title or summary already shows is not repeated in the tag line;
    # the room it leaves goes back to the summary when the summary keeps it.
    shown = _tags_shown(options.template, arranged)
    repeated = {normalize_tag(tag) for tag in tags} & shown
    if repeated:
        kept_fixed = [tag for tag in fixed if normalize_tag(tag) not in repeated]
        kept_others = [tag for tag in from_categories if normalize_tag(tag) not in repeated]
        again, again_tags = _arrange(fields, kept_fixed, kept_others, measure, limits)
        if repeated <= _tags_shown(options.template, again):
            arranged, tags = again, again_tags
        else:
            tags = [tag for tag in tags if normalize_tag(tag) not in repeated]
            arranged = {**arranged, "hashtags": _tag_line(tags)}

    text = render(options.template, arranged)
    return Toot(
        text=text,
        language=language,
        visibility=options.visibility,
        quote_approval_policy=options.quote_approval_policy,
        spoiler_text=spoiler,
        hashtags=_hashtags_in(text),
        length=mastodon_length(text, spoiler, url_cost, version=version),
        limit=limits.max_characters,
    )


def _language(
    entry: Entry, feed: FeedInfo, options: FeedOptions, title: str, summary: str
) -> str | None:
    """The declared language (override, entry, feed, configuration), else the detected one."""
    declared = choose_language(
        entry.language,
        feed.language,
        options.language,
        options.language if options.force_language else None,
    )
    if declared is not None or not options.detect_language:
        return declared
    return detect_language(f"{title}\n\n{summary}")


def usable_link(link: str | None) -> str:
    """`link` as it goes in the toot, or UnpostableEntry when it is no web link.

    A link with whitespace, control characters or invisible formatting characters
    (bidirectional overrides, zero-width spaces) inside it cannot be posted: what
    the toot shows would not be what it links to.
    """
    link = (link or "").strip()
    if not link:
        raise UnpostableEntry("the entry has no link")
    try:
        parts = urlsplit(link)
    except ValueError:  # an unbalanced "[" or "]" in the host
        raise UnpostableEntry(f"the entry's link {link!r} is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise UnpostableEntry(f"the entry's link {link!r} is not an absolute http(s) URL")
    hidden = _HIDDEN_IN_LINK.search(link)
    if hidden:
        raise UnpostableEntry(
            f"the entry's link {link!r} holds {_character_name(hidden.group(0))} "
            f"at position {hidden.start() + 1}"
        )
    return link


def _character_name(char: str) -> str:
    return f"U+{ord(char):04X} {unicodedata.name(char, 'a control character')}"


def shorten(
    text: str, max_length: int, length: Callable[[str], int] = grapheme_count
) -> str:
    """`text` cut to at most `max_length`, with an ellipsis, at the best boundary.

    `length` counts graphemes unless told otherwise; it must never count fewer than
    `grapheme_count` does, which bounds the work.
    """
    return _fit(text, lambda candidate: length(candidate) <= max_length, max_length)


def _summary(entry: Entry, title: str, summary_max: int | None) -> str:
    # A byline says who wrote it, not what it says.
    summary = drop_bylines(summary_text(entry.summary_html or "", entry.content_html or ""))
    # Engines without excerpts repeat the title, or open the content with it; once is enough.
    first, _, rest = summary.partition("\n\n")
    if title and first.strip().casefold() == title.strip().casefold():
        summary = rest.strip()
    if summary_max is not None and grapheme_count(summary) > summary_max:
        summary = shorten(summary, summary_max)
    return summary


def _arrange(
    fields: Mapping[str, Any],
    fixed: Sequence[str],
    optional: Sequence[str],
    measure: Callable[[Mapping[str, Any]], int],
    limits: InstanceLimits,
) -> tuple[dict[str, Any], list[str]]:
    """The fields within the limit, and the hashtags kept, in the order of the module doc."""

    def fits(candidate: Mapping[str, Any]) -> bool:
        return measure(candidate) <= limits.max_characters

    summary = fields["summary"]
    tags = [*fixed, *optional]
    arranged = {**fields, "summary": "", "hashtags": _tag_line(fixed)}
    title_fits = fits(arranged)
    if title_fits:
        arranged["hashtags"] = _tag_line(tags)
        while len(tags) > len(fixed) and not fits(arranged):
            tags.pop()
            arranged["hashtags"] = _tag_line(tags)
    else:
        # The title will be trimmed anyway; category tags may take up to half of its room.
        arranged["title"] = ""
        title_room = limits.max_characters - measure(arranged)
        arranged["hashtags"] = _tag_line(tags)
        while (
            len(tags) > len(fixed) and 2 * (limits.max_characters - measure(arranged)) < title_room
        ):
            tags.pop()
            arranged["hashtags"] = _tag_line(tags)
    if not fits(arranged):
        raise UnpostableEntry(
            f"its link, configured hashtags and content warning alone exceed the "
            f"{limits.max_characters}-character limit"
        )
    if not title_fits:
        arranged["title"] = _fit(
            fields["title"], lambda t: fits({**arranged, "title": t}), limits.max_characters
        )
    if summary:
        cut = _fit(summary, lambda s: fits({**arranged, "summary": s}), limits.max_characters)
        # A scrap of a summary reads like a mistake: a summary is whole or worth reading.
        if cut == summary or grapheme_count(cut) >= MIN_CUT_SUMMARY:
            arranged["summary"] = cut
    return arranged, tags


def _fit(text: str, fits: Callable[[str], bool], max_cost: int) -> str:
    """The longest good cut of `text` that `fits`; '' when not even one character does.

    Cuts fall at sentence ends, else between words (or between characters of
    scripts written without spaces), else, as a last resort, between grapheme
    clusters; never inside a URL, mention or hashtag. `max_cost` is a length
    no fitting cut can exceed, so a very long text costs no more than a short one.
    """
    if fits(text):
        return text
    cuts = _cut_points(text, max_cost)
    best = _longest_fitting([cut for cut in cuts if not cut.grapheme_only], fits)
    if best is None:
        best = _longest_fitting(cuts, fits)
        if best is None:
            return ""
        return best.render
    sentence_cuts = [cut for cut in cuts if cut.sentence and cut.position <= best.position]
    # A clean sentence end beats a few more words, unless it leaves much of the room unused.
    if sentence_cuts and len(sentence_cuts[-1].render) >= 0.75 * len(best.render):
        return sentence_cuts[-1].render
    return best.render


@dataclass(frozen=True)
class _Cut:
    text: str
    position: int
    sentence: bool = False
    grapheme_only: bool = False

    @property
    def render(self) -> str:
        head = _CUT_TAIL.sub("", self.text[: self.position])
        if self.sentence and head.endswith((".", "。")):
            head = head[:-1]
        if not head:
            return ""
        # An ellipsis glued to a link would become part of it: keep them apart.
        urls = find_urls(head)
        if urls and urls[-1][1] == len(head):
            return head + " " + ELLIPSIS
        return head + ELLIPSIS


def _cut_points(text: str, max_cost: int) -> list[_Cut]:
    spans = find_urls(text) + find_mentions(text)
    # Links and mentions cost little whatever their length; hashtags count in full.
    discounted = _positions_inside(spans)
    blocked = discounted | _positions_inside([match.span() for match in HASHTAG_RE.finditer(text)])

    # Cluster ends are the only places a cut may fall; past `max_cost` clusters
    # outside links and mentions nothing can fit, so a huge text costs no more.
    boundaries: list[int] = []
    cost = 0
    for cluster in _CLUSTER.finditer(text):
        if cluster.start() not in discounted:
            cost += 1
        if cost > max_cost + 1:
            break
        boundaries.append(cluster.end())
    reach = boundaries[-1] + 1 if boundaries else 0

    sentence_ends = {match.end() for match in _SENTENCE_END.finditer(text, 0, reach)}
    word_ends = {match.start() for match in _WHITESPACE.finditer(text, 0, reach)}
    word_ends |= {match.start() for match in _UNSPACED_BOUNDARY.finditer(text, 0, reach)}
    word_ends |= sentence_ends
    return [
        _Cut(
            text,
            position,
            sentence=position in sentence_ends,
            grapheme_only=position not in word_ends,
        )
        for position in boundaries
        if position < len(text) and position not in blocked
    ]


def _positions_inside(spans: Sequence[tuple[int, int]]) -> set[int]:
    """Positions strictly inside a span: cutting there would break it."""
    inside: set[int] = set()
    for start, end in spans:
        inside.update(range(start + 1, end))
    return inside


def _longest_fitting(cuts: list[_Cut], fits: Callable[[str], bool]) -> _Cut | None:
    """Binary search: the length of a cut grows with its position."""
    low, high, best = 0, len(cuts) - 1, None
    while low <= high:
        middle = (low + high) // 2
        if cuts[middle].render and fits(cuts[middle].render):
            best = cuts[middle]
            low = middle + 1
        else:
            high = middle - 1
    return best


def _tag_line(tags: Sequence[str]) -> str:
    return " ".join(f"#{tag}" for tag in tags)


def _tags_shown(template: str, fields: Mapping[str, Any]) -> set[str]:
    """Hashtags the toot shows outside its tag line, as Mastodon matches them."""
    return {
        normalize_tag(name) for name in find_hashtags(render(template, {**fields, "hashtags": ""}))
    }


def _hashtags_in(text: str) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for name in find_hashtags(text):
        seen.setdefault(normalize_tag(name), f"#{name}")
    return tuple(seen.values())


def _literal_text(template: str) -> str:
    return "".join(literal for literal, *_ in string.Formatter().parse(template))


def _unchanged(text: str) -> str:
    return text


def _content_warning(entry: Entry, options: FeedOptions) -> str:
    warning = (options.content_warning or "").strip()
    if not warning or not options.content_warning_categories:
        return warning
    wanted = {category_key(name) for name in options.content_warning_categories}
    if any(
        category_key(name) in wanted for name in entry.categories or () if isinstance(name, str)
    ):
        return warning
    return ""
