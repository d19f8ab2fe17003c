"""The data that flows between the steps: feed → entries → toots → posted."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

DEFAULT_IMAGE_TYPES = (
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/heic",
    "image/heif",
    "image/avif",
)


@dataclass(frozen=True)
class ImageRef:
    """An image a feed offers for an entry; `alt` empty when the feed describes none."""

    url: str
    alt: str = ""
    # The MIME type the feed declares or the URL suggests; the download has the last word.
    type: str | None = None


@dataclass(frozen=True)
class Entry:
    """One article of a feed, as read from it, links already absolute."""

    id: str
    link: str | None
    title: str = ""
    summary_html: str = ""
    content_html: str = ""
    author: str = ""
    categories: tuple[str, ...] = ()
    published: datetime | None = None
    language: str | None = None
    # Images the feed declares for it (Media RSS, then enclosures), best first.
    images: tuple[ImageRef, ...] = ()
    # What relative URLs inside summary_html/content_html are relative to (xml:base,
    # else the feed's address); they are left as written in the HTML.
    content_base: str | None = None


@dataclass(frozen=True)
class FeedInfo:
    """What a feed says about itself."""

    title: str = ""
    link: str | None = None
    language: str | None = None
    # WebSub: the hub the feed names (<link rel="hub">, <atom:link rel="hub">) and its own
    # address (rel="self"), the topic a subscription names.
    hub: str | None = None
    self_url: str | None = None


@dataclass(frozen=True)
class Hub:
    """A WebSub hub a feed advertises, and the topic (the feed's `self`) to subscribe to."""

    url: str
    topic: str


@dataclass(frozen=True)
class WebSubSubscription:
    """One feed's subscription at its hub, as the state keeps it.

    `callback_id` ends the callback URL the hub calls; `secret` is the `hub.secret` the
    hub signs deliveries with: never shown (no repr) nor exported. `lease_until` is
    None until the hub has verified our intent.
    """

    feed: str
    hub: str
    topic: str
    callback_id: str
    secret: str = field(repr=False)
    requested_at: datetime
    lease_until: datetime | None = None


@dataclass(frozen=True)
class ParsedFeed:
    info: FeedInfo
    entries: tuple[Entry, ...]
    # Why feedparser found the document malformed, when it did; the entries may still be usable.
    malformed: str | None = None


@dataclass(frozen=True)
class InstanceLimits:
    """What the Mastodon instance accepts; defaults are Mastodon's own."""

    max_characters: int = 500
    characters_reserved_per_url: int = 23
    source: str = "default"
    # configuration.media_attachments (MASTODON-RULES §5); older servers do not say.
    supported_mime_types: tuple[str, ...] = DEFAULT_IMAGE_TYPES
    image_size_limit: int = 16 * 1024 * 1024
    description_limit: int = 1500
    # The server's reported `version`: what Mastodon counts as a URL or a mention changed in 4.3.
    version: str | None = None
    # The instance's own name for itself (v2 `domain`, v1 `uri`): the part after the
    # second @ of its accounts' handles, which need not be the API's host.
    domain: str | None = None
    # For limits a run stored ("cached"): when the instance said them.
    asked_at: datetime | None = None
    # `api_versions.mastodon` (Mastodon 4.3+), when published: mastodon.capabilities reads it.
    api_version: int | None = None

    def __post_init__(self) -> None:
        # Limits cached as JSON come back with a list here.
        object.__setattr__(self, "supported_mime_types", tuple(self.supported_mime_types))


@dataclass(frozen=True)
class Toot:
    """A status ready to post, and what the preview shows about it."""

    text: str
    language: str | None = None
    visibility: str | None = None
    spoiler_text: str = ""
    hashtags: tuple[str, ...] = ()
    length: int = 0
    limit: int = 500
    # Media already uploaded for it; kept with the pending post so a retry never uploads twice.
    media_ids: tuple[str, ...] = ()
    # The image chosen to go with it (`image: true`), for the preview and the state.
    image_url: str = ""
    image_alt: str = ""
    # Who may quote it (Mastodon 4.5); None: the account's default. Sent only to a
    # server that takes it (known_instance.KnownInstance.fit, by mastodon.capabilities).
    quote_approval_policy: str | None = None


@dataclass(frozen=True)
class Thread:
    """The replies below a toot, as its instance gave them (GET /api/v1/statuses/:id/context)."""

    descendants: tuple[Any, ...] = ()
    # Mastodon 4.5's `Mastodon-Async-Refresh`: the instance is still fetching replies from
    # other servers and asks to be read again after this many seconds. None: final.
    refresh_after: float | None = None


@dataclass(frozen=True)
class AccountProfile:
    """How an account shows on its toots, as a real run last saw it (for the preview page)."""

    display_name: str
    # `name`, or `name@domain` once the instance's domain is known.
    acct: str
    avatar_url: str = ""
    # The picture itself, as a data: URL, so that a preview asks the instance nothing;
    # fetched by a run with nothing to post (posting.keep_picture), kept while avatar_url
    # stays the same.
    avatar: str = ""


@dataclass(frozen=True)
class Posted:
    """The status the server created."""

    id: str
    url: str | None
    # The account as the status shows it, when the instance said.
    author: AccountProfile | None = None


@dataclass(frozen=True)
class PlannedChange:
    """A toot a preview would edit (to `after`) or delete (`after` None), as it reads now."""

    label: str
    link: str | None
    toot_url: str | None
    # What was posted (or last edited to); None for a toot found on the instance.
    before: Toot | None
    after: Toot | None = None


# The account of the top-level `instance` (and of a feed naming none).
DEFAULT_ACCOUNT = "default"


@dataclass(frozen=True)
class Validators:
    """What the server gave us to ask 'has it changed?' next time."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class Article:
    """An article's own fields, as the feed gave them when its toot was posted."""

    title: str = ""
    summary: str = ""
    link: str | None = None
    categories: tuple[str, ...] = ()
    image: str = ""

    @classmethod
    def of(cls, entry: Entry) -> Article:
        return cls(
            title=entry.title,
            # The source the summary is made from: the feed's summary, else its content.
            summary=entry.summary_html or entry.content_html,
            link=entry.link,
            categories=tuple(entry.categories),
            image=entry.images[0].url if entry.images else "",
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> Article | None:
        if not text:
            return None
        data = json.loads(text)
        data["categories"] = tuple(data.get("categories") or ())
        return cls(**data)


@dataclass(frozen=True)
class Heartbeat:
    interval_seconds: float
    last_run_at: datetime
    last_exit_code: int
    # The end of the last pass that exited 0; None until one has.
    last_success_at: datetime | None


@dataclass(frozen=True)
class Lease:
    """A feed being worked on by one process (`worker`) until `expires_at`, unless renewed."""

    feed: str
    worker: str
    expires_at: datetime


def link_key(link: str) -> str:
    """The link as announcements are compared: `//host/path?query`, with no scheme, no
    fragment, no leading `www.`, the host in lower case: a blog moving from http:// to
    https://www. (WordPress's own move) keeps its articles' keys.

    The path and query are kept as written: servers may tell their case apart.
    """
    try:
        parts = urlsplit(link)
    except ValueError:  # "http://[broken": no address to normalize, compared as written
        return link
    if not parts.netloc:  # no address either: compared as written
        return link
    userinfo, at, host = parts.netloc.rpartition("@")
    host = host.lower()
    host = host.removeprefix("www.")
    return urlunsplit(("", f"{userinfo}{at}{host}", parts.path, parts.query, ""))


@dataclass
class FeedReport:
    """What one pass did to one feed; the CLI turns it into a log line."""

    name: str
    new: int = 0
    posted: int = 0
    skipped: int = 0
    deferred: int = 0
    # On a feed's first run: the entries recorded as already there, not announced.
    recorded: int = 0
    not_modified: bool = False
    # How fetching the feed went: "not_modified", "changed" or "failed"; None if not fetched.
    poll_outcome: str | None = None
    # The WebSub hub a changed feed advertised (crossposter.feeds.hubs).
    hub: Hub | None = None
    errors: list[str] = field(default_factory=list)
    temporary_failure: bool = False
    permanent_failure: bool = False
    previews: list[tuple[Entry, Toot]] = field(default_factory=list)
    # A preview of a first run that announces nothing: the newest entry's toot, not to be posted.
    sample: tuple[Entry, Toot] | None = None
    # Entries an include/exclude rule kept from being announced, with that rule in words.
    filtered: list[tuple[Entry, str]] = field(default_factory=list)
    # Toots edited after their article changed (after_posting.decisions), which count
    # against max_posts_per_run; a preview lists its edits and deletions instead.
    edited: int = 0
    # Toots deleted because their article went, for the metrics.
    deleted: int = 0
    # Toots the instance refused for good (too long, invalid): marked failed, not retried.
    refused: int = 0
    planned_edits: list[PlannedChange] = field(default_factory=list)
    planned_deletions: list[PlannedChange] = field(default_factory=list)

    def fail(self, error: Exception, summary: str | None = None) -> None:
        """Record a failure; the error's own `temporary` flag says whether a later run mends it."""
        self.errors.append(summary or str(error))
        if getattr(error, "temporary", False):
            self.temporary_failure = True
        else:
            self.permanent_failure = True

    def left_for_later(self, count: int = 1) -> None:
        """Posts wait for the next run (a stop, a rate limit): counted as deferred, and the
        exit code must say so (75)."""
        self.deferred += count
        self.temporary_failure = True


@dataclass(frozen=True)
class Failing:
    """A feed or an account (`kind`) failing since `since`, the last time with `last_error`:
    what the state keeps for alert_after (crossposter.alerts says what it means)."""

    kind: str
    name: str
    since: datetime
    last_error: str
