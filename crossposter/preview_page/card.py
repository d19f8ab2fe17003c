"""The link card an instance builds for an article, from its page: pure functions, no I/O.

The card's fields come from the tags the instance reads — OpenGraph, then Twitter's
tags, then `<title>` and the description meta — and its byline from
`fediverse:creator`. What is missing or wrong is said in words a blogger acts on.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup

from crossposter.attribution import CREATOR, creator_advice

# Mastodon reads at most 1 MB of a page for its card, and builds none from a larger one.
MAX_PAGE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class CardTags:
    """What a page says about itself, as the card will show it; empty when it says nothing."""

    title: str = ""
    description: str = ""
    image: str = ""
    site_name: str = ""
    creator: str = ""
    # Whether any og: tag is there at all; without one, the card relies on fallbacks.
    opengraph: bool = False


def _meta(soup: BeautifulSoup, *names: str) -> str:
    """The first non-empty `content` of a <meta> named (`property` or `name`) one of `names`."""
    for name in names:
        for attribute in ("property", "name"):
            for tag in soup.find_all("meta", attrs={attribute: name}):
                content = " ".join(str(tag.get("content") or "").split())
                if content:
                    return content
    return ""


def card_tags(html: str | bytes, page_url: str) -> CardTags:
    """The card's fields from the HTML of the page at `page_url` (image made absolute).

    Bytes are decoded as the page declares (its <meta charset>), as a browser would.
    """
    soup = BeautifulSoup(html[:MAX_PAGE_BYTES], "html.parser")
    title_tag = soup.find("title")
    title = _meta(soup, "og:title", "twitter:title") or " ".join(
        (title_tag.get_text() if title_tag else "").split()
    )
    image = _meta(soup, "og:image", "og:image:url", "og:image:secure_url", "twitter:image",
                  "twitter:image:src")
    absolute = urljoin(page_url, image) if image else ""
    return CardTags(
        title=title,
        description=_meta(soup, "og:description", "twitter:description", "description"),
        image=absolute if urlsplit(absolute).scheme in ("http", "https") else "",
        site_name=_meta(soup, "og:site_name"),
        creator=_meta(soup, CREATOR),
        opengraph=any(
            str(tag.get("property") or tag.get("name") or "").startswith("og:")
            for tag in soup.find_all("meta")
        ),
    )


def is_large(size: tuple[int, int] | None) -> bool:
    """Whether Mastodon's web interface draws the card large: its image wider than tall."""
    return size is not None and size[0] > size[1]


@dataclass(frozen=True)
class Problem:
    """What spoils a card, and what to do; `code`, when set, is the line to add to the blog."""

    text: str
    code: str = ""

    def __str__(self) -> str:
        return f"{self.text} {self.code}".strip()


@dataclass(frozen=True)
class PageOutcome:
    """How fetching an article's page went, as far as the card is concerned."""

    url: str
    final_url: str = ""
    status: int | None = None
    # Why nothing (usable) came back: a refused address, a timeout, not HTML.
    failure: str = ""


def card_problems(
    outcome: PageOutcome,
    tags: CardTags | None,
    image_size: tuple[int, int] | None,
    image_failure: str,
    handle: str,
) -> list[Problem]:
    """What spoils the card, each in words saying what to change, worst first."""
    if outcome.failure:
        return [
            Problem(
                f"The article's page could not be read ({outcome.failure}): the instance will "
                "build no card, and the toot will show a bare link. Check that the address "
                "opens from outside your network."
            )
        ]
    problems: list[Problem] = []
    if outcome.final_url and outcome.final_url != outcome.url:
        problems.append(
            Problem(
                f"The article's address redirects to {outcome.final_url}: instances often "
                "build no card for a link that redirects. Make the feed link to the final address."
            )
        )
    if outcome.status != 200 or tags is None:
        problems.append(
            Problem(
                f"The article's page answers HTTP {outcome.status}: the instance will build no "
                "card, and the toot will show a bare link."
            )
        )
        return problems
    if not tags.opengraph:
        problems.append(
            Problem(
                "The page has no OpenGraph tags: the card falls back on its <title> and "
                "description. An SEO plugin (Yoast, Rank Math, Jetpack) or the theme adds them."
            )
        )
    if not tags.title:
        problems.append(
            Problem("No title: the instance will draw no card. Add:", _og_line("title"))
        )
    if not tags.description:
        problems.append(
            Problem(
                "No description: the card shows the title alone. Add an excerpt of the article:",
                _og_line("description"),
            )
        )
    if not tags.image:
        problems.append(
            Problem(
                "No image: the card has no picture. Add one wider than tall (1200×630 suits "
                "every network):",
                _og_line("image"),
            )
        )
    elif image_failure:
        problems.append(
            Problem(
                f"The card's image could not be read ({image_failure}): the instance may "
                "draw the card without it."
            )
        )
    elif image_size is not None and not is_large(image_size):
        width, height = image_size
        problems.append(
            Problem(
                f"The image is {width}×{height}, not wider than tall: Mastodon draws a small "
                "card with a thumbnail. An image wider than tall (1200×630) gets the large card."
            )
        )
    if not tags.creator:
        words, line = creator_advice(handle)
        problems.append(
            Problem(f'No byline: the card will not show "More from" your account; {words}', line)
        )
    return problems


def _og_line(name: str) -> str:
    return f'<meta property="og:{name}" content="…">'
