"""A toot's text as Mastodon's web interface shows it: pure functions, no I/O.

Mastodon turns a plain-text status into HTML in TextFormatter: links become
anchors showing the URL without `https://` and `www.`, cut after 30 characters
with an ellipsis; `#tags` link to the instance's tag page; a blank line starts a
paragraph and a single newline is a line break (Rails' simple_format). Mentions
made inert by a WORD JOINER are no mentions to it: they stay text.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from urllib.parse import quote

from crossposter.compose.hashtags import HASHTAG_RE
from crossposter.compose.length import find_mentions, find_urls

# TextFormatter::URL_PREFIX_REGEX and the 30 characters of shortened_link.
_URL_PREFIX = re.compile(r"\A(?:https?://(?:www\.)?|xmpp:)", re.IGNORECASE)
SHOWN_URL_LENGTH = 30
_PARAGRAPHS = re.compile(r"\n\n+")
_LINKABLE = re.compile(r"\Ahttps?://", re.IGNORECASE)


@dataclass(frozen=True)
class Segment:
    """A piece of a rendered status: "text", "link", "hashtag", "mention" or "br".

    `text` is what the reader sees; a link's `cut` says Mastodon ends it with "…".
    `href` is set only for http(s) targets: nothing else may become a live link.
    """

    kind: str
    text: str = ""
    href: str = ""
    cut: bool = False


BREAK = Segment("br")


def shortened_link(url: str) -> Segment:
    """A URL as Mastodon shows it: no scheme or `www.`, at most 30 characters then "…"."""
    prefix = _URL_PREFIX.match(url)
    shown = url[prefix.end() if prefix else 0 :]
    href = url if _LINKABLE.match(url) else ""
    return Segment(
        "link", shown[:SHOWN_URL_LENGTH], href=href, cut=len(shown) > SHOWN_URL_LENGTH
    )


def _line_segments(line: str, instance_url: str) -> list[Segment]:
    spans: list[tuple[int, int, str]] = [(s, e, "link") for s, e in find_urls(line)]
    spans += [(s, e, "mention") for s, e in find_mentions(line)]
    for match in HASHTAG_RE.finditer(line):
        # The "#" is part of what is linked; a tag inside a URL belongs to the URL.
        start, end = match.start(), match.end()
        spans.append((start, end, "hashtag"))
    spans.sort()
    segments: list[Segment] = []
    position = 0
    for start, end, kind in spans:
        if start < position:
            continue  # inside an entity already taken (a URL's fragment)
        if start > position:
            segments.append(Segment("text", line[position:start]))
        entity = line[start:end]
        if kind == "link":
            segments.append(shortened_link(entity))
        elif kind == "hashtag":
            tag = entity[1:]
            href = f"{instance_url.rstrip('/')}/tags/{quote(tag)}" if instance_url else ""
            segments.append(Segment("hashtag", tag, href=href))
        else:
            segments.append(Segment("mention", entity))
        position = end
    if position < len(line):
        segments.append(Segment("text", line[position:]))
    return segments


def render_status(text: str, instance_url: str = "") -> tuple[tuple[Segment, ...], ...]:
    """`text` as the paragraphs of segments Mastodon's web interface shows."""
    paragraphs = []
    for paragraph in _PARAGRAPHS.split(text.strip()):
        segments: list[Segment] = []
        for number, line in enumerate(paragraph.split("\n")):
            if number:
                segments.append(BREAK)
            segments.extend(_line_segments(line, instance_url))
        paragraphs.append(tuple(segments))
    return tuple(paragraphs)


# Words, and the spaces between them, so that a changed word is marked and not its line.
_TOKENS = re.compile(r"\s+|[^\s]+")


@dataclass(frozen=True)
class Marked:
    """A run of a toot's text in an edit; `changed` when it is not on the other side."""

    text: str
    changed: bool = False


def word_changes(before: str, after: str) -> tuple[tuple[Marked, ...], tuple[Marked, ...]]:
    """`before` and `after` cut into runs, with the words removed and added marked."""
    old, new = _TOKENS.findall(before), _TOKENS.findall(after)
    removed: list[Marked] = []
    added: list[Marked] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        changed = tag != "equal"
        if i2 > i1:
            removed.append(Marked("".join(old[i1:i2]), changed))
        if j2 > j1:
            added.append(Marked("".join(new[j1:j2]), changed))
    return tuple(removed), tuple(added)
