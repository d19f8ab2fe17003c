"""One account's side of a pass: where its toots go, its instance's limits, why it stopped.

New entries and pending retries take one path: a post already recorded as pending
in the state goes through `AccountSession.publish`. Where it goes is an `Outbox`:
the instance itself, or, for a preview, a `RecordingOutbox` that sends nothing.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from crossposter.accounts import Account, handle
from crossposter.config import TOKEN_VARIABLE, Settings
from crossposter.errors import (
    AuthenticationFailed,
    ImageUnavailable,
    InstanceUnreachable,
    LeaseLost,
    PublishError,
    RateLimited,
    RejectedPost,
    StatusGone,
    TemporaryPublishError,
)
from crossposter.health import worker_id
from crossposter.known_instance import KnownInstance
from crossposter.models import (
    DEFAULT_ACCOUNT,
    AccountProfile,
    Entry,
    FeedReport,
    ImageRef,
    InstanceLimits,
    PlannedChange,
    Posted,
    Thread,
    Toot,
)
from crossposter.net.addresses import AddressPolicy
from crossposter.state import PendingPost, PostedEntry, PostingState, now_utc

if TYPE_CHECKING:
    from datetime import datetime

    from crossposter.mastodon.publish import Publisher

log = logging.getLogger(__name__)

PublisherFactory = Callable[[Settings, Account], "Publisher"]


@functools.cache
def _mastodon(area: str) -> ModuleType:
    """crossposter.mastodon's `area` module, imported once something is about to be sent.

    publish brings Mastodon.py and tenacity, instance and media requests: a pass whose
    feeds all answer 304 never needs them.
    """
    return importlib.import_module(f"crossposter.mastodon.{area}")


def default_publisher(settings: Settings, account: Account) -> Publisher:
    publish = _mastodon("publish")
    return publish.Publisher(
        account.instance_url,
        account.token or "",
        publish.PublishOptions(
            request_timeout=settings.request_timeout,
            retry_seconds=settings.post_retry_seconds,
            rate_limit_wait=settings.rate_limit_wait,
        ),
    )


class Outbox(Protocol):
    """Everything a pass asks of an account's instance."""

    # False for a preview's, which sends nothing: what it does is told in the conditional.
    sends: bool

    def limits(self, stop: threading.Event) -> InstanceLimits: ...

    def idempotency_key(self, feed: str, entry_id: str) -> str: ...

    def attach_image(self, image: ImageRef, limits: InstanceLimits, stop: threading.Event) -> str:
        """The media id of the uploaded image; ImageUnavailable when it cannot be."""

    def post(
        self, pending: PendingPost, toot: Toot, report: FeedReport, stop: threading.Event
    ) -> Posted:
        """Send `toot` for `pending` and say so in `report`; PublishError when it is not sent."""

    def find_posted(self, pending: PendingPost, stop: threading.Event) -> Posted | None:
        """The account's own status announcing `pending`, when an earlier run sent it."""

    def descendants(self, toot_id: str) -> Thread:
        """The replies to one of the account's toots, and theirs; PublishError when not read."""

    def status(self, toot_id: str) -> Any:
        """One of the account's toots as the instance shows it now; PublishError when not read."""

    def picture(self, url: str, stop: threading.Event) -> str:
        """The account's picture at `url` as a data: URL; "" when it cannot be had."""

    def edit(self, posted: PostedEntry, toot: Toot, report: FeedReport, stop: threading.Event):
        """Edit the status of `posted` to read as `toot`; StatusGone when it is gone."""

    def delete(
        self, posted: PostedEntry, report: FeedReport, stop: threading.Event, delete_media: bool
    ) -> None:
        """Delete the status of `posted` (and its media at once, when `delete_media`);
        StatusGone when it is already gone."""

    def delete_upload(self, media_id: str, stop: threading.Event) -> None:
        """Delete an upload no toot uses; StatusGone when the instance has it no more."""


