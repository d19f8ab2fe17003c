"""Turning feed HTML into the plain text of a toot.

Pure functions only: no I/O, no logging. Feeds give HTML (or plain text that
may still hold entities, sometimes escaped twice); Mastodon wants plain text.
"""

from __future__ import annotations

import html as _html
import re
import unicodedata
from collections.abc import Iterator
from typing import TYPE_CHECKING

import regex

# bs4 is imported where HTML is read (~70 ms): a run that finds nothing new reads none.
if TYPE_CHECKING:
    from bs4 import BeautifulSoup, Tag

__all__ = [
    "HIDDEN_CHARACTERS",
    "clean_title",
    "drop_bylines",
    "html_to_text",
    "neutralize_link_mentions",
    "neutralize_mentions",
    "strip_cruft",
    "summary_text",
]

# --------------------------------------------------------------------------- HTML → text

# Elements whose content never belongs in a toot.
_DROPPED = frozenset(
    {
        "script",
        "style",
        "iframe",
        "noscript",
        "template",
        "head",
        "title",
        "meta",
        "link",
        "svg",
        "math",
        "object",
        "embed",
        "audio",
        "video",
        "canvas",
        "map",
        "form",
        "button",
        "input",
        "select",
        "textarea",
        # The caption of an image that is not shown would dangle on its own.
        "figcaption",
    }
)
# A summary is prose: a code listing quoted whole would read as noise in a toot.
_CODE_BLOCKS = frozenset({"pre"})
# Classes of things blog engines and plugins bolt onto content: the "more" link
# (WordPress), share buttons and related posts (Jetpack), FeedBurner flares.
_DROPPED_CLASSES = frozenset({"more-link", "sharedaddy", "jp-relatedposts", "feedflare"})
# Blocks separated from their neighbours by a blank line.
_PARAGRAPH = frozenset(
    {
        "p",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "section",
        "article",
        "header",
        "footer",
        "aside",
        "figure",
        "table",
        "hr",
        "dl",
        "main",
        "nav",
        "details",
    }
)
# Blocks that only start a new line.
_LINE = frozenset(
    {
        "div",
        "li",
        "ul",
        "ol",
        "dt",
        "dd",
        "tr",
        "address",
        "center",
        "summary",
        "caption",
        "fieldset",
        "legend",
        "tbody",
        "thead",
        "tfoot",
    }
)
_CELLS = frozenset({"td", "th"})

# HTML collapses ASCII whitespace only; NBSP and NNBSP (French typography) stay.
_HTML_SPACE = re.compile(r"[ \t\n\r\f\v\u2028\u2029]+")
# What a toot must not carry, as a character-class body: the C0 and C1 controls
# (but tab and line ends, which are whitespace), and what makes a toot show something
# other than what it is: bidirectional embeddings, overrides and isolates
# (U+202A-U+202E, U+2066-U+2069) reorder what follows them; U+200B, U+2060 and U+FEFF
# hide word boundaries. ZWNJ, ZWJ, LRM and RLM (U+200C-U+200F) stay: Persian, Indic,
# Arabic and Hebrew text and emoji need them.
HIDDEN_CHARACTERS = (
    r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u202a-\u202e\u2060\u2066-\u2069\ufeff"
)
_CONTROL = re.compile(f"[{HIDDEN_CHARACTERS}]")
# Entities that survive one decoding (double-escaped feeds). Only the forms
# ending in ';' are decoded again, so "?a=1&para=2" in plain text stays intact.
_ENTITY = re.compile(r"&(?:#[0-9]{1,8}|#[xX][0-9a-fA-F]{1,8}|[A-Za-z][A-Za-z0-9]{1,31});")


_NON_BREAKING = frozenset("\u00a0\u202f\u2007")
_SPACE_RUN = re.compile(r"[^\S\n]{2,}")


def _collapse_spaces(match: re.Match[str]) -> str:
    """A run of spaces as one: non-breaking if it was only non-breaking ones."""
    run = match.group(0)
    return run[0] if all(char in _NON_BREAKING for char in run) else " "


class _Break:
    """A line break: `additive` ones (<br>) add up, block boundaries take the maximum."""

    __slots__ = ("additive", "count")

    def __init__(self, count: int, additive: bool) -> None:
        self.count = count
        self.additive = additive


