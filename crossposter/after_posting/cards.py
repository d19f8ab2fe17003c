"""Whether the instance built a link card for each toot: readers see the article through it.

The instance builds the card after the post, from the page's OpenGraph tags (MASTODON-RULES
§10); when it cannot (no tags, its fetcher blocked, a redirect), every toot of the blog
shows a bare link and nobody says so. Each toot is looked at once, on the first run at
least CHECK_AFTER after posting and within CHECK_WITHIN. Which toots are due and what
an answer means are pure functions here; `look_at_cards` asks the instance, after the
pass has posted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from crossposter.errors import PublishError, RateLimited
from crossposter.state import AnnouncedPost, UpkeepRole

log = logging.getLogger(__name__)

# The instance needs a moment to fetch the page; after a day the answer no longer helps.
CHECK_AFTER = timedelta(minutes=10)
CHECK_WITHIN = timedelta(hours=24)


def card_check_due(posted_at: datetime, card: bool | None, now: datetime) -> bool:
    """Whether a standing toot is to be looked at now: not yet looked at, and in the window."""
    return card is None and CHECK_AFTER <= now - posted_at < CHECK_WITHIN


def has_card(status: Any) -> bool:
    """Whether the status, as GET /api/v1/statuses/:id shows it, carries a link card."""
    return isinstance(status, dict) and bool(status.get("card"))


def no_card_warning(feed: str, article_url: str) -> str:
    """The one line a feed gets, once, when a toot of its articles came out without a card."""
    return (
        f"feed {feed}: the instance built no link card for {article_url}: its toots show a "
        "bare link. Likely causes: the page has no OpenGraph tags (og:title, og:description, "
        "og:image), the blog blocks the instance's fetcher (a firewall, a bot challenge, "
        "robots.txt), or the link redirects elsewhere. Said once for this feed"
    )


def look_at_cards(
    state: UpkeepRole,
    posts: Iterable[AnnouncedPost],
    status_of: Callable[[AnnouncedPost], Any],
    now: datetime,
) -> int:
    """Look once at each standing toot due (card_check_due); how many were looked at.

    `status_of` gives the toot as the instance shows it, None when it cannot be asked
    (its account is not configured, or stopped). A toot without a card warns its feed,
    once ever. A 429 ends the looking: the rest is looked at on a later run.
    """
    looked = 0
    for post in posts:
        if post.status != "posted" or not card_check_due(post.posted_at, post.card, now):
            continue
        try:
            status = status_of(post)
        except RateLimited:
            log.info("rate limited while looking at link cards; the rest waits for a later run")
            break
        except PublishError as error:
            log.debug("feed %s: the card of %s not looked at: %s", post.feed, post.entry_id, error)
            continue
        if status is None:
            continue
        card = has_card(status)
        state.save_card(post.feed, post.entry_id, card)
        looked += 1
        if not card and state.claim_card_warning(post.feed):
            log.warning("%s", no_card_warning(post.feed, post.link or post.toot_url or ""))
    return looked