class LiveOutbox:
    """The account's instance, through Mastodon.py; its Publisher is made at first use."""

    sends = True

    def __init__(self, settings: Settings, account: Account, publisher_factory: PublisherFactory):
        self._settings = settings
        self._account = account
        self._publisher_factory = publisher_factory

    @functools.cached_property
    def _publisher(self) -> Publisher:
        return self._publisher_factory(self._settings, self._account)

    def limits(self, stop: threading.Event) -> InstanceLimits:
        return _mastodon("instance").fetch_limits(
            self._account.instance_url, timeout=self._settings.request_timeout, stop=stop
        )

    def idempotency_key(self, feed: str, entry_id: str) -> str:
        account = self._account
        return _mastodon("publish").idempotency_key(
            account.instance_url, account.name, feed, entry_id
        )

    def attach_image(self, image: ImageRef, limits: InstanceLimits, stop: threading.Event) -> str:
        # The image's URL comes from the feed: only public addresses, unless allowed.
        policy = AddressPolicy(allow_private=self._settings.allow_private_urls_in_feeds)
        data = _mastodon("media").download_image(
            image,
            limits,
            timeout=self._settings.fetch_timeout,
            deadline=self._settings.fetch_deadline,
            stop=stop,
            policy=policy,
        )
        return self._publisher.upload_image(data, image.alt, stop)

    def post(
        self, pending: PendingPost, toot: Toot, report: FeedReport, stop: threading.Event
    ) -> Posted:
        posted = self._publisher.post(toot, pending.idempotency_key, stop)
        report.posted += 1
        # What went out is worth a line at the default level, beside the feed's counts.
        log.info("feed %s: announced %r → %s", pending.feed, pending.label, posted.url or posted.id)
        return posted

    def find_posted(self, pending: PendingPost, stop: threading.Event) -> Posted | None:
        return self._publisher.find_posted(pending.link or "", pending.pending_since, stop)

    def descendants(self, toot_id: str) -> Thread:
        return self._publisher.descendants(toot_id)

    def status(self, toot_id: str) -> Any:
        return self._publisher.status(toot_id)

    def picture(self, url: str, stop: threading.Event) -> str:
        settings = self._settings
        media = _mastodon("media")
        own = media.on_instance_host(url, self._account.instance_url)
        policy = AddressPolicy(allow_private=own or settings.allow_private_urls_in_feeds)
        try:
            image = media.download_image(
                ImageRef(url),
                InstanceLimits(image_size_limit=media.PICTURE_MAX_BYTES),
                timeout=settings.fetch_timeout,
                deadline=settings.fetch_deadline,
                stop=stop,
                policy=policy,
            )
        except ImageUnavailable as error:
            log.debug("%s: the account's picture is not kept: %s", self._account.name, error)
            return ""
        return media.data_url(image.data, media.PICTURE_MAX_BYTES) or ""

    def edit(self, posted: PostedEntry, toot: Toot, report: FeedReport, stop: threading.Event):
        self._publisher.update(posted.toot_id, toot, stop)
        report.edited += 1

    def delete(
        self, posted: PostedEntry, report: FeedReport, stop: threading.Event, delete_media: bool
    ) -> None:
        self._publisher.delete(posted.toot_id, stop, delete_media=delete_media)
        report.deleted += 1

    def delete_upload(self, media_id: str, stop: threading.Event) -> None:
        self._publisher.delete_upload(media_id, stop)


class RecordingOutbox:
    """A preview's instance: it records what would be sent and sends nothing.

    No request leaves: limits are Mastodon's defaults (unless the state remembers the
    instance's), and an image is named with its alt text but never fetched.
    """

    sends = False

    def __init__(self) -> None:
        self.images: list[ImageRef] = []

    def limits(self, stop: threading.Event) -> InstanceLimits:
        return InstanceLimits()

    def idempotency_key(self, feed: str, entry_id: str) -> str:
        return f"preview:{feed}:{entry_id}"

    def attach_image(self, image: ImageRef, limits: InstanceLimits, stop: threading.Event) -> str:
        self.images.append(image)
        return f"preview-image-{len(self.images)}"

    def post(
        self, pending: PendingPost, toot: Toot, report: FeedReport, stop: threading.Event
    ) -> Posted:
        entry = Entry(id=pending.entry_id, link=pending.link, title=pending.title or "")
        report.previews.append((entry, toot))
        return Posted(id=pending.idempotency_key, url=None)

    def find_posted(self, pending: PendingPost, stop: threading.Event) -> Posted | None:
        # Only the instance knows; a preview shows the post a real run would try.
        return None

    def descendants(self, toot_id: str) -> Thread:
        # A preview reads no replies.
        return Thread()

    def status(self, toot_id: str) -> Any:
        # A preview looks at no toot: nothing to say about its card yet.
        return None

    def picture(self, url: str, stop: threading.Event) -> str:
        # A preview asks the instance nothing.
        return ""

    def edit(self, posted: PostedEntry, toot: Toot, report: FeedReport, stop: threading.Event):
        report.planned_edits.append(_planned(posted, toot))

    def delete(
        self, posted: PostedEntry, report: FeedReport, stop: threading.Event, delete_media: bool
    ) -> None:
        report.planned_deletions.append(_planned(posted, None))

    def delete_upload(self, media_id: str, stop: threading.Event) -> None:
        pass  # a preview uploaded nothing


