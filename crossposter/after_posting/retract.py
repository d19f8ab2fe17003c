"""`crossposter retract`: take an announcement back. The toot is deleted now and its entry
is `retracted`: never announced again, unless `state forget` says so."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from crossposter.accounts import Account, feed_accounts, poster, toot_account, with_token
from crossposter.after_posting.hooks import HookEvent, notify_feed
from crossposter.after_posting.site_files import write_site_files
from crossposter.config import Settings
from crossposter.errors import AmbiguousEntry, NotInState, StatusGone
from crossposter.known_instance import LIMITS_MAX_AGE
from crossposter.leases import leased_for_repair
from crossposter.mastodon.capabilities import Capabilities
from crossposter.mastodon.instance import fetch_limits
from crossposter.posting import PublisherFactory, default_publisher
from crossposter.state import AfterPostingRole, AnnouncedPost, now_utc
from crossposter.storage import open_state

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retraction:
    post: AnnouncedPost
    # `retracted`: deleted now; `deleted`: the instance no longer had it.
    status: str
    # False when links_file or replies_file could not be written.
    site_files_written: bool = True
    # Retracted or deleted before this retraction was asked for: nothing was done.
    already: bool = False

    @property
    def names(self) -> tuple[str, str]:
        return self.post.feed, self.post.entry_id


def find_announced(
    state: AfterPostingRole, feed: str, entry: str, by: str = "id or URL"
) -> AnnouncedPost:
    """The feed's announced entry with that id or article URL (`by` says which may match).

    An argument that is one entry's id and another's URL (an old GUID that is now some
    article's link) is refused: AmbiguousEntry names both."""
    posts = state.announced(feed)
    with_id = with_link = None
    if by != "URL":
        with_id = next((post for post in posts if post.entry_id == entry), None)
    if by != "id":
        with_link = next((post for post in reversed(posts) if post.link == entry), None)
    if with_id is not None and with_link is not None and with_id.entry_id != with_link.entry_id:
        raise AmbiguousEntry(
            f"feed {feed!r}: {entry!r} is the id of the entry announcing {with_id.link} and "
            f"the URL of the entry {with_link.entry_id!r}; say which with --entry ID or "
            "--link URL"
        )
    found = with_id or with_link
    if found is None and state.feed(feed) is None:
        raise NotInState(f"no feed {feed!r} in the state")
    if found is None:
        raise NotInState(f"feed {feed!r} has announced no entry with the {by} {entry!r}")
    return found


def retract(
    settings: Settings,
    feed_name: str,
    entry: str,
    *,
    by: str = "id or URL",
    publisher_factory: PublisherFactory = default_publisher,
) -> Retraction:
    """Delete the toot of `entry` (an id or an article URL, as `by` says) and record it as
    retracted.

    One retracted or deleted already is left as it is (`already`). Raises NotInState when
    the feed announced no such entry, AmbiguousEntry when `entry` is one entry's id and
    another's URL, PublishError when the instance did not delete it (the state is then
    unchanged).
    """
    with open_state(settings) as state, leased_for_repair(state, settings, [feed_name], "retract"):
        post = find_announced(state, feed_name, entry, by)
        if post.status in ("retracted", "deleted"):
            # Asked again (a script run twice): what it asks for is done already.
            return Retraction(post, post.status, already=True)
        if post.status != "posted":
            raise NotInState(f"feed {feed_name!r}: {post.entry_id!r} is already {post.status}")
        account = with_token(settings, _account(settings, post))
        publisher = publisher_factory(settings, account)
        limits = state.cached_limits(account.instance_url, LIMITS_MAX_AGE) or fetch_limits(
            account.instance_url, timeout=settings.request_timeout
        )
        try:
            # Its media go with it, where the instance can (Mastodon 4.4, API version 4).
            publisher.delete(post.toot_id, delete_media=Capabilities.of(limits).delete_media)
            state.record_deletion(account.name, now_utc())
            status = "retracted"
            state.mark_retracted(post.feed, post.entry_id, "retracted by hand")
        except StatusGone:
            status = "deleted"
            state.mark_deleted(post.feed, post.entry_id, "already deleted on the instance")
        event = HookEvent(
            "retracted", post.feed, post.entry_id, post.link, post.toot_id, post.toot_url
        )
        notify_feed(state, settings, event)
        written = write_site_files(settings, state)
    return Retraction(post, status, written)


def _account(settings: Settings, post: AnnouncedPost) -> Account:
    """The account that posted the toot, as configured today, on the instance it posted to:
    a toot id means nothing elsewhere (accounts.toot_account)."""
    ready = feed_accounts(settings)
    account = toot_account(settings, ready, post, token=False)
    if account is None:
        raise NotInState(
            f"the toot of {post.entry_id!r} was posted by {poster(post, ready)}, which the "
            "configuration no longer has; add it back to retract the toot"
        )
    return account