_BR = _Break(1, additive=True)
_LINE_BREAK = _Break(1, additive=False)
_PARAGRAPH_BREAK = _Break(2, additive=False)


def _classes(element: Tag) -> list[str]:
    value = element.get("class") or []
    return value.split() if isinstance(value, str) else list(value)


def _is_hidden(element: Tag) -> bool:
    if element.has_attr("hidden"):
        return True
    style = element.get("style")
    if isinstance(style, str):
        compact = style.replace(" ", "").lower()
        return "display:none" in compact or "visibility:hidden" in compact
    return False


def _emoji_alt(image: Tag) -> str:
    """The emoji an <img> stands for (WordPress, Twemoji), or '' for any other image."""
    classes = _classes(image)
    src = image.get("src")
    is_emoji = (
        "wp-smiley" in classes
        or "emoji" in classes
        or (isinstance(src, str) and "/images/core/emoji/" in src)
    )
    alt = image.get("alt")
    if is_emoji and isinstance(alt, str):
        return alt.strip()
    return ""


def _text_tokens(text: str, in_pre: bool) -> Iterator[str | _Break]:
    if not in_pre:
        yield text
        return
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for index, line in enumerate(lines):
        if index:
            yield _BR
        yield line


def _walk(root: Tag, dropped: frozenset[str] = _DROPPED) -> Iterator[str | _Break]:
    """Text and breaks of `root`, in document order.

    Iterative: unclosed tags in malformed feeds can nest thousands deep.
    """
    from bs4 import CData, NavigableString, Tag
    from bs4.element import PreformattedString

    # Each frame: the children still to visit, whether inside <pre>, what to emit after.
    stack: list[tuple[Iterator[object], bool, tuple[str | _Break, ...]]] = [
        (iter(list(root.children)), False, ())
    ]
    while stack:
        children, in_pre, closing = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            yield from closing
            continue
        if isinstance(child, NavigableString):
            if isinstance(child, PreformattedString) and not isinstance(child, CData):
                continue  # comments, doctypes, processing instructions
            yield from _text_tokens(str(child), in_pre)
            continue
        if not isinstance(child, Tag):
            continue
        name = (child.name or "").lower()
        if name in dropped or _is_hidden(child) or _DROPPED_CLASSES.intersection(_classes(child)):
            continue
        if name == "br":
            yield _BR
            continue
        if name == "img":
            alt = _emoji_alt(child)
            if alt:
                yield alt
            continue
        inner_pre = in_pre or name == "pre"
        after: tuple[str | _Break, ...] = ()
        if name in _PARAGRAPH:
            yield _PARAGRAPH_BREAK
            after = (_PARAGRAPH_BREAK,)
        elif name == "li":
            yield _LINE_BREAK
            yield _bullet(child)
            after = (_LINE_BREAK,)
        elif name in _LINE:
            yield _LINE_BREAK
            after = (_LINE_BREAK,)
        elif name in _CELLS:
            yield " "
            after = (" ",)
        stack.append((iter(list(child.children)), inner_pre, after))


def _bullet(item: Tag) -> str:
    from bs4 import Tag

    parent = item.parent
    if isinstance(parent, Tag) and parent.name == "ol":
        start = parent.get("start")
        try:
            first = int(start) if isinstance(start, str) else 1
        except ValueError:
            first = 1
        position = sum(1 for sibling in item.find_previous_siblings("li"))
        return f"{first + position}. "
    return "• "


def _decode_remaining_entities(text: str) -> str:
    """Decode entities left by double escaping (`&amp;#8217;`), until none changes."""
    for _ in range(10):
        decoded = _ENTITY.sub(lambda m: _html.unescape(m.group(0)), text)
        if decoded == text:
            break
        text = decoded
    return text


def _finish_line(raw: str) -> str:
    line = _HTML_SPACE.sub(" ", raw)
    line = _CONTROL.sub("", _decode_remaining_entities(line))
    # "&nbsp; " between sentences: one space, as a reader would expect.
    line = _SPACE_RUN.sub(_collapse_spaces, line)
    return line.strip()