def new_uploads(posted: PostedEntry, toot: Toot) -> tuple[str, ...]:
    """The media an edit uploaded for `toot` that the posted toot does not use.

    The posted toot's own media stay: Mastodon keeps them for the edit history.
    """
    kept = set(posted.toot.media_ids) if posted.toot else set()
    return tuple(media_id for media_id in toot.media_ids if media_id not in kept)


def _planned(posted: PostedEntry, after: Toot | None) -> PlannedChange:
    return PlannedChange(posted.label, posted.link, posted.toot_url, posted.toot, after)


def lease_holder(state: PostingState) -> str | None:
    """This process, when the state hands its feeds out by lease: a pending post or edit
    first confirms, as it is recorded, that the feed's lease is still its own."""
    return worker_id() if state.shared else None


@contextlib.contextmanager
def uploads_dropped_if_lease_lost(
    session: AccountSession, media_ids: tuple[str, ...]
) -> Iterator[None]:
    """Around recording a post or an edit whose images are uploaded already: when the lease
    turns out lost there, nothing will use them (the heir uploads its own), so they go now
    rather than stay on the instance for a day."""
    try:
        yield
    except LeaseLost:
        session.instance.discard_uploads(media_ids)
        raise


def confirm_still_leased(state: PostingState, feed: str) -> None:
    """LeaseLost when a replica stalled past its feed's lease: nothing more is sent for the
    feed. A new post or edit confirms the lease in the transaction that records it; this
    is asked before what goes out with no such record just before it: a deletion, a post
    sent again without its image, the retry of a post or edit an earlier run recorded."""
    worker = lease_holder(state)
    if worker is not None:
        state.confirm_lease(feed, worker)


def _beyond_idempotency_window(pending: PendingPost, settings: Settings) -> bool:
    """Whether the instance may have forgotten the key of this pending post.

    The margin covers the time one post may spend retrying after its
    record was written, and one request on top.
    """
    margin = settings.post_retry_seconds + settings.request_timeout
    age = (now_utc() - pending.pending_since).total_seconds()
    return age >= settings.idempotency_window - margin


