"""Parsing fetched bytes into entries with stable identities and absolute links."""

from __future__ import annotations

import calendar
import hashlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from crossposter.compose.images import declared_images, media_rss_images
from crossposter.compose.text import clean_title
from crossposter.errors import FeedError
from crossposter.models import Entry, FeedInfo, ImageRef, ParsedFeed

WEB_SCHEMES = ("http", "https")
# What a feed may make us handle, cut before anything else reads it: a hostile feed's
# 10 MB title would otherwise cost seconds and hundreds of MB to clean, and be stored
# whole in the state. Far above what any real article has.
MAX_TITLE = 1_000
MAX_AUTHOR = 200
MAX_CATEGORY = 200
MAX_CATEGORIES = 50
MAX_HTML = 200_000
# An entry's id and link are stored in the state as they are: a longer id is kept as
# its digest, a longer link is no link (the entry is then skipped as having none).
MAX_ID = 1_000
MAX_LINK = 4_000


def parse_feed(content: bytes, *, url: str, headers: dict[str, str] | None = None) -> ParsedFeed:
    """Parse a feed document; raise FeedError when it is not a feed at all.

    `url` is where the document came from: relative links are resolved against
    xml:base first (feedparser does that), then this URL when it is a web URL.
    """
    headers = {key.lower(): value for key, value in (headers or {}).items()}
    # Not handed to feedparser as Content-Location: it would urljoin every element of
    # the document against it (a quarter of a large feed's parse). The few links we use
    # are resolved against it here instead, after the document's own xml:base.
    headers.pop("content-location", None)
    # Languages come from the document only: a server's Content-Language is
    # often a site-wide default that would override the feed's own <language>.
    headers.pop("content-language", None)
    # Without a content type feedparser assumes ISO-8859-1 and garbles UTF-8 feeds;
    # application/xml lets the document's own XML declaration decide, as it should.
    headers.setdefault("content-type", "application/xml")
    if not content.strip():
        raise FeedError("the server sent an empty document")
    try:
        # Imported here: a run whose feeds all answer 304 never needs it (~10 ms).
        import feedparser

        # Entry HTML only ever becomes plain text (compose) or an image URL resolved
        # against the entry's link (images), so feedparser's sanitizing and URI
        # rewriting of every HTML fragment would be a quarter of the parse for nothing.
        parsed = feedparser.parse(
            content, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
        )
    except Exception as error:
        # feedparser reports most damage as `bozo`, but some damaged documents crash it
        # (a NUL in the declared encoding, a truncated <image>): they are not feeds either.
        reason = f"{type(error).__name__}: {error}"
        raise FeedError(f"not a feed: it cannot be read ({reason})") from None
    malformed = _malformed_reason(parsed)
    if not parsed.entries and not parsed.get("version"):
        if _looks_like_html(content, headers):
            raise FeedError("this is an HTML page, not a feed (wrong url?)")
        raise FeedError(f"not a feed: {malformed or 'no entries and no feed element'}")

    info = _feed_info(parsed)
    base = url if _is_web(url) else _feed_base(parsed)
    media_rss = media_rss_images(content, len(parsed.entries))
    entries = tuple(
        _entry(raw, base, media_rss[index] if media_rss else None)
        for index, raw in enumerate(parsed.entries)
    )
    return ParsedFeed(info=info, entries=entries, malformed=malformed)


def _feed_info(parsed: Any) -> FeedInfo:
    feed = parsed.feed
    link = feed.get("link")
    return FeedInfo(
        title=clean_title(_cut(feed.get("title"), MAX_TITLE)),
        link=link if link and _is_web(link) else None,
        language=feed.get("language") or _detail_language(feed, "title_detail"),
        hub=_linked(feed, "hub"),
        self_url=_linked(feed, "self"),
    )


def _linked(feed: Any, rel: str) -> str | None:
    """The first web address the feed links with `rel` (Atom <link>, RSS <atom:link>)."""
    for link in feed.get("links", []):
        href = link.get("href", "")
        if link.get("rel") == rel and _is_web(href):
            return _cut(href, MAX_LINK)
    return None


def _feed_base(parsed: Any) -> str | None:
    """For a local file, the feed's own web address is the best base for relative links."""
    feed = parsed.feed
    own = _linked(feed, "self")
    if own:
        return own
    link = feed.get("link")
    return link if link and _is_web(link) else None


