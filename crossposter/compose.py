"""Turning an entry into a toot that Mastodon accepts: pure functions, no I/O.

The budget is spent in this order: the link is never cut; the configured
hashtags always stay; category hashtags are dropped from the end when the
title, link and tags alone would not fit; the title is trimmed only when it
alone leaves no room; the summary gets whatever is left, cut at a sentence or
word boundary.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import regex

from crossposter.hashtags import DEFAULT_SKIPPED_CATEGORIES, hashtags_for
from crossposter.language import choose_language
from crossposter.length import (
    find_mentions,
    find_urls,
    grapheme_count,
    mastodon_length,
)
from crossposter.models import Entry, FeedInfo, InstanceLimits, Toot
from crossposter.text import clean_title, neutralize_mentions, summary_text

ELLIPSIS = "…"
DEFAULT_TEMPLATE = "{title}\n\n{summary}\n\n{url}\n\n{hashtags}"
TEMPLATE_FIELDS = frozenset(
    {"title", "summary", "url", "hashtags", "author", "feed_title", "categories", "published"}
)
_SENTENCE_END = re.compile(r"[.!?…。！？](?=\s)")
_HASHTAG = re.compile(r"(?<!\S)#\w+")


class TemplateError(ValueError):
    """The template cannot be used; raised when the configuration is loaded."""


class UnpostableEntry(ValueError):
    """The entry cannot become a toot (no usable link, or a link longer than the limit)."""


@dataclass(frozen=True)
class ComposeOptions:
    """The per-feed settings composition depends on."""

    template: str = DEFAULT_TEMPLATE
    visibility: str | None = None
    language: str | None = None
    force_language: bool = False
    hashtags: Sequence[str] = ()
    category_hashtags: bool = True
    hashtag_map: Mapping[str, str] = field(default_factory=dict)
    skip_categories: Sequence[str] = DEFAULT_SKIPPED_CATEGORIES
    max_hashtags: int = 5
    summary_max: int | None = None
    neutralize_mentions: bool = True
    content_warning: str = ""
    content_warning_categories: Sequence[str] = ()


class _Date:
    """Lets `{published:%d/%m/%Y}` work, and render as nothing when the date is unknown."""

    def __init__(self, moment: datetime | None):
        self.moment = moment

    def __format__(self, spec: str) -> str:
        if self.moment is None:
            return ""
        return self.moment.strftime(spec) if spec else self.moment.date().isoformat()

    def __str__(self) -> str:
        return format(self, "")


def check_template(template: str) -> None:
    """Refuse a template that could fail or leak when a toot is composed."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        raise TemplateError(f"malformed template: {error}") from None
    names = set()
    for _literal, name, _spec, _conversion in parsed:
        if name is None:
            continue
        if name == "" or not name.isidentifier():
            raise TemplateError(
                f"template field {{{name}}} is not allowed: use a name such as {{title}}"
            )
        if name not in TEMPLATE_FIELDS:
            known = ", ".join(sorted(TEMPLATE_FIELDS))
            raise TemplateError(f"unknown template field {{{name}}}; known fields: {known}")
        names.add(name)
    if "url" not in names:
        raise TemplateError("the template must contain {url}: a toot always links its article")
    try:
        _render(template, _sample_fields())
    except (ValueError, TypeError, KeyError, IndexError) as error:
        raise TemplateError(f"template cannot be rendered: {error}") from None


def compose(
    entry: Entry,
    feed: FeedInfo,
    options: ComposeOptions,
    limits: InstanceLimits = InstanceLimits(),
) -> Toot:
    """The toot for `entry`, within the instance's limit as Mastodon counts it."""
    if not entry.link:
        raise UnpostableEntry("the entry has no usable link")
    url_cost = limits.characters_reserved_per_url
    spoiler = _content_warning(entry, options)
    budget = limits.max_characters - mastodon_length(spoiler)

    title = clean_title(entry.title)
    summary = summary_text(entry.summary_html, entry.content_html)
    if options.neutralize_mentions:
        title = neutralize_mentions(title)
        summary = neutralize_mentions(summary)
    if summary and grapheme_count(summary) > 0 and summary.strip() == title.strip():
        summary = ""  # engines without excerpts repeat the title; once is enough
    if options.summary_max is not None and grapheme_count(summary) > options.summary_max:
        summary = shorten(summary, options.summary_max)

    fixed, from_categories = _hashtags(entry, title, summary, options)
    fields = {
        "title": title,
        "summary": "",
        "url": entry.link,
        "hashtags": "",
        "author": clean_title(entry.author),
        "feed_title": feed.title,
        "categories": ", ".join(entry.categories),
        "published": _Date(entry.published),
    }

    def length_with(**changes: Any) -> int:
        return mastodon_length(_render(options.template, {**fields, **changes}), url_cost=url_cost)

    tags = list(fixed) + list(from_categories)
    fields["hashtags"] = _tag_line(tags)
    while len(tags) > len(fixed) and length_with() > budget:
        tags.pop()
        fields["hashtags"] = _tag_line(tags)

    if length_with() > budget:
        fields["title"] = _fit(title, lambda t: length_with(title=t) <= budget)
        if length_with() > budget:
            raise UnpostableEntry(
                f"the link and configured hashtags alone exceed the {limits.max_characters}-"
                "character limit"
            )

    if summary:
        fields["summary"] = _fit(summary, lambda s: length_with(summary=s) <= budget)

    text = _render(options.template, fields)
    return Toot(
        text=text,
        language=choose_language(
            entry.language,
            feed.language,
            options.language,
            options.language if options.force_language else None,
        ),
        visibility=options.visibility,
        spoiler_text=spoiler,
        hashtags=tuple(f"#{tag}" for tag in tags),
        length=mastodon_length(text, spoiler, url_cost=url_cost),
        limit=limits.max_characters,
    )


