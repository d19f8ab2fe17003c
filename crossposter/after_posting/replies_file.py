"""The replies file: which toots' replies are read again, and the document a blog shows
under its posts, from the replies the state holds. Pure functions; reading the replies
from the instance is `replies.py`'s."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from crossposter.after_posting.links import article_url
from crossposter.state import AnnouncedPost

# How long the replies of a toot that left the window stay in the file, as last read:
# after that they may have been deleted on the instance, and nothing would say so.
KEPT_AFTER_WINDOW = timedelta(days=7)


def due(
    posts: Iterable[AnnouncedPost], now: datetime, window: timedelta, interval: timedelta
) -> list[AnnouncedPost]:
    """The toots still standing whose replies were last read `interval` ago or never: those
    younger than `window`, and once more those that left it since their last read."""
    return [
        post
        for post in posts
        if post.status == "posted"
        and (post.replies_fetched_at is None or now - post.replies_fetched_at >= interval)
        and (
            now - post.posted_at < window
            or (
                now - post.posted_at < window + KEPT_AFTER_WINDOW
                and post.replies_fetched_at is not None
                and post.replies_fetched_at < post.posted_at + window
            )
        )
    ]


def replies_document(
    posts: Iterable[AnnouncedPost], now: datetime, window: timedelta
) -> dict[str, list[dict[str, Any]]]:
    """Article URL → the replies to its standing toots, as last read; a week after a toot
    left the window, its replies leave too."""
    document: dict[str, list[dict[str, Any]]] = {}
    for post in posts:
        if post.status != "posted" or post.replies is None:
            continue
        if now - post.posted_at >= window + KEPT_AFTER_WINDOW:
            continue
        document.setdefault(article_url(post), []).extend(post.replies)
    return document


def replies_json(posts: Iterable[AnnouncedPost], now: datetime, window: timedelta) -> str:
    document = replies_document(posts, now, window)
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
