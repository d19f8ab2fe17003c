"""One pass over every feed: fetch → parse → select → compose → publish → state.

Each feed is handled on its own: one that fails is reported and the others go
on. Nothing is posted without first being recorded as pending in the state.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from crossposter.accounts import Account, account_of, with_token
from crossposter.config import DEFAULT_ACCOUNT, TOKEN_VARIABLE, FeedConfig, Settings
from crossposter.errors import (
    AuthenticationFailed,
    FeedError,
    ImageUnavailable,
    LookupRefused,
    PublishError,
    RateLimited,
    RejectedPost,
    TemporaryPublishError,
)
from crossposter.feeds.fetch import FetchOptions, FetchRequest, FetchResult, Validators, fetch_all
from crossposter.feeds.filters import skip_reason
from crossposter.feeds.select import select_new
from crossposter.mastodon.instance import fetch_limits
from crossposter.models import Entry, FeedInfo, FeedReport, InstanceLimits, ParsedFeed, Toot
from crossposter.state import PendingPost, State, now_utc

if TYPE_CHECKING:
    from crossposter.mastodon.publish import Publisher

log = logging.getLogger(__name__)

LIMITS_MAX_AGE = timedelta(days=1)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_TEMPFAIL = 75


@dataclass
class RunReport:
    feeds: list[FeedReport] = field(default_factory=list)
    # Why posting stopped for the whole account, when it did.
    stopped: str | None = None
    rate_limit_reset: datetime | None = None
    limits: InstanceLimits | None = None
    # A stop was requested (SIGTERM, SIGINT) and the run ended early.
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        if any(feed.permanent_failure for feed in self.feeds):
            return EXIT_FAILED
        if any(feed.temporary_failure for feed in self.feeds):
            return EXIT_TEMPFAIL
        return EXIT_OK


PublisherFactory = Callable[[Settings, Account], "Publisher"]


def default_publisher(settings: Settings, account: Account) -> Publisher:
    # Imported here: posting (Mastodon.py, tenacity) is only for runs that found something.
    from crossposter.mastodon.publish import Publisher, PublishOptions

    return Publisher(
        account.instance_url,
        account.token or "",
        PublishOptions(
            request_timeout=settings.request_timeout,
            retry_seconds=settings.post_retry_seconds,
            rate_limit_wait=settings.rate_limit_wait,
        ),
    )


def run(
    settings: Settings,
    *,
    dry_run: bool = False,
    publisher_factory: PublisherFactory = default_publisher,
    stop: threading.Event | None = None,
) -> RunReport:
    """Announce what is new in every enabled feed; with dry_run, only say what would be.

    Setting `stop` (from a signal handler) ends the run early but cleanly: fetches
    in flight are abandoned, a post in flight gets the grace (signals.GRACE_SECONDS)
    and otherwise stays pending, nothing new is sent, the state stays consistent.
    """
    accounts = {feed.name: account_of(settings, feed) for feed in settings.feeds}
    if not dry_run:
        # Every token a run will need is read before anything happens, so a missing one
        # is a configuration error and not a half-done run.
        used = {feed.account or DEFAULT_ACCOUNT for feed in settings.enabled_feeds}
        ready = {
            account.name: with_token(settings, account)
            for account in accounts.values()
            if account.name in used
        }
        accounts = {name: ready.get(account.name, account) for name, account in accounts.items()}
    if dry_run:
        state = State.open_read_only(settings.state_file)
    else:
        state = State.open(settings.state_file, lock_timeout=settings.lock_timeout)
    with state:
        return _Pass(settings, state, dry_run, publisher_factory, stop, accounts).run()


class _Pass:
    """The work of one run; holds what is shared across feeds (limits, publisher)."""

    def __init__(
        self,
        settings: Settings,
        state: State,
        dry_run: bool,
        publisher_factory: PublisherFactory,
        stop: threading.Event | None,
        accounts: dict[str, Account],
    ):
        self.settings = settings
        self.state = state
        self.dry_run = dry_run
        self.publisher_factory = publisher_factory
        self.stop = stop or threading.Event()
        self.report = RunReport()
        # Feed name → the account it posts to (with its token, for a real run).
        self.accounts = accounts
        self._publishers: dict[str, Publisher] = {}
        self._limits: dict[str, InstanceLimits] = {}
        # Account name → why it posts nothing more this run (rate limit, refused token).
        self._stopped: dict[str, str] = {}

    def run(self) -> RunReport:
        feeds = self.settings.enabled_feeds
        if not self.dry_run:
            self._retry_failed_after_settings_change(feeds)
        requests = [self._fetch_request(feed) for feed in feeds]
        options = FetchOptions(
            timeout=self.settings.fetch_timeout,
            deadline=self.settings.fetch_deadline,
            max_bytes=self.settings.max_feed_bytes,
            workers=self.settings.fetch_workers,
        )
        results = {
            result.name: result for result in fetch_all(requests, options, stop=self.stop)
        }
        # One commit for the whole pass; the writes that guard a post still commit at once.
        with self.state.batch():
            for feed in feeds:
                feed_report = FeedReport(name=feed.name)
                self.report.feeds.append(feed_report)
                if self._stop_requested():
                    feed_report.errors.append("not handled: the run was interrupted")
                    feed_report.temporary_failure = True
                    continue
                try:
                    self._handle_feed(feed, results[feed.name], feed_report)
                except FeedError as error:
                    self._feed_failed(feed_report, error)
                except Exception as error:  # a bug in one feed's handling must not stop the others
                    log.debug("feed %s: unexpected error", feed.name, exc_info=True)
                    self._feed_failed(
                        feed_report, FeedError(f"unexpected error: {type(error).__name__}: {error}")
                    )
        return self.report

    def _retry_failed_after_settings_change(self, feeds: list[FeedConfig]) -> None:
        """A toot the server refused (too long, say) is tried again once its feed's settings
        change: the person may have just fixed them. Before the fetch, as `state retry`."""
        known = self.state.settings_fingerprints()
        with self.state.batch():
            for feed in feeds:
                fingerprint = hashlib.sha256(feed.model_dump_json().encode()).hexdigest()
                if known.get(feed.name) == fingerprint:
                    continue
                if feed.name in known:
                    retried = self.state.retry_failed(feed.name)
                    if retried:
                        log.info(
                            "feed %s: its settings changed; %d failed entr%s tried again",
                            feed.name,
                            retried,
                            "y is" if retried == 1 else "ies are",
                        )
                self.state.save_settings_fingerprint(feed.name, fingerprint)

    def _stop_requested(self) -> bool:
        if self.stop.is_set() and not self.report.interrupted:
            self.report.interrupted = True
            self.report.stopped = self.report.stopped or "interrupted; the rest waits"
        return self.report.interrupted

    def _fetch_request(self, feed: FeedConfig) -> FetchRequest:
        known = self.state.feed(feed.name)
        # A changed URL is a different document: its old validators mean nothing.
        validators = known.validators if known and known.url == feed.url else Validators()
        return FetchRequest(name=feed.name, url=feed.url, validators=validators)

    # -- one feed ------------------------------------------------------------

    def _handle_feed(self, feed: FeedConfig, fetched: FetchResult, report: FeedReport) -> None:
        first_run = self.state.feed(feed.name) is None
        # Posts left pending by an earlier run go first, whatever the feed says today.
        if not first_run:
            self._retry_pending(feed, report)

        if fetched.moved_permanently_to:
            log.warning(
                "feed %s moved permanently to %s; update its url in the configuration",
                feed.name,
                fetched.moved_permanently_to,
            )
        if fetched.error is not None:
            if not self.dry_run and not first_run:
                self.state.record_fetch(feed.name, feed.url, f"error: {fetched.error.reason}")
            raise fetched.error
        if fetched.not_modified:
            report.not_modified = True
            if not self.dry_run:
                self.state.record_fetch(feed.name, feed.url, "not modified")
            return

        # Parsing and composing are imported only for a feed that changed: most runs
        # see nothing but 304s and should start as fast as the network allows.
        from crossposter.feeds.parse import parse_feed

        parsed = parse_feed(fetched.content, url=fetched.final_url, headers=fetched.headers)
        if parsed.malformed:
            log.warning(
                "feed %s is malformed, using what could be read: %s", feed.name, parsed.malformed
            )
        self._handle_entries(feed, fetched, parsed, first_run, report)

    def _handle_entries(
        self,
        feed: FeedConfig,
        fetched: FetchResult,
        parsed: ParsedFeed,
        first_run: bool,
        report: FeedReport,
    ) -> None:
        known = self.state.known_ids(feed.name)
        report.filtered = self._filtered(feed, parsed.entries, known, first_run)
        filtered_ids = {entry.id for entry, _ in report.filtered}
        selection = select_new(
            [entry for entry in parsed.entries if entry.id not in filtered_ids],
            known,
            first_run=first_run,
            backfill=feed.backfill,
            max_posts=feed.max_posts_per_run,
        )
        report.new = len(selection.announce) + len(selection.waiting)
        report.deferred = len(selection.waiting)
        if not self.dry_run:
            now = now_utc()
            self.state.record_fetch(feed.name, feed.url, "ok", parsed_at=now)
            self.state.mark_seen(feed.name, selection.mark_seen, at=now)
            report.recorded = len(selection.mark_seen)
            self.state.mark_filtered(feed.name, report.filtered, at=now)
            self.state.touch(feed.name, [entry.id for entry in parsed.entries], at=now)

        all_handled = not selection.waiting
        for entry in selection.announce:
            if not self._announce(feed, parsed.info, entry, report):
                all_handled = False

        if self.dry_run:
            return
        if all_handled:
            self.state.save_validators(feed.name, fetched.validators)
        removed = self.state.prune(feed.name, timedelta(days=self.settings.retention_days))
        if removed:
            log.debug("feed %s: forgot %d entries long gone from it", feed.name, removed)

    def _filtered(
        self, feed: FeedConfig, entries: tuple[Entry, ...], known: set[str], first_run: bool
    ) -> list[tuple[Entry, str]]:
        """The new entries an include/exclude rule skips, each with that rule."""
        entry_filter = feed.entry_filter()
        # A first run without backfill announces nothing: there is nothing to filter.
        if first_run and not feed.backfill:
            return []
        skipped: dict[str, tuple[Entry, str]] = {}
        for entry in entries:
            if entry.id in known or entry.id in skipped:
                continue
            reason = skip_reason(entry, entry_filter)
            if reason:
                log.debug("feed %s: not announcing %r: %s", feed.name, entry.title, reason)
                skipped[entry.id] = (entry, reason)
        return list(skipped.values())

    def _announce(self, feed: FeedConfig, info: FeedInfo, entry: Entry, report: FeedReport) -> bool:
        """Compose and post one entry; False when it must be tried again on a later run."""
        limits = self.limits(feed.name)
        from crossposter.compose.toot import UnpostableEntry, compose

        try:
            toot = compose(entry, info, feed.compose_options(), limits)
        except UnpostableEntry as error:
            log.warning("feed %s: skipping %r: %s", feed.name, entry.title or entry.id, error)
            report.skipped += 1
            if not self.dry_run:
                self.state.mark_seen(feed.name, [entry])
            return True
        if self.dry_run:
            if feed.image:
                toot = self._with_image(feed.name, entry, toot, limits, upload=False)
            report.previews.append((entry, toot))
            return True
        if self._halted(feed.name):
            # Work is left for the next run: the exit code must say so (75), not "done".
            report.temporary_failure = True
            return False
        if feed.image:
            toot = self._with_image(feed.name, entry, toot, limits)
            if self._halted(feed.name):
                # A stop abandoned the download: the entry waits, image and all, for next run.
                report.temporary_failure = True
                return False
        account = self.accounts[feed.name]
        from crossposter.mastodon.publish import idempotency_key

        key = idempotency_key(account.instance_url, account.name, feed.name, entry.id)
        self.state.mark_pending(feed.name, entry, key, toot)
        return self._publish(feed.name, entry.id, entry.title or entry.id, toot, key, report)

    def _retry_pending(self, feed: FeedConfig, report: FeedReport) -> None:
        for pending in self.state.pending(feed.name):
            if self.dry_run:
                report.previews.append(
                    (Entry(id=pending.entry_id, link=None, title="(pending retry)"), pending.toot)
                )
                continue
            if self._halted(feed.name):
                report.temporary_failure = True
                return
            log.debug("feed %s: retrying pending post of %s", feed.name, pending.entry_id)
            self._retry_one(feed.name, pending, report)

    def _retry_one(self, feed: str, pending: PendingPost, report: FeedReport) -> None:
        if self._beyond_idempotency_window(pending) and pending.link:
            try:
                found = self.publisher(feed).find_posted(
                    pending.link, pending.pending_since, self.stop
                )
            except LookupRefused as error:
                # Posting blindly could announce it twice: it stays pending until a person acts.
                log.error("feed %s: %s stays pending: %s", feed, pending.entry_id, error)
                report.errors.append(str(error))
                report.permanent_failure = True
                return
            except PublishError as error:
                self._publish_failed_for_the_run(feed, pending.entry_id, error, report)
                return
            if found is not None:
                self.state.mark_posted(feed, pending.entry_id, found)
                report.posted += 1
                log.debug(
                    "feed %s: %s was already posted as %s; recorded, not posted again",
                    feed,
                    pending.entry_id,
                    found.url or found.id,
                )
                return
        self._publish(
            feed, pending.entry_id, pending.entry_id, pending.toot, pending.idempotency_key, report
        )

    def _beyond_idempotency_window(self, pending: PendingPost) -> bool:
        """Whether the instance may have forgotten the key of this pending post.

        The margin covers the time one post may spend retrying after its
        record was written, and one request on top.
        """
        margin = self.settings.post_retry_seconds + self.settings.request_timeout
        age = (now_utc() - pending.pending_since).total_seconds()
        return age >= self.settings.idempotency_window - margin

    def _publish(
        self, feed: str, entry_id: str, label: str, toot: Toot, key: str, report: FeedReport
    ) -> bool:
        if self._halted(feed):
            report.temporary_failure = True
            return False
        try:
            posted = self.publisher(feed).post(toot, key, self.stop)
        except (RateLimited, TemporaryPublishError, AuthenticationFailed) as error:
            self._publish_failed_for_the_run(feed, label, error, report)
            return False
        except PublishError as error:
            if isinstance(error, RejectedPost) and toot.media_ids:
                # An image never costs the post: its media may have expired or been refused.
                log.warning(
                    "feed %s: %r refused with its image (%s); posting it without",
                    feed,
                    label,
                    error,
                )
                return self._publish(
                    feed,
                    entry_id,
                    label,
                    replace(toot, media_ids=(), image_url="", image_alt=""),
                    key,
                    report,
                )
            self.state.mark_failed(feed, entry_id, str(error))
            log.error("feed %s: %r not posted: %s", feed, label, error)
            report.errors.append(str(error))
            report.permanent_failure = True
            return True
        self.state.mark_posted(feed, entry_id, posted)
        report.posted += 1
        log.debug("feed %s: posted %r as %s", feed, label, posted.url or posted.id)
        return True

    def _publish_failed_for_the_run(
        self, feed: str, label: str, error: PublishError, report: FeedReport
    ) -> None:
        """A failure that leaves the entry pending; some also stop posting for the run."""
        if isinstance(error, RateLimited):
            reset = error.reset_at.isoformat(timespec="seconds") if error.reset_at else "unknown"
            self._stop_account(feed, f"rate limited until {reset}")
            self.report.rate_limit_reset = error.reset_at
            log.warning(
                "%s: rate limited by the instance; posting resumes after %s",
                self._account_label(feed),
                reset,
            )
            report.temporary_failure = True
        elif isinstance(error, TemporaryPublishError):
            log.warning("feed %s: %r stays pending: %s", feed, label, error)
            report.errors.append(str(error))
            report.temporary_failure = True
        elif isinstance(error, AuthenticationFailed):
            # Say which token: with several accounts, or a token file, the variable
            # the user would otherwise look at may not be the one in use.
            why = f"{error}: {self.accounts[feed].token_source or TOKEN_VARIABLE}"
            self._stop_account(feed, why)
            log.error("%s: %s", self._account_label(feed), why)
            report.errors.append("access token refused")
            report.permanent_failure = True
        else:
            log.error("feed %s: %r stays pending: %s", feed, label, error)
            report.errors.append(str(error))
            report.permanent_failure = True

    def _feed_failed(self, report: FeedReport, error: FeedError) -> None:
        report.errors.append(error.reason)
        if error.temporary:
            report.temporary_failure = True
        else:
            report.permanent_failure = True

    # -- shared per run --------------------------------------------------------

    def _halted(self, feed: str) -> bool:
        """Whether nothing more may be posted for `feed`: a stop request, or its account stopped."""
        return self._stop_requested() or self.accounts[feed].name in self._stopped

    def _stop_account(self, feed: str, why: str) -> None:
        account = self.accounts[feed].name
        self._stopped[account] = why
        self.report.stopped = "; ".join(
            why if name == DEFAULT_ACCOUNT else f"account {name}: {why}"
            for name, why in self._stopped.items()
        )

    def _account_label(self, feed: str) -> str:
        account = self.accounts[feed]
        return (
            account.instance_url if account.name == DEFAULT_ACCOUNT else f"account {account.name}"
        )

    def _with_image(
        self, feed: str, entry: Entry, toot: Toot, limits: InstanceLimits, upload: bool = True
    ) -> Toot:
        """`toot` with the entry's image uploaded and attached; without it if anything fails.

        Without `upload` (a preview) the image is only chosen, never fetched.
        """
        from crossposter.compose.images import choose_image
        from crossposter.mastodon.media import download_image
        from crossposter.net.public import AddressPolicy

        image = choose_image(entry, limits)
        if image is None:
            return toot
        toot = replace(toot, image_url=image.url, image_alt=image.alt)
        if not upload:
            return toot
        try:
            data = download_image(
                image,
                limits,
                timeout=self.settings.fetch_timeout,
                deadline=self.settings.fetch_deadline,
                stop=self.stop,
                policy=AddressPolicy(allow_private=self.settings.allow_private_urls_in_feeds),
            )
            media_id = self.publisher(feed).upload_image(data, image.alt, self.stop)
        except ImageUnavailable as error:
            log.warning(
                "feed %s: %r goes out without its image: %s", feed, entry.title or entry.id, error
            )
            return replace(toot, image_url="", image_alt="")
        return replace(toot, media_ids=(media_id,))

    def limits(self, feed: str) -> InstanceLimits:
        """The limits of the instance `feed` posts to, asked once per run and instance."""
        instance = self.accounts[feed].instance_url
        if instance not in self._limits:
            self._limits[instance] = self._load_limits(instance)
            self.report.limits = self.report.limits or self._limits[instance]
        return self._limits[instance]

    def _load_limits(self, instance: str) -> InstanceLimits:
        cached = self.state.cached_limits(instance, LIMITS_MAX_AGE)
        if cached:
            return cached
        if self.dry_run:
            # A preview touches nothing, the instance included; the limit shown says so.
            return InstanceLimits()
        limits = fetch_limits(instance, timeout=self.settings.request_timeout)
        if limits.source != "default":
            self.state.save_limits(instance, limits)
        return limits

    def publisher(self, feed: str) -> Publisher:
        account = self.accounts[feed]
        if account.name not in self._publishers:
            self._publishers[account.name] = self.publisher_factory(self.settings, account)
        return self._publishers[account.name]