def _assemble(tokens: Iterator[str | _Break]) -> str:
    lines: list[str] = []
    pending = 0  # newlines owed before the next text
    buffer: list[str] = []

    def flush() -> None:
        nonlocal pending
        text = _finish_line("".join(buffer))
        buffer.clear()
        if text:
            if lines:
                lines.append("\n" * min(max(pending, 1), 2) if pending else " ")
            lines.append(text)
            pending = 0

    for token in tokens:
        if isinstance(token, _Break):
            if "".join(buffer).strip(" \t\n\r\f\v"):
                flush()
            else:
                buffer.clear()
            if not lines:
                continue  # breaks before any text are dropped
            pending = pending + token.count if token.additive else max(pending, token.count)
        else:
            buffer.append(token)
    flush()
    text = "".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _soup(markup: str) -> BeautifulSoup:
    # The trailing newline works around html.parser losing the "&" of an unknown
    # reference at the very end ("R&D" would become "RD"); it is whitespace anyway.
    from bs4 import BeautifulSoup
    from bs4.exceptions import ParserRejectedMarkup

    try:
        return BeautifulSoup(markup + "\n", "html.parser")
    except ParserRejectedMarkup:
        # html.parser gives up on an unfinished "<![": read every "<!" but a comment as text.
        return BeautifulSoup(re.sub(r"<!(?!--)", "&lt;!", markup) + "\n", "html.parser")


def html_to_text(html: str, *, code_blocks: bool = True, headings: bool = True) -> str:
    """Plain text of an HTML fragment, paragraphs separated by one blank line.

    Scripts, styles, embeds, forms, hidden elements, figure captions, WordPress
    "more" links and Jetpack/FeedBurner bolt-ons are dropped (and `<pre>` code
    blocks when `code_blocks` is False, and headings with data tables, whose
    header cells are headings too, when `headings` is False); emoji images become their emoji; other
    images disappear; entities are decoded (also when escaped twice); inline
    whitespace collapses as a browser would collapse it.
    """
    if not html or not html.strip():
        return ""
    if not _MARKUP.search(html):
        # Plain text: its line breaks are meant, its entities still decoded.
        return _assemble(iter(_plain_tokens(html)))
    soup = _soup(html)
    _drop_related_links(soup)
    if not headings:
        _drop_headings(soup)
    return _assemble(_walk(soup, _DROPPED if code_blocks else _DROPPED | _CODE_BLOCKS))


_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")


def _drop_headings(soup: BeautifulSoup) -> None:
    """Remove headings, and tables that have header cells (data, not layout)."""
    for heading in soup.find_all(_HEADINGS):
        heading.decompose()
    for table in soup.find_all("table"):
        if not table.decomposed and table.find("th") is not None:
            table.decompose()


# "Related: <a>Another article</a>", "More: <a>X</a> | <a>Y</a>" (The Guardian), "Lire
# aussi : <a>...</a>": links to other articles, which read as noise in a toot.
_RELATED_LABEL = re.compile(
    r"^\s*(?:related(?:\s+(?:articles?|posts?|stories|reading))?|more|see\s+also|read\s+more"
    r"|read\s+also|also\s+read|(?:à\s+)?lire\s+aussi|voir\s+aussi|lesen\s+sie\s+auch|siehe\s+auch"
    r"|mehr\s+zum\s+thema|le[ae]r?\s+también|ver\s+también|leia\s+também|veja\s+também"
    r"|leggi\s+anche|lees\s+ook)\s*:\s*$",
    re.IGNORECASE,
)
_LINK_SEPARATORS = " \t\n\r\f\u00a0|,;•·/–—-"
_INLINE_WRAPPERS = frozenset({"span", "strong", "b", "em", "i"})