class AccountSession:
    """One account for the length of a pass: its outbox, limits, and why it stopped posting."""

    def __init__(
        self,
        account: Account,
        outbox: Outbox,
        *,
        state: PostingState,
        settings: Settings,
        stop: threading.Event,
        interrupted: Callable[[], bool],
        known_limits: dict[str, InstanceLimits],
        after_post: Callable[[PendingPost, Posted], None] | None = None,
    ):
        self.account = account
        self.outbox = outbox
        self.state = state
        self.settings = settings
        self.stop = stop
        self._interrupted = interrupted
        self.instance = KnownInstance(
            account.instance_url, account.name, outbox, state, stop, known_limits, self.label
        )
        # Why this account posts nothing more this pass (rate limit, refused token).
        self.stopped: str | None = None
        self.failing: str | None = None  # its last temporary failure (alert_after)
        self.rate_limit_reset: datetime | None = None
        self.rate_limited = False  # a 429 met, or recorded in the state by another process
        # Called once a toot is recorded as posted (the on_posted hook); never in a preview.
        self._after_post = after_post

    @property
    def label(self) -> str:
        account = self.account
        if account.name == DEFAULT_ACCOUNT:
            return account.instance_url
        return f"account {account.name}"

    def halted(self) -> bool:
        """Whether nothing more may be posted: a stop request, or this account stopped."""
        return self._interrupted() or self.stopped is not None

    # -- instance limits ---------------------------------------------------------

    @property
    def limits(self) -> InstanceLimits:
        return self.instance.limits

    # -- the publish path --------------------------------------------------------

    def with_image(self, toot: Toot, image: ImageRef, label: str, feed: str) -> Toot:
        """`toot` with `image` uploaded and attached; without it if anything fails."""
        toot = replace(toot, image_url=image.url, image_alt=image.alt)
        try:
            media_id = self.outbox.attach_image(image, self.limits, self.stop)
        except ImageUnavailable as error:
            log.warning("feed %s: %r goes out without its image: %s", feed, label, error)
            return replace(toot, image_url="", image_alt="")
        return replace(toot, media_ids=(media_id,))

    def pend(self, feed: str, entry: Entry, toot: Toot) -> PendingPost | None:
        """Record the toot as pending, before any request: a crash now cannot lose or double it.

        None when the account already announced the entry's link (from any feed).
        """
        key = self.outbox.idempotency_key(feed, entry.id)
        return self.state.mark_pending(
            feed, entry, key, toot, account=self.account.name, worker=lease_holder(self.state)
        )

    def retry(self, pending: PendingPost, report: FeedReport) -> bool:
        """Post a toot an earlier run left pending, unless the instance shows it went out."""
        if _beyond_idempotency_window(pending, self.settings) and pending.link:
            try:
                found = self.outbox.find_posted(pending, self.stop)
            except PublishError as error:
                # Posting blindly could announce it twice: it stays pending.
                self._left_pending(pending, error, report)
                return False
            if found is not None:
                self._posted(pending, found)
                report.posted += 1
                log.debug(
                    "feed %s: %s was already posted as %s; recorded, not posted again",
                    pending.feed,
                    pending.entry_id,
                    found.url or found.id,
                )
                return True
        confirm_still_leased(self.state, pending.feed)
        return self.publish(pending, report)

    def publish(self, pending: PendingPost, report: FeedReport, toot: Toot | None = None) -> bool:
        """Post a pending toot; False when it stays pending for a later run."""
        toot = self.instance.fit(toot or pending.toot)
        if self.halted() or self._limited_elsewhere():
            report.left_for_later()
            return False
        try:
            posted = self.outbox.post(pending, toot, report, self.stop)
        except (TemporaryPublishError, AuthenticationFailed) as error:
            self._left_pending(pending, error, report)
            return False
        except PublishError as error:
            if isinstance(error, RejectedPost) and toot.media_ids:
                # An image never costs the post: its media may have expired or been refused.
                log.warning(
                    "feed %s: %r refused with its image (%s); posting it without",
                    pending.feed,
                    pending.label,
                    error,
                )
                self.instance.discard_uploads(toot.media_ids)
                confirm_still_leased(self.state, pending.feed)
                return self.publish(
                    pending, report, replace(toot, media_ids=(), image_url="", image_alt="")
                )
            self.state.mark_failed(pending.feed, pending.entry_id, str(error))
            log.error("feed %s: %r not posted: %s", pending.feed, pending.label, error)
            report.fail(error)
            report.refused += 1
            return True
        self._posted(pending, posted)
        return True

    def _limited_elsewhere(self) -> bool:
        """Whether a 429 recorded in the state (by any process) still holds for the account."""
        account = self.account
        reset = self.state.rate_limited_until(account.instance_url, account.name)
        if reset is None:
            return False
        self._stop_for_rate_limit(reset)
        return True

    def _stop_for_rate_limit(self, reset: datetime | None) -> None:
        when = reset.isoformat(timespec="seconds") if reset else "unknown"
        self.stopped = f"rate limited until {when}"
        self.rate_limit_reset, self.rate_limited = reset, True
        log.warning("%s: rate limited by the instance; posting resumes after %s", self.label, when)

    def _posted(self, pending: PendingPost, posted: Posted) -> None:
        account = self.account
        self.state.mark_posted(
            pending.feed,
            pending.entry_id,
            posted,
            account=account.name,
            instance=account.instance_url,
        )
        if self._after_post is not None:
            self._after_post(pending, posted)

    # -- after posting (crossposter.after_posting.follow_up) -----------------------------------

    def edit(self, posted: PostedEntry, toot: Toot, report: FeedReport, at: datetime) -> str:
        """Send an edit already recorded in the state (at `at`, the pass's time, which the
        next edit's cooldown counts from): "edited", "gone", "later" or "failed"."""
        if self.halted() or self._limited_elsewhere():
            report.left_for_later()
            return "later"
        try:
            self.outbox.edit(posted, toot, report, self.stop)
        except StatusGone as error:
            # Deleted on the instance by hand: that choice is the person's, and final.
            self.state.mark_deleted(posted.feed, posted.entry_id, str(error))
            log.warning("feed %s: %r not edited: %s", posted.feed, posted.label, error)
            self.instance.discard_uploads(new_uploads(posted, toot))
            return "gone"
        except (TemporaryPublishError, AuthenticationFailed) as error:
            self._left_pending(posted, error, report)
            return "later"
        except PublishError as error:
            # Refused for good: the toot stays as posted, the article as it is becomes the
            # reference, so the same edit is not tried on every run.
            self.state.drop_edit(posted.feed, posted.entry_id)
            log.error("feed %s: %r not edited: %s", posted.feed, posted.label, error)
            report.fail(error)
            self.instance.discard_uploads(new_uploads(posted, toot))
            return "failed"
        self.state.mark_edited(posted.feed, posted.entry_id, at)
        return "edited"

    def deletions_since(self, since: datetime) -> int:
        """How many toots this account deleted since `since`, in this run or earlier ones."""
        return self.state.deletions_since(self.account.name, since)

    def delete(self, posted: PostedEntry, report: FeedReport, reason: str, at: datetime) -> str:
        """Delete a toot whose article is gone (at `at`): "retracted", "later" or "failed"."""
        if self.halted() or self._limited_elsewhere():
            report.left_for_later()
            return "later"
        confirm_still_leased(self.state, posted.feed)
        try:
            self.outbox.delete(
                posted, report, self.stop, delete_media=self.instance.capabilities.delete_media
            )
            self.state.record_deletion(self.account.name, at)
        except StatusGone:
            pass  # deleted already: what was wanted
        except (TemporaryPublishError, AuthenticationFailed) as error:
            self._left_pending(posted, error, report)
            return "later"
        except PublishError as error:
            log.error("feed %s: %r not deleted: %s", posted.feed, posted.label, error)
            report.fail(error)
            return "failed"
        self.state.mark_retracted(posted.feed, posted.entry_id, reason)
        return "retracted"

    def _left_pending(
        self, pending: PendingPost | PostedEntry, error: PublishError, report: FeedReport
    ) -> None:
        """A failure that leaves the entry pending; some also stop the account for the pass."""
        self.failing = str(error) if error.temporary else self.failing
        if isinstance(error, RateLimited):
            if error.reset_at is not None:
                # So that no other process posts on this account before the reset either.
                self.state.record_rate_limit(
                    self.account.instance_url, self.account.name, error.reset_at
                )
            self._stop_for_rate_limit(error.reset_at)
            report.left_for_later()
        elif isinstance(error, AuthenticationFailed):
            # Say which token: with several accounts, or a token file, the variable
            # the user would otherwise look at may not be the one in use.
            self.stopped = f"{error}: {self.account.token_source or TOKEN_VARIABLE}"
            log.error("%s: %s", self.label, self.stopped)
            report.fail(error, "access token refused")
            report.deferred += 1
        elif isinstance(error, InstanceUnreachable):
            # Every other post would meet the same closed door: they all wait for next run.
            self.stopped = str(error)
            log.warning("%s; posts wait for the next run", error)
            report.fail(error, "instance unreachable")
            report.deferred += 1
        else:
            level = logging.WARNING if error.temporary else logging.ERROR
            log.log(level, "feed %s: %r stays pending: %s", pending.feed, pending.label, error)
            report.fail(error)
            report.deferred += 1


