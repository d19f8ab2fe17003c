"""Reading the public replies to recent toots, for a blog to show under its posts.

What a reply looks like is a pure function; `read_replies` asks the instance, after
the pass has posted, and stops at the first rate limit: reading replies never costs a
post. Which toots are due, and the file, are `replies_file.py`'s: a pass with no toot
due never loads this module, nor the HTML cleaning it needs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import nh3

from crossposter.after_posting.links import iso_z
from crossposter.compose.text import clean_title, html_to_text
from crossposter.errors import PublishError, RateLimited, StatusGone
from crossposter.models import Thread
from crossposter.state import AfterPostingRole, AnnouncedPost
from crossposter.web import WEB_SCHEMES, is_web_url

log = logging.getLogger(__name__)


# What Mastodon's own strict sanitizer keeps of a status (Sanitize::Config::MASTODON_STRICT):
# a reply comes from anyone, and a blog shows the file's `content` as HTML.
STATUS_ELEMENTS = frozenset(
    {"p", "br", "span", "a", "del", "s", "pre", "blockquote", "code", "b", "strong", "u", "i"}
    | {"em", "ul", "ol", "li", "ruby", "rt", "rp"}
)
STATUS_ATTRIBUTES = {
    "*": {"lang"},
    "a": {"href", "rel", "class"},
    "span": {"class"},
    "ol": {"start", "reversed"},
    "li": {"value"},
    "p": {"class"},
}


def status_html(content: str) -> str:
    """A status's HTML cut to what Mastodon allows in one; links to http(s) only."""
    return nh3.clean(
        content,
        tags=set(STATUS_ELEMENTS),
        attributes=STATUS_ATTRIBUTES,
        url_schemes=set(WEB_SCHEMES),
        url_relative="deny",
        # Kept as the instance wrote it (Mastodon's own rel="nofollow noopener noreferrer").
        link_rel=None,
    )


def public_replies(descendants: Iterable[Any]) -> list[dict[str, Any]]:
    """The replies anyone may read, in the replies file's shape.

    The token also sees followers-only and direct replies: those never leave. Whatever
    the instance sent, a URL is http(s) or null, `content` holds only what Mastodon
    allows in a status, and a display name is plain text.
    """
    replies = []
    for status in descendants:
        if status.get("visibility") != "public":
            continue
        account = status.get("account") or {}
        content = status_html(str(status.get("content") or ""))
        replies.append(
            {
                "url": _web_url(status.get("url") or status.get("uri")),
                "created_at": _time(status.get("created_at")),
                "in_reply_to_id": _id(status.get("in_reply_to_id")),
                "content": content,
                "text": html_to_text(content),
                "account": {
                    # The same cleaning as a title's: tags stripped, entities decoded.
                    "display_name": clean_title(str(account.get("display_name") or "")),
                    "acct": account.get("acct") or "",
                    "avatar": _web_url(account.get("avatar")),
                    "url": _web_url(account.get("url")),
                },
                "replies_count": status.get("replies_count") or 0,
                "reblogs_count": status.get("reblogs_count") or 0,
                "favourites_count": status.get("favourites_count") or 0,
            }
        )
    return replies


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


def _web_url(value: Any) -> str | None:
    return value if is_web_url(value) else None


def _id(value: Any) -> str | None:
    return str(value) if value is not None else None