def _drop_related_links(soup: BeautifulSoup) -> None:
    """Remove a related-articles label with the links that follow it on its line.

    Only when nothing but links (and separators) follows the label up to the
    next line break, and nothing precedes it on its line: "More: the release is
    out." stays.
    """
    from bs4 import NavigableString, Tag

    def is_blank(node: object) -> bool:
        return isinstance(node, NavigableString) and not str(node).strip(_LINK_SEPARATORS)

    for label in list(soup.find_all(string=_RELATED_LABEL)):
        node: Tag | NavigableString = label
        parent = label.parent
        if (
            isinstance(parent, Tag)
            and parent.name in _INLINE_WRAPPERS
            and len(parent.contents) == 1
        ):
            node = parent
        before = node.previous_sibling
        while before is not None and is_blank(before):
            before = before.previous_sibling
        if before is not None and not (isinstance(before, Tag) and before.name == "br"):
            continue
        run = []
        after = node.next_sibling
        while after is not None and not (isinstance(after, Tag) and after.name == "br"):
            run.append(after)
            after = after.next_sibling
        links = [item for item in run if not is_blank(item)]
        if not links or any(not (isinstance(item, Tag) and item.name == "a") for item in links):
            continue
        for item in (node, *run):
            item.extract()


_MARKUP = re.compile(r"<[A-Za-z!/?]")


def _plain_tokens(text: str) -> list[str | _Break]:
    tokens: list[str | _Break] = []
    for index, line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n")):
        if index:
            tokens.append(_BR)
        tokens.append(line)
    return tokens


# --------------------------------------------------------------------------- cruft