def shorten(text: str, max_graphemes: int) -> str:
    """`text` cut to at most `max_graphemes`, with an ellipsis, at the best boundary."""
    return _fit(text, lambda candidate: grapheme_count(candidate) <= max_graphemes)


def _fit(text: str, fits: Any) -> str:
    """The longest good cut of `text` that `fits`; '' when not even one word does.

    Cuts fall at sentence ends, else between words, else (for text written
    without spaces) between grapheme clusters; never inside a URL, mention or
    hashtag.
    """
    if fits(text):
        return text
    cuts = _cut_points(text)
    best = _longest_fitting(cuts, fits)
    if best is None:
        return ""
    sentence_cuts = [cut for cut in cuts if cut.sentence and cut.position <= best.position]
    # A clean sentence end is better than a few more words, unless it wastes most of the room.
    if sentence_cuts and sentence_cuts[-1].position >= best.position * 0.6:
        return sentence_cuts[-1].render
    return best.render


@dataclass(frozen=True)
class _Cut:
    text: str
    position: int
    sentence: bool
    grapheme_cut: bool = False

    @property
    def render(self) -> str:
        if self.grapheme_cut:
            return self.text[: self.position] + ELLIPSIS
        return _with_ellipsis(self.text[: self.position].rstrip(), self.sentence)


def _cut_points(text: str) -> list[_Cut]:
    protected = find_urls(text) + find_mentions(text)
    protected += [match.span() for match in _HASHTAG.finditer(text)]

    def inside_protected(index: int) -> bool:
        return any(start < index < end for start, end in protected)

    sentence_ends = {match.end() for match in _SENTENCE_END.finditer(text)}
    cuts = []
    for match in re.finditer(r"\s+", text):
        position = match.start()
        if position == 0 or inside_protected(position):
            continue
        cuts.append(_Cut(text, position, sentence=position in sentence_ends))
    if not cuts:
        # No spaces at all (Chinese, Japanese): cut between grapheme clusters instead.
        for cluster in regex.finditer(r"\X", text):
            position = cluster.end()
            if position < len(text) and not inside_protected(position):
                cuts.append(_Cut(text, position, sentence=False, grapheme_cut=True))
    return cuts


def _longest_fitting(cuts: list[_Cut], fits: Any) -> _Cut | None:
    """Binary search: the length of a cut grows with its position."""
    low, high, best = 0, len(cuts) - 1, None
    while low <= high:
        middle = (low + high) // 2
        if fits(cuts[middle].render):
            best = cuts[middle]
            low = middle + 1
        else:
            high = middle - 1
    return best


def _with_ellipsis(head: str, sentence_end: bool) -> str:
    head = head.rstrip(" ,;:–—-")
    if sentence_end and head.endswith("."):
        head = head[:-1]
    return head + ELLIPSIS


def _hashtags(
    entry: Entry, title: str, summary: str, options: ComposeOptions
) -> tuple[list[str], list[str]]:
    template_text = options.template
    return hashtags_for(
        entry.categories if options.category_hashtags else (),
        fixed=options.hashtags,
        mapping=dict(options.hashtag_map),
        skip=options.skip_categories,
        limit=options.max_hashtags,
        already_in_text=f"{template_text}\n{title}\n{summary}",
    )


def _tag_line(tags: Sequence[str]) -> str:
    return " ".join(f"#{tag}" for tag in tags)


def _content_warning(entry: Entry, options: ComposeOptions) -> str:
    if not options.content_warning:
        return ""
    if not options.content_warning_categories:
        return options.content_warning.strip()
    wanted = {name.casefold() for name in options.content_warning_categories}
    if any(category.casefold() in wanted for category in entry.categories):
        return options.content_warning.strip()
    return ""


def _render(template: str, fields: Mapping[str, Any]) -> str:
    text = template.format_map(fields)
    # An empty field must not leave a hole: trailing spaces and runs of blank lines go.
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _sample_fields() -> dict[str, Any]:
    return {
        "title": "Title",
        "summary": "Summary.",
        "url": "https://example.org/post",
        "hashtags": "#Tag",
        "author": "Author",
        "feed_title": "Blog",
        "categories": "Tag",
        "published": _Date(datetime(2024, 1, 31, 12, 0)),
    }
