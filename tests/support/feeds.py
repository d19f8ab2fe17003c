"""Build small RSS 2.0 / Atom 1.0 fixture documents from lists of dicts.

Item keys (all optional): ``title``, ``link``, ``guid`` (Atom: ``id``; defaults to the link),
``guid_is_permalink`` (RSS, bool), ``description`` (Atom: ``summary``; escaped, so HTML is
fine), ``content`` (RSS ``content:encoded`` / Atom ``content type="html"``), ``categories``
(list of str), ``pubDate`` (Atom: ``published``; a datetime, or a str used as is),
``updated`` (Atom; defaults to pubDate), ``language`` (RSS ``dc:language``, Atom ``xml:lang``),
``author``, ``enclosure`` (dict url/type/length, RSS only).

    rss([{"title": "Hello", "link": "https://blog.example/hello", "categories": ["python"]}])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

__all__ = ["atom", "rss"]


def _rfc822(value: Any) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return format_datetime(value)
    return str(value)


def _rfc3339(value: Any) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.isoformat()
    return str(value)


def _el(name: str, value: Any, attrs: str = "") -> str:
    if value is None:
        return ""
    return f"<{name}{attrs}>{escape(str(value))}</{name}>"


def rss(
    items: Iterable[Mapping[str, Any]],
    title: str = "Test blog",
    link: str = "https://blog.example.org/",
    language: str | None = "en",
    description: str = "A blog used in tests",
) -> str:
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/">',
        "<channel>",
        _el("title", title),
        _el("link", link),
        _el("description", description),
        _el("language", language),
    ]
    for item in items:
        parts.append("<item>")
        parts.append(_el("title", item.get("title")))
        parts.append(_el("link", item.get("link")))
        guid = item.get("guid", item.get("id"))
        if guid is not None:
            permalink = item.get("guid_is_permalink")
            attr = "" if permalink is None else f' isPermaLink="{str(bool(permalink)).lower()}"'
            parts.append(_el("guid", guid, attr))
        parts.append(_el("description", item.get("description", item.get("summary"))))
        if item.get("content") is not None:
            parts.append(_el("content:encoded", item["content"]))
        for cat in item.get("categories") or ():
            parts.append(_el("category", cat))
        date = item.get("pubDate", item.get("published"))
        if date is not None:
            parts.append(_el("pubDate", _rfc822(date)))
        parts.append(_el("dc:language", item.get("language")))
        parts.append(_el("author", item.get("author")))
        enc = item.get("enclosure")
        if enc:
            parts.append(
                f"<enclosure url={quoteattr(enc['url'])} type={quoteattr(enc.get('type', ''))}"
                f" length={quoteattr(str(enc.get('length', 0)))}/>"
            )
        parts.append("</item>")
    parts += ["</channel>", "</rss>"]
    return "\n".join(p for p in parts if p)


def atom(
    items: Iterable[Mapping[str, Any]],
    title: str = "Test blog",
    link: str = "https://blog.example.org/",
    language: str | None = "en",
    id: str | None = None,
    updated: Any = None,
    author: str = "Test Author",
) -> str:
    items = list(items)
    lang = f" xml:lang={quoteattr(language)}" if language else ""
    if updated is None:
        dates = [i.get("updated", i.get("pubDate", i.get("published"))) for i in items]
        dates = [d for d in dates if d is not None]
        updated = dates[0] if dates else datetime(2024, 1, 1, tzinfo=UTC)
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<feed xmlns="http://www.w3.org/2005/Atom"{lang}>',
        _el("title", title),
        f'<link rel="alternate" href={quoteattr(link)}/>',
        _el("id", id or link),
        _el("updated", _rfc3339(updated)),
        f"<author>{_el('name', author)}</author>",
    ]
    for item in items:
        entry_lang = item.get("language")
        attr = f" xml:lang={quoteattr(entry_lang)}" if entry_lang else ""
        parts.append(f"<entry{attr}>")
        parts.append(_el("title", item.get("title")))
        if item.get("link") is not None:
            parts.append(f'<link rel="alternate" href={quoteattr(item["link"])}/>')
        parts.append(_el("id", item.get("guid", item.get("id", item.get("link")))))
        published = item.get("pubDate", item.get("published"))
        upd = item.get("updated", published)
        if published is not None:
            parts.append(_el("published", _rfc3339(published)))
        if upd is not None:
            parts.append(_el("updated", _rfc3339(upd)))
        summary = item.get("description", item.get("summary"))
        if summary is not None:
            parts.append(_el("summary", summary, ' type="html"'))
        if item.get("content") is not None:
            parts.append(_el("content", item["content"], ' type="html"'))
        for cat in item.get("categories") or ():
            parts.append(f"<category term={quoteattr(cat)}/>")
        if item.get("author"):
            parts.append(f"<author>{_el('name', item['author'])}</author>")
        parts.append("</entry>")
    parts.append("</feed>")
    return "\n".join(p for p in parts if p)
