"""The way back to the blog: every announced article and its toots, as JSON or CSV.

Pure: state records in, documents out. Keyed by the article's URL as the feed
gives it, so a static site generator finds a post's toots by its own permalink.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from crossposter.state import AnnouncedPost

if TYPE_CHECKING:
    from crossposter.config import Settings

COLUMNS = (
    "feed",
    "entry_id",
    "toot_id",
    "host",
    "username",
    "toot_url",
    "card",
    "account",
    "instance",
    "posted_at",
    "edited_at",
    "status",
)
CSV_COLUMNS = ("article_url", *COLUMNS)
_TOOT_PATH = re.compile(r"/@([^/@]+)/")


def iso_z(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, to the second: what a template's date functions parse."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def article_url(post: AnnouncedPost) -> str:
    # An entry without a link is still a toot; its id is the best name it has.
    return post.link or post.entry_id


def link_record(post: AnnouncedPost, accounts: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    """One toot; `accounts` (feed → account name, instance) fills in older toots' account."""
    account, instance = post.account, post.instance
    if account is None or instance is None:
        configured = accounts.get(post.feed)
        if configured is not None:
            account = account or configured[0]
            instance = instance or configured[1]
    return {
        "feed": post.feed,
        "entry_id": post.entry_id,
        "toot_id": post.toot_id,
        # What comment widgets need to find the toot: https://{host}/api/v1/statuses/{toot_id}.
        "host": urlsplit(instance or post.toot_url or "").netloc or None,
        "username": _username(post.toot_url),
        "toot_url": post.toot_url,
        # Whether the instance built a link card for the toot; null until looked at.
        "card": post.card,
        "account": account,
        "instance": instance,
        "posted_at": iso_z(post.posted_at),
        "edited_at": iso_z(post.edited_at),
        "status": post.status,
    }


def _username(toot_url: str | None) -> str | None:
    """`me` of https://mastodon.social/@me/113525110930812345, Mastodon's status address."""
    match = _TOOT_PATH.match(urlsplit(toot_url or "").path)
    return match.group(1) if match else None


def links_document(
    posts: Iterable[AnnouncedPost], accounts: Mapping[str, tuple[str, str]]
) -> dict[str, list[dict[str, Any]]]:
    """Article URL → its toots, oldest first (an article may be announced by several accounts)."""
    document: dict[str, list[dict[str, Any]]] = {}
    for post in posts:
        document.setdefault(article_url(post), []).append(link_record(post, accounts))
    return document


def links_json(posts: Iterable[AnnouncedPost], accounts: Mapping[str, tuple[str, str]]) -> str:
    # Sorted keys: the file changes only when its content does.
    document = links_document(posts, accounts)
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def links_csv(posts: Iterable[AnnouncedPost], accounts: Mapping[str, tuple[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for post in posts:
        writer.writerow({"article_url": article_url(post), **link_record(post, accounts)})
    return out.getvalue()


def configured_accounts(settings: Settings) -> dict[str, tuple[str, str]]:
    """Feed → (account name, instance) as configured: what a toot posted before version 3
    of the state is credited to."""
    from crossposter.accounts import feed_accounts

    return {
        feed: (account.name, account.instance_url)
        for feed, account in feed_accounts(settings).items()
    }
