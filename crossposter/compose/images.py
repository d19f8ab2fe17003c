"""Which image goes with an entry's toot, and the words that describe it.

Pure functions: parse.py asks `declared_images` what the feed offers, the
pipeline asks `choose_image` which one to attach; media.py does the network.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit
from xml.etree import ElementTree

from crossposter.compose.text import html_to_text
from crossposter.compose.toot import shorten
from crossposter.models import Entry, ImageRef, InstanceLimits

MEDIA_RSS = "http://search.yahoo.com/mrss/"
_CONTENT = f"{{{MEDIA_RSS}}}content"
_THUMBNAIL = f"{{{MEDIA_RSS}}}thumbnail"
_GROUP = f"{{{MEDIA_RSS}}}group"
_DESCRIPTION = f"{{{MEDIA_RSS}}}description"

TYPES_BY_EXTENSION = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".svg": "image/svg+xml",
}
# Emoji, smileys and tracking pixels are images too, but never the picture of an article.
_DECORATION_CLASSES = frozenset({"emoji", "wp-smiley", "custom-emoji"})
_WHITESPACE = re.compile(r"\s+")


def media_rss_images(document: bytes, entry_count: int) -> list[tuple[ImageRef, ...]] | None:
    """Media RSS images of each item, in document order, with their media:description.

    feedparser keeps media:content's URL but folds media:description into the
    entry's summary, so the descriptions are read here. None when the feed has
    no Media RSS or cannot be read strictly; its items then get no alt text from it.
    """
    if MEDIA_RSS.encode() not in document:
        return None
    try:
        # expat (≥ 2.4) refuses entity expansion bombs and ElementTree never fetches external ones.
        root = ElementTree.fromstring(document)
    except (ElementTree.ParseError, ValueError, LookupError):
        # LookupError: an encoding Python does not know, which feedparser may still read.
        return None
    items = [element for element in root.iter() if _local_name(element.tag) in ("item", "entry")]
    if len(items) != entry_count:
        return None
    return [tuple(_media_rss_of(item)) for item in items]


def _media_rss_of(item: ElementTree.Element) -> Iterator[ImageRef]:
    item_alt = _description(item)
    holders = [item, *item.iter(_GROUP)]
    contents = [content for holder in holders for content in holder.findall(_CONTENT)]
    for holder in holders:
        holder_alt = _description(holder) or item_alt
        for content in holder.findall(_CONTENT):
            url = content.get("url")
            if url and _is_image(content.get("type"), content.get("medium"), url):
                alt = _description(content) or holder_alt
                yield ImageRef(url, alt, _image_type(content.get("type"), url))
    # A thumbnail is an image by definition, but a smaller one: the contents go first.
    for holder in holders + contents:
        holder_alt = _description(holder) or item_alt
        for thumbnail in holder.findall(_THUMBNAIL):
            if thumbnail.get("url"):
                url = thumbnail.get("url", "")
                yield ImageRef(url, holder_alt, _type_from_url(url))


def _description(element: ElementTree.Element) -> str:
    node = element.find(_DESCRIPTION)
    if node is None or not node.text:
        return ""
    text = html_to_text(node.text) if node.get("type") == "html" else node.text
    return _one_line(text)


def declared_images(
    raw: Mapping[str, Any], base: str | None, media_rss: Sequence[ImageRef] | None = None
) -> tuple[ImageRef, ...]:
    """The images a feedparser entry declares, best first: Media RSS, then image enclosures.

    `media_rss` is what `media_rss_images` read for this entry (with alt text);
    without it, feedparser's own media_content/media_thumbnail are used.
    """
    found: list[ImageRef] = []
    if media_rss is not None:
        found += media_rss
    else:
        for content in raw.get("media_content") or []:
            url = content.get("url")
            if url and _is_image(content.get("type"), content.get("medium"), url):
                found.append(ImageRef(url, "", _image_type(content.get("type"), url)))
        for thumbnail in raw.get("media_thumbnail") or []:
            if thumbnail.get("url"):
                found.append(ImageRef(thumbnail["url"], "", _type_from_url(thumbnail["url"])))
    for enclosure in raw.get("enclosures") or []:
        url = enclosure.get("href") or enclosure.get("url")
        # An enclosure is a podcast's audio as often as a picture: only a known image counts.
        kind = _image_type(enclosure.get("type"), url)
        if url and kind:
            found.append(ImageRef(url, "", kind))
    images = []
    for image in found:
        url = _absolute(image.url, base)
        if url and all(url != known.url for known in images):
            images.append(ImageRef(url, image.alt, image.type))
    return tuple(images)


def choose_image(entry: Entry, limits: InstanceLimits) -> ImageRef | None:
    """The image to attach: a declared one, else the first picture of the content.

    One whose type the instance is known to refuse (an SVG logo) is passed
    over. Its alt text is the feed's description of it, else the `alt` the
    article gives it, else the article's title; never longer than the
    instance's description limit.
    """
    pictures = list(_content_pictures(entry))
    usable = [
        image
        for image in (*entry.images, *pictures)
        if image.type is None or image.type in limits.supported_mime_types
    ]
    if not usable:
        return None
    chosen = usable[0]
    written = next((image.alt for image in pictures if image.url == chosen.url and image.alt), "")
    alt = chosen.alt or written or entry.title
    return ImageRef(chosen.url, cut_description(alt, limits.description_limit), chosen.type)


def _content_pictures(entry: Entry) -> Iterator[ImageRef]:
    markup = entry.content_html or entry.summary_html
    if "<img" not in markup.lower():
        return
    # Imported here: bs4 costs ~40 ms at start, and most runs parse no content at all.
    from bs4 import BeautifulSoup

    for image in BeautifulSoup(markup, "html.parser").find_all("img"):
        if _is_decoration(image):
            continue
        url = _absolute((image.get("src") or "").strip(), entry.content_base or entry.link)
        if url:
            yield ImageRef(url, _one_line(image.get("alt") or ""), _type_from_url(url))


def _is_decoration(image: Any) -> bool:
    classes = image.get("class") or []
    if _DECORATION_CLASSES.intersection(classes):
        return True
    return image.get("width") in ("0", "1") or image.get("height") in ("0", "1")


def cut_description(text: str, limit: int) -> str:
    """`text` within `limit`, cut as a toot's summary is, ending with an ellipsis when cut.

    Mastodon checks the description's length in code points (Ruby's
    String#length), which is never fewer than its graphemes: cutting on
    grapheme boundaries while counting code points keeps both safe.
    """
    return shorten(text.strip(), limit, length=len)


def _is_image(declared: str | None, medium: str | None, url: str) -> bool:
    """Whether a media:content is a picture (and not a video, a sound or a document)."""
    if (declared or "").strip():
        return _image_type(declared, url) is not None
    return (medium or "").strip().lower() == "image" or _type_from_url(url) is not None


def _image_type(declared: str | None, url: str | None) -> str | None:
    """The declared image type, else the one the URL's extension suggests; None if not an image."""
    declared = (declared or "").split(";")[0].strip().lower()
    if declared:
        return declared if declared.startswith("image/") else None
    return _type_from_url(url)


def _type_from_url(url: str | None) -> str | None:
    if not url:
        return None
    extension = posixpath.splitext(urlsplit(url).path)[1].lower()
    return TYPES_BY_EXTENSION.get(extension)


def _absolute(url: str, base: str | None) -> str | None:
    if not url or url.startswith("data:"):
        return None
    absolute = urljoin(base, url) if base else url
    parts = urlsplit(absolute)
    return absolute if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def _one_line(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def _local_name(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""
