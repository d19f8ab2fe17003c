"""The public replies to recent toots, for a blog to show under its posts.

Which toots are due and what a reply looks like are pure functions; `read_replies`
asks the instance, after the pass has posted, and stops at the first rate limit:
reading replies never costs a post.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from crossposter.after_posting.links import article_url, iso_z
from crossposter.errors import PublishError, RateLimited, StatusGone
from crossposter.models import Thread
from crossposter.state import AfterPostingRole, AnnouncedPost

log = logging.getLogger(__name__)


def due(
    posts: Iterable[AnnouncedPost], now: datetime, window: timedelta, interval: timedelta
) -> list[AnnouncedPost]:
    """The toots still standing, younger than `window`, whose replies were last read `interval`
    ago or never."""
    return [
        post
        for post in posts
        if post.status == "posted"
        and now - post.posted_at < window
        and (post.replies_fetched_at is None or now - post.replies_fetched_at >= interval)
    ]


def public_replies(descendants: Iterable[Any]) -> list[dict[str, Any]]:
    """The replies anyone may read, in the replies file's shape.

    The token also sees followers-only and direct replies: those never leave.
    """
    from crossposter.compose.text import html_to_text

    replies = []
    for status in descendants:
        if status.get("visibility") != "public":
            continue
        account = status.get("account") or {}
        content = status.get("content") or ""
        replies.append(
            {
                "url": status.get("url") or status.get("uri"),
                "created_at": _time(status.get("created_at")),
                "in_reply_to_id": _id(status.get("in_reply_to_id")),
                "content": content,
                "text": html_to_text(content),
                "account": {
                    "display_name": account.get("display_name") or "",
                    "acct": account.get("acct") or "",
                    "avatar": account.get("avatar") or "",
                    "url": account.get("url") or "",
                },
                "replies_count": status.get("replies_count") or 0,
                "reblogs_count": status.get("reblogs_count") or 0,
                "favourites_count": status.get("favourites_count") or 0,
            }
        )
    return replies


def replies_document(posts: Iterable[AnnouncedPost]) -> dict[str, list[dict[str, Any]]]:
    """Article URL → the replies to its standing toots, as last read."""
    document: dict[str, list[dict[str, Any]]] = {}
    for post in posts:
        if post.status != "posted" or post.replies is None:
            continue
        document.setdefault(article_url(post), []).extend(post.replies)
    return document


def replies_json(posts: Iterable[AnnouncedPost]) -> str:
    return json.dumps(replies_document(posts), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def read_replies(
    state: AfterPostingRole,
    posts: Iterable[AnnouncedPost],
    descendants_of: Callable[[AnnouncedPost], Thread | None],
    now: datetime,
    interval: timedelta,
) -> int:
    """Read and save the replies of `posts`; how many were read.

    `descendants_of` gives a toot's thread, None when it cannot be asked
    (its account is no longer configured). A 429 ends the reading: the rest
    waits for a later run. A toot the instance no longer has was deleted by hand.
    A thread the instance is still completing is saved as read, and read again on
    a later run, as soon as the instance asked (not an `interval` later).
    """
    read = 0
    for post in posts:
        try:
            thread = descendants_of(post)
        except RateLimited:
            log.info("rate limited while reading replies; the rest is read on a later run")
            break
        except StatusGone:
            log.info(
                "feed %s: the toot of %s is gone from the instance; recorded as deleted",
                post.feed,
                post.entry_id,
            )
            state.mark_deleted(post.feed, post.entry_id, "gone from the instance")
            continue
        except PublishError as error:
            log.warning("feed %s: replies of %s not read: %s", post.feed, post.entry_id, error)
            continue
        if thread is None:
            continue
        state.save_replies(
            post.feed,
            post.entry_id,
            public_replies(thread.descendants),
            at=_read_at(thread, now, interval),
        )
        read += 1
    return read


def _read_at(thread: Thread, now: datetime, interval: timedelta) -> datetime:
    """When the thread counts as read: now, or, while the instance still fetches replies,
    early enough that the toot is due again once the instance's `retry` has passed."""
    if thread.refresh_after is None:
        return now
    return now - interval + min(timedelta(seconds=thread.refresh_after), interval)


def _time(value: Any) -> str | None:
    if isinstance(value, datetime):
        return iso_z(value)
    return str(value) if value else None


def _id(value: Any) -> str | None:
    return str(value) if value is not None else None