_ARROWS = r"(?:→|⟶|➔|➜|➝|›|»|>>|&rarr;|&raquo;|\.{2,}|…|&hellip;|&#8230;)"
# Where a "more" link may start: the start of a line, or after the end of a
# sentence or an ellipsis. Mid-sentence occurrences are left alone.
_AFTER_BOUNDARY = r"(?:(?<=\A)|(?<=\n)|(?<=[.!?…»”\"')\]]\s)|(?<=[.!?…»”\"')\]]\u00a0))\s*"
# Phrases after which WordPress themes print the post title, in any form.
_MORE_WITH_TITLE = (
    r"continue\s+reading",
    r"continuer\s+la\s+lecture",
    r"continuer\s+(?:à|a)\s+lire",
    r"weiterlesen",
    r"seguir\s+leyendo",
    r"continuar\s+leyendo",
    r"continua\s+a\s+leggere",
    r"continuar\s+a\s+ler",
    r"verder\s+lezen",
    r"read\s+more\s+of\s+this\s+(?:post|entry|article)",
)
# Phrases that are only followed by decoration or by a short reference.
_MORE_PLAIN = (
    r"read\s+more",
    r"read\s+the\s+(?:full|whole|rest\s+of\s+the)\s+(?:article|post|story|entry)",
    r"read\s+the\s+rest",
    r"keep\s+reading",
    r"lire\s+la\s+suite",
    r"lire\s+l['’]article(?:\s+complet)?",
    r"en\s+savoir\s+plus",
    r"mehr\s+lesen",
    r"leer\s+más",
    r"leer\s+mas",
    r"leggi\s+(?:tutto|di\s+più)",
    r"leia\s+mais",
    r"lees\s+meer",
)
_MORE_LINK = regex.compile(
    _AFTER_BOUNDARY
    + r"[\[(]?\s*(?:"
    + r"(?:"
    + "|".join(_MORE_WITH_TITLE)
    # The title may follow, in any form; but a sentence (ending in a lone ".") is no link.
    + r")(?:[ \t\u00a0][^\n]{0,300}|\s*"
    + _ARROWS
    + r")?[\])]?(?<![^.]\.)\s*"
    + r"|(?:"
    + "|".join(_MORE_PLAIN)
    # Either decoration only, or a short reference ("de « X »", "on Y") that is no sentence.
    + r")(?:\s*"
    + _ARROWS
    + r"?\s*[\])]?[.!]?"
    # ... or a date in parentheses ("Leia mais (09/24/2018 - 19h22)", Folha).
    + r"|\s*\([^()\n]{1,40}\)"
    + r"|\s*(?::|-|–|—|d['’]|(?:de|du|of|on|sur|auf|en|in|at)\b|»|«|\"|“|‘)[^\n]{0,200}"
    + r"(?<![^.]\.))\s*"
    + r")\Z",
    regex.IGNORECASE | regex.VERSION1,
)
# WordPress core's own more link: "(more…)", "(suite…)", "(mehr …)".
_CORE_MORE = regex.compile(
    r"\s*\(\s*(?:more|suite|plus|mehr|más|altro|mais|meer)\s*(?:…|\.{3}|&hellip;)\s*\)\s*\Z",
    regex.IGNORECASE,
)
# Footers added by Yoast SEO and similar plugins ("%POSTLINK% ... %BLOGLINK%."), and Medium.
_FOOTERS = (
    r"the\s+post\s+[^\n]{1,300}?\s+appeared\s+first\s+on\s+[^\n]{1,300}",
    r"(?:cet\s+article|l['’]article|le\s+billet)\s+[^\n]{1,300}?\s+est\s+apparu\s+en\s+premier\s+sur"
    r"\s+[^\n]{1,300}",
    r"der\s+beitrag\s+[^\n]{1,300}?\s+erschien\s+zuerst\s+auf\s+[^\n]{1,300}",
    r"la\s+entrada\s+[^\n]{1,300}?\s+se\s+publicó\s+primero\s+en\s+[^\n]{1,300}",
    r"l['’]articolo\s+[^\n]{1,300}?\s+sembra\s+essere\s+il\s+primo\s+su\s+[^\n]{1,300}",
    r"het\s+bericht\s+[^\n]{1,300}?\s+verscheen\s+eerst\s+op\s+[^\n]{1,300}",
    r"o\s+post\s+[^\n]{1,300}?\s+apareceu\s+primeiro\s+em\s+[^\n]{1,300}",
    # Podcast hosts: Omny, Megaphone, Acast.
    r"see\s+omnystudio\.com/listener\s+for\s+privacy\s+information\.?",
    r"learn\s+more\s+about\s+your\s+ad\s+choices\.\s+visit\s+(?:megaphone\.fm|podcastchoices\.com)"
    r"/adchoices\.?",
    r"hosted\s+on\s+acast\.\s+see\s+acast\.com/privacy\s+for\s+more\s+information\.?",
    r"[^\n]{1,300}?\s+was\s+originally\s+published\s+in\s+[^\n]{1,300}?\s+on\s+medium,\s+where\s+people"
    r"\s+are\s+continuing\s+the\s+conversation\s+by\s+highlighting\s+and\s+responding\s+to\s+this"
    r"\s+story\.?",
)
_FOOTER = regex.compile(
    r"(?:(?<=\A)|(?<=\n)|(?<=[.!?…»”\"')\]]\s))[ \t\u00a0]*(?:" + "|".join(_FOOTERS) + r")\s*\Z",
    regex.IGNORECASE,
)
# "[…]", "[...]", "[&hellip;]", "(…)", "[?]", or a lone "…" / "..." at the very end.
_TRAILING_ELLIPSIS = regex.compile(
    r"(?:\s*[\[(]\s*(?:…|\.{3,}|&hellip;|&#8230;|&#x2026;)\s*[\])]|\s+(?:…|\.{3,}|&hellip;|&#8230;)"
    # "[?]": a "[…]" whose ellipsis a conversion to Latin-1 turned into "?".
    r"|\s+\[\?\])"
    r"\s*\Z",
    regex.IGNORECASE,
)
_ENDS_SENTENCE = regex.compile(r"[.!?…:;»”\"')\]}\p{Emoji_Presentation}]\Z")


def strip_cruft(text: str) -> str:
    """`text` without what blog engines append to excerpts.

    Removed at the end only: "more" links ("Continue reading X →", "Lire la
    suite", "Weiterlesen", "Leer más", "Read more", "(more…)"...), footers
    ("The post X appeared first on Y.", "Cet article X est apparu en premier
    sur Y.", their German, Spanish, Italian, Dutch, Portuguese forms, Medium's
    "originally published" line) and truncation marks (`[…]`, `[...]`, a lone
    `…`). When a truncation mark goes and the text then stops mid-sentence, an
    ellipsis is glued to the last word so the reader still sees it is cut.
    """
    if not text:
        return ""
    current = text.strip()
    for _ in range(10):
        before = current
        current = _FOOTER.sub("", current).rstrip()
        current = _MORE_LINK.sub("", current).rstrip()
        current = _CORE_MORE.sub("", current).rstrip()
        truncated = _TRAILING_ELLIPSIS.sub("", current).rstrip()
        if truncated != current:
            current = truncated
            if current and not _ENDS_SENTENCE.search(current):
                current = current.rstrip(",;-–— \t\u00a0") + "…"
        if current == before:
            break
    return current.strip()