def keep_author(session: AccountSession, author: AccountProfile) -> None:
    """Keep how the session's account shows on its toots, for the preview page: what the
    instance's answer to the post said. Its picture, kept while its address stays the same,
    is fetched by a run with nothing to post (keep_picture): a posting run spends its
    requests on posts (issue 17: 100 posts in 101 requests)."""
    account = session.account
    known = session.state.account_profile(account.instance_url, account.name)
    avatar = known.avatar if known and known.avatar_url == author.avatar_url else ""
    acct = handle(author.acct, session.limits.domain or account.instance_url)
    session.state.save_account_profile(
        account.instance_url, account.name, replace(author, acct=acct, avatar=avatar)
    )


def look_after_account(session: AccountSession, *, posted_this_pass: bool) -> None:
    """After a pass: delete the uploads earlier runs left unused and, when this pass posted
    nothing on the account, fetch the picture a posting run noted (keep_picture)."""
    session.instance.sweep_unused_uploads()
    if not posted_this_pass:
        keep_picture(session)


def keep_picture(session: AccountSession) -> None:
    """Fetch the account's picture when a run recorded where it is but not the picture
    itself, so that a preview shows it without asking the instance anything."""
    account = session.account
    known = session.state.account_profile(account.instance_url, account.name)
    if known is None or not known.avatar_url or known.avatar:
        return
    avatar = session.outbox.picture(known.avatar_url, session.stop)
    if avatar:
        session.state.save_account_profile(
            account.instance_url, account.name, replace(known, avatar=avatar)
        )