def _entry(raw: Any, base: str | None, media_rss: tuple[ImageRef, ...] | None = None) -> Entry:
    link = _absolute_link(raw, base)
    title = clean_title(_cut(raw.get("title"), MAX_TITLE))
    published = _timestamp(_own(raw, "published_parsed") or _own(raw, "updated_parsed"))
    return Entry(
        id=_identity(raw, link, title, published),
        link=link,
        title=title,
        summary_html=_cut(raw.get("summary"), MAX_HTML),
        content_html=_cut(_content(raw), MAX_HTML),
        author=_cut(raw.get("author"), MAX_AUTHOR),
        categories=tuple(_categories(raw)),
        published=published,
        language=_entry_language(raw),
        images=declared_images(raw, base, media_rss),
        content_base=_content_base(raw, base),
    )


def _absolute_link(raw: Any, base: str | None) -> str | None:
    # FeedBurner swaps each link for a feedproxy.google.com redirect (a dead service)
    # and keeps the article's own address in feedburner:origLink.
    candidates = [raw.get("feedburner_origlink"), raw.get("link")]
    candidates += [
        link.get("href")
        for link in raw.get("links", [])
        if link.get("rel", "alternate") == "alternate"
    ]
    for candidate in candidates:
        # Measured before urljoin reads it: a megabyte link costs nothing.
        if not candidate or len(candidate) > MAX_LINK:
            continue
        candidate = candidate.strip()
        absolute = _join(base, candidate) if base else candidate
        if _is_web(absolute) and len(absolute) <= MAX_LINK:
            return absolute
    return None


def _identity(raw: Any, link: str | None, title: str, published: datetime | None) -> str:
    # feedparser copies the link into `id` when there is no guid; that is still the link.
    guid = (raw.get("id") or "").strip()
    if len(guid) > MAX_ID:
        return f"sha256:{hashlib.sha256(guid.encode(errors='surrogatepass')).hexdigest()}"
    if guid:
        return guid
    if link:
        return link
    date = (
        published.isoformat()
        if published
        else (_own(raw, "published") or _own(raw, "updated") or "")
    )
    digest = hashlib.sha256(f"{title}\x00{date}".encode()).hexdigest()[:32]
    return f"sha256:{digest}"


def _own(raw: Any, key: str) -> Any:
    """The value the entry really has: feedparser's .get() also answers `updated`
    with `published` (and warns), which would blur the two dates."""
    return dict.get(raw, key)


def _content_base(raw: Any, base: str | None) -> str | None:
    details = [*(raw.get("content") or []), raw.get("summary_detail") or {}]
    for detail in details:
        # A relative xml:base is relative to the feed's own address.
        declared = _join(base, detail["base"]) if base and detail.get("base") else None
        if _is_web(declared or detail.get("base")):
            return declared or detail["base"]
    return base


def _content(raw: Any) -> str:
    contents = raw.get("content") or []
    html = [part.get("value", "") for part in contents if part.get("value")]
    return "\n".join(html)


def _categories(raw: Any) -> list[str]:
    names: list[str] = []
    for tag in raw.get("tags") or []:
        term = _cut(tag.get("term") or tag.get("label"), MAX_CATEGORY).strip()
        if term and term not in names:
            names.append(term)
            if len(names) == MAX_CATEGORIES:
                break
    return names


def _cut(text: str | None, limit: int) -> str:
    return (text or "")[:limit]


def _entry_language(raw: Any) -> str | None:
    if raw.get("language"):  # the item's own <dc:language>
        return raw["language"]
    for detail in ("title_detail", "summary_detail"):
        language = _detail_language(raw, detail)
        if language:
            return language
    for content in raw.get("content") or []:
        if content.get("language"):
            return content["language"]
    return None


def _detail_language(node: Any, key: str) -> str | None:
    detail = node.get(key) or {}
    return detail.get("language") or None


def _timestamp(struct: Any) -> datetime | None:
    if not struct:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(struct), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _malformed_reason(parsed: Any) -> str | None:
    if not parsed.get("bozo"):
        return None
    error = parsed.get("bozo_exception")
    return f"{type(error).__name__}: {error}" if error else "malformed"


def _looks_like_html(content: bytes, headers: dict[str, str]) -> bool:
    content_type = headers.get("content-type", "")
    head = content[:1024].lstrip().lower()
    return "text/html" in content_type or head.startswith((b"<!doctype html", b"<html"))


def _join(base: str, url: str) -> str | None:
    """`url` resolved against `base`; None when a damaged feed makes either unparsable."""
    try:
        return urljoin(base, url)
    except ValueError:
        return None


def _is_web(url: str | None) -> bool:
    if not url:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[broken" is no address at all
        return False
    return parts.scheme.lower() in WEB_SCHEMES and bool(parts.netloc)