# --------------------------------------------------------------------------- summary


def _paragraphs(text: str) -> list[str]:
    return [part for part in re.split(r"\n\s*\n", text) if part.strip()]


# A line that is only a byline ("By Jane Doe and John Smith", "Por Matt Spetalnick e
# Jason Szep"): who wrote it is no summary of what it says.
_WORD_OF_NAME = r"\p{Lu}[\p{L}\p{M}'’.-]*"
_PARTICLE = r"(?:de|da|do|dos|das|del|van|von|der|den|di|le|la)\s+"
_NAME = rf"{_WORD_OF_NAME}(?:\s+(?:{_PARTICLE})?{_WORD_OF_NAME}){{0,3}}"
_BYLINE = regex.compile(
    rf"^[ \t\u00a0]*(?i:by|por|par|von|di|door|av|af)\s+{_NAME}"
    rf"(?:\s*(?:,|&|\band\b|\be\b|\bet\b|\bund\b|\by\b|\ben\b|\bog\b|\boch\b)\s*{_NAME})*"
    r"[ \t\u00a0]*\.?[ \t\u00a0]*$",
    regex.MULTILINE,
)


def drop_bylines(text: str) -> str:
    """`text` without its lines that only name authors ("By Jane Doe and John Smith")."""
    if not text or not _BYLINE.search(text):
        return text
    return re.sub(r"\n{3,}", "\n\n", _BYLINE.sub("", text)).strip()


# A line that starts with a tag shown as text: HTML quoted in an old post, not prose.
_MARKUP_AS_TEXT = re.compile(
    r"^[ \t\u00a0]*<(?:!doctype|/?(?:html|head|body|p|div|span|a|br|img|ul|ol|li|table|tr|td|th"
    r"|h[1-6]|script|style|meta|link|pre|code|blockquote|section|article|form|input|strong|em)"
    r"\b[^<>\n]*>)",
    re.IGNORECASE | re.MULTILINE,
)
# A line that is only a list bullet, as an empty item or a cut list leaves.
_ANNOUNCING_LINES = re.compile(r"(?:\A|\n)[^\n]*:[ \t\u00a0]*(?:\n[^\n]*:[ \t\u00a0]*)*\s*\Z")
_LONE_BULLET = re.compile(r"(?:\A|\n)[ \t\u00a0]*(?:•|\d{1,4}\.)[ \t\u00a0]*(?=\n|\Z)")


def _summary_material(text: str) -> str:
    """`text` up to its first paragraph that shows markup, without lone bullets.

    When markup is cut away, a last paragraph that announces it ("Given this
    document:") goes with it.
    """
    text = _LONE_BULLET.sub("", text).strip()
    paragraphs = _paragraphs(text)
    for index, paragraph in enumerate(paragraphs):
        if _MARKUP_AS_TEXT.search(paragraph):
            kept = "\n\n".join(paragraphs[:index])
            return _ANNOUNCING_LINES.sub("", kept).strip()
    return text


def summary_text(summary_html: str, content_html: str, max_paragraphs: int = 3) -> str:
    """The text that describes an entry: its excerpt, else the start of its content.

    The excerpt (summary/description) wins whenever anything is left of it once
    cleaned; engines that put the whole article in it, or no excerpt at all,
    give their first `max_paragraphs` paragraphs (all of them when it is < 1).
    Code blocks (`<pre>`), headings and data tables are left out (headings only
    stay when nothing else is left: a heading run into the next sentence reads
    as nonsense), and so is what follows markup shown as text (`<html> <body>`).
    A summary never ends on a lone list bullet.
    """
    for candidate in (summary_html or "", content_html or ""):
        text = _summary_material(
            strip_cruft(html_to_text(candidate, code_blocks=False, headings=False))
            or strip_cruft(html_to_text(candidate, code_blocks=False))
        )
        if not text:
            continue
        if max_paragraphs >= 1:
            paragraphs = _paragraphs(text)
            if len(paragraphs) > max_paragraphs:
                text = strip_cruft("\n\n".join(paragraphs[:max_paragraphs]))
        if text:
            return text
    return ""


