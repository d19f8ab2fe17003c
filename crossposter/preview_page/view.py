"""What the page shows, made from a toot and what was fetched for it: pure functions, no I/O.

The template only lays these out; every decision (which words, which card size,
which problems) is taken here or in card.py and status.py, where tables test it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from crossposter.models import AccountProfile, Toot
from crossposter.preview_page.card import CardTags, PageOutcome, Problem, card_problems, is_large
from crossposter.preview_page.status import Marked, Segment, render_status, word_changes

# A neutral silhouette for an account no real run has described yet.
_PLACEHOLDER_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 46 46">'
    '<rect width="46" height="46" fill="#8e96a6"/>'
    '<circle cx="23" cy="18" r="8" fill="#d9dde4"/>'
    '<path d="M8 44c1-10 7-15 15-15s14 5 15 15z" fill="#d9dde4"/></svg>'
)
PLACEHOLDER_AVATAR = "data:image/svg+xml;base64," + base64.b64encode(
    _PLACEHOLDER_SVG.encode()
).decode("ascii")


@dataclass(frozen=True)
class Identity:
    """Who the toots come from, as the last real run recorded the account; or a placeholder."""

    display_name: str
    handle: str
    avatar: str = PLACEHOLDER_AVATAR
    # Whether the handle is the account's own (recorded by a run, or told by the instance).
    known: bool = False
    # Where the account's picture is, for the page to fetch and inline as `avatar`.
    avatar_url: str = ""


def recorded_identity(profile: AccountProfile) -> Identity:
    """The account as a real run recorded it: its picture as that run kept it (a preview
    asks the instance nothing), the placeholder until one did."""
    avatar = profile.avatar or PLACEHOLDER_AVATAR
    return Identity(profile.display_name, f"@{profile.acct}", avatar, known=True)


def described_identity(profile: AccountProfile) -> Identity:
    """The account as its instance described it to `check`: its picture is where it said."""
    return Identity(
        profile.display_name, f"@{profile.acct}", known=True, avatar_url=profile.avatar_url
    )


def placeholder_identity(instance_url: str) -> Identity:
    host = urlsplit(instance_url).netloc or instance_url or "your.instance"
    return Identity(display_name="Your account", handle=f"@you@{host}")


@dataclass(frozen=True)
class CardView:
    url: str
    host: str
    site_name: str = ""
    title: str = ""
    description: str = ""
    image: str = ""
    large: bool = False
    creator: str = ""
    problems: tuple[Problem, ...] = ()

    @property
    def shown(self) -> bool:
        """Whether the instance will draw a card at all (a title to show)."""
        return bool(self.title)


def card_view(
    outcome: PageOutcome,
    tags: CardTags | None,
    image: str,
    image_size: tuple[int, int] | None,
    image_failure: str,
    identity: Identity,
) -> CardView:
    """The card as the instance will draw it, with what spoils it."""
    problems = tuple(
        card_problems(outcome, tags, image_size, image_failure, identity.handle)
    )
    url = outcome.final_url or outcome.url
    host = urlsplit(url).hostname or ""
    if host.startswith("www."):
        host = host[4:]
    if tags is None or outcome.failure or outcome.status != 200:
        return CardView(url=url, host=host, problems=problems)
    return CardView(
        url=url,
        host=host,
        # Mastodon shows the host when the page names no site.
        site_name=tags.site_name or host,
        title=tags.title,
        description=tags.description,
        image=image,
        large=bool(image) and is_large(image_size),
        creator=tags.creator,
        problems=problems,
    )


@dataclass(frozen=True)
class MediaView:
    """The toot's image: inlined, or why it is not; its alt text either way."""

    alt: str
    src: str = ""
    failure: str = ""


@dataclass(frozen=True)
class TootView:
    feed: str
    title: str
    article_url: str
    identity: Identity
    paragraphs: tuple[tuple[Segment, ...], ...]
    spoiler: str
    language: str
    visibility: str
    length: int
    limit: int
    hashtags: tuple[str, ...]
    media: MediaView | None = None
    card: CardView | None = None
    # Set for a toot shown but not to be posted (a first run's sample).
    note: str = ""

    @property
    def over(self) -> bool:
        return self.length > self.limit


def toot_view(
    feed: str,
    title: str,
    article_url: str,
    toot: Toot,
    *,
    identity: Identity,
    instance_url: str,
    media: MediaView | None = None,
    card: CardView | None = None,
    note: str = "",
) -> TootView:
    """A toot as the page draws it; language and visibility in the text preview's words."""
    return TootView(
        feed=feed,
        title=title,
        article_url=article_url,
        identity=identity,
        paragraphs=render_status(toot.text, instance_url),
        spoiler=toot.spoiler_text,
        language=toot.language or "account default",
        visibility=toot.visibility or "account default",
        length=toot.length,
        limit=toot.limit,
        hashtags=toot.hashtags,
        media=media,
        card=card,
        note=note,
    )


@dataclass(frozen=True)
class EditView:
    label: str
    toot_url: str
    before: tuple[Marked, ...]
    after: tuple[Marked, ...]


def edit_view(label: str, toot_url: str | None, before: str, after: str) -> EditView:
    removed, added = word_changes(before, after)
    return EditView(label=label, toot_url=toot_url or "", before=removed, after=added)


@dataclass(frozen=True)
class DeletionView:
    label: str
    toot_url: str
    # The toot that goes, as it reads now; None when the state never had its text.
    toot: TootView | None


@dataclass
class FeedSection:
    name: str
    # A first run's words ("first run: would record 3 entries, ...").
    first_run: str = ""
    toots: list[TootView] = field(default_factory=list)
    filtered: list[tuple[str, str]] = field(default_factory=list)
    edits: list[EditView] = field(default_factory=list)
    deletions: list[DeletionView] = field(default_factory=list)
    # Why the feed could not be read or announced, in the log's words.
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Page:
    title: str
    intro: str
    feeds: list[FeedSection]
    # The preview's closing lines, as the terminal prints them.
    outcome: tuple[str, ...] = ()