# --------------------------------------------------------------------------- title


def _strip_tags_once(text: str) -> str:
    """One round of tag stripping and entity decoding; emoji images become their emoji."""
    if "<" not in text and "&" not in text:
        return text
    from bs4 import CData
    from bs4.element import PreformattedString

    soup = _soup(text)
    for element in soup.find_all(["script", "style"]):
        element.decompose()
    for image in soup.find_all("img"):
        image.replace_with(_emoji_alt(image))
    return "".join(
        str(piece)
        for piece in soup.find_all(string=True)
        if not isinstance(piece, PreformattedString) or isinstance(piece, CData)
    )


def clean_title(title: str) -> str:
    """A title as one line of plain text.

    Tags are stripped and entities decoded until nothing changes (some
    generators escape twice: `L&amp;#8217;été` → `L’été`, `&lt;b&gt;` → ``),
    whitespace runs become one space (a run of only non-breaking spaces, as
    French typography puts before "?" or inside « », stays one such space).
    """
    if not title:
        return ""
    current = title
    for _ in range(10):
        decoded = _strip_tags_once(current)
        if decoded == current:
            break
        current = decoded
    current = unicodedata.normalize("NFC", _CONTROL.sub("", current))
    return re.sub(r"\s+", _collapse_spaces, current).strip()


# --------------------------------------------------------------------------- mentions

# U+2060 WORD JOINER: invisible, and no line break opportunity between "@" and
# the name (U+200B would allow one). Any character other than [a-z0-9_] right
# after "@" stops Mastodon's Account::MENTION_RE
#   (?<![=/[:word:]])@((USERNAME_RE)(?:@[[:word:]]+([.-]+[[:word:]]+)*)?)
#   USERNAME_RE = [a-z0-9_]+([.-]+[a-z0-9_]+)*
# which ProcessMentionsService applies to the whole text of a toot, links included.
WORD_JOINER = "\u2060"
_WORD = r"[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}]"  # Onigmo's [[:word:]]
_NOT_AFTER = r"(?<![=/\p{Alphabetic}\p{M}\p{Nd}\p{Pc}])"
_MENTION_START = regex.compile(_NOT_AFTER + r"@(?=[a-z0-9_])", regex.IGNORECASE)
_MENTION = regex.compile(
    _NOT_AFTER + rf"@[a-z0-9_]+(?:[.-]+[a-z0-9_]+)*(?:@{_WORD}+(?:[.-]+{_WORD}+)*)?",
    regex.IGNORECASE,
)


def neutralize_mentions(text: str) -> str:
    """`text` with every would-be Mastodon mention made inert but unchanged to the eye.

    A WORD JOINER goes right after the "@" of `@user` and `@user@domain`. E-mail
    addresses and URLs such as `https://host/@user` are not mentions for
    Mastodon (a word character or "/" precedes the "@") and are left alone.
    Idempotent.
    """
    if not text or "@" not in text:
        return text or ""
    return _MENTION_START.sub("@" + WORD_JOINER, text)


def neutralize_link_mentions(link: str) -> str:
    """`link` with each "@" of what Mastodon would read as a mention written "%40".

    `https://t.example/post-@Gargron@mastodon.social` would notify @Gargron;
    `https://t.example/post-%40Gargron%40mastodon.social` is the same page for
    the web server and mentions no one. An "@" after "/", "=" or a word character
    starts no mention (`https://medium.com/@author/post`) and stays, as does the
    one ending the user name of `http://user@host/` (encoding it would change the
    host). A WORD JOINER would not do: it would end the link. Idempotent.
    """
    if "@" not in link:
        return link
    authority = regex.match(r"[^:/?#]*://([^/?#]*)", link)
    delimiter = authority.start(1) + authority.group(1).rfind("@") if authority else -1

    def encode(match: regex.Match[str]) -> str:
        return "".join(
            "%40" if char == "@" and match.start() + offset != delimiter else char
            for offset, char in enumerate(match.group(0))
        )

    return _MENTION.sub(encode, link)
