"""One pass over every feed: fetch → parse → select → compose → publish → state.

Each feed is handled on its own: one that fails is reported and the others go
on. Nothing is posted without first being recorded as pending in the state.

A preview (--dry-run) is the same pass, on a throw-away copy of the state and
with a recording outbox in place of the instance: what it shows is what a run
would do, and it changes nothing outside its process.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from crossposter.accounts import Account, accounts_in_use, feed_accounts, with_token
from crossposter.config import DEFAULT_ACCOUNT, FeedConfig, Settings
from crossposter.errors import FeedError, TemporaryFeedError
from crossposter.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_TEMPFAIL
from crossposter.feeds.fetch import FetchOptions, FetchRequest, FetchResult, Validators, fetch_all
from crossposter.feeds.filters import skip_reason
from crossposter.feeds.select import select_new
from crossposter.follow_up import FollowUp
from crossposter.models import Entry, FeedInfo, FeedReport, InstanceLimits, ParsedFeed
from crossposter.posting import (
    AccountSession,
    LiveOutbox,
    Outbox,
    PublisherFactory,
    RecordingOutbox,
    default_publisher,
)
from crossposter.state import PostedEntry, State, now_utc, open_preview, open_state

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

__all__ = ["PublisherFactory", "RunReport", "default_publisher", "run"]


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


def run(
    settings: Settings,
    *,
    dry_run: bool = False,
    publisher_factory: PublisherFactory = default_publisher,
    stop: threading.Event | None = None,
    clock: Callable[[], datetime] = now_utc,
) -> RunReport:
    """Announce what is new in every enabled feed; with dry_run, only say what would be.

    Setting `stop` (from a signal handler) ends the run early but cleanly: fetches
    in flight are abandoned, a post in flight gets the grace (signals.GRACE_SECONDS)
    and otherwise stays pending, nothing new is sent, the state stays consistent.
    """
    accounts = feed_accounts(settings)
    if not dry_run:
        # Every token a run will need is read before anything happens, so a missing one
        # is a configuration error and not a half-done run. A preview reads none.
        used = accounts_in_use(settings)
        ready = {account.name: with_token(settings, account) for account in used}
        accounts = {name: ready.get(account.name, account) for name, account in accounts.items()}
    outbox_for: Callable[[Account], Outbox]
    if dry_run:
        state = open_preview(settings)
        outbox_for = lambda account: RecordingOutbox()  # noqa: E731
    else:
        state = open_state(settings)
        outbox_for = lambda account: LiveOutbox(settings, account, publisher_factory)  # noqa: E731
    with state:
        return Pass(settings, state, outbox_for, stop, accounts, clock).run()


@dataclass(frozen=True)
class _ChangedFeedSteps:
    parse_feed: Callable[..., ParsedFeed]
    compose: Callable[..., Any]
    unpostable: type[Exception]
    choose_image: Callable[..., Any]


@functools.cache
def _changed_feed_steps() -> _ChangedFeedSteps:
    """Parsing and composing, imported the first time a feed has changed: most runs see
    nothing but 304s and should start as fast as the network allows."""
    from crossposter.compose.images import choose_image
    from crossposter.compose.toot import UnpostableEntry, compose
    from crossposter.feeds.parse import parse_feed

    return _ChangedFeedSteps(parse_feed, compose, UnpostableEntry, choose_image)


class Pass:
    """The work of one run over every feed; accounts get an AccountSession when first needed."""

    def __init__(
        self,
        settings: Settings,
        state: State,
        outbox_for: Callable[[Account], Outbox],
        stop: threading.Event | None,
        accounts: dict[str, Account],
        clock: Callable[[], datetime] = now_utc,
    ):
        self.settings = settings
        # What edits and removal checks measure their windows and hours with.
        self.clock = clock
        self.state = state
        self.stop = stop or threading.Event()
        self.report = RunReport()
        # Feed name → the account it posts to (with its token, for a real run).
        self._accounts = accounts
        self._outbox_for = outbox_for
        # Account name → its session, made when the account first has something to do.
        self._sessions: dict[str, AccountSession] = {}
        # Instance → its limits, asked once per pass.
        self._limits: dict[str, InstanceLimits] = {}

    def run(self) -> RunReport:
        feeds = self.settings.enabled_feeds
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
                    feed_report.fail(TemporaryFeedError("not handled: the run was interrupted"))
                    continue
                try:
                    self._handle_feed(feed, results[feed.name], feed_report)
                except FeedError as error:
                    feed_report.fail(error)
                except Exception as error:  # a bug in one feed's handling must not stop the others
                    log.debug("feed %s: unexpected error", feed.name, exc_info=True)
                    feed_report.fail(
                        FeedError(f"unexpected error: {type(error).__name__}: {error}")
                    )
        self._sum_up_accounts()
        return self.report

    def _retry_failed_after_settings_change(self, feeds: list[FeedConfig]) -> None:
        """A toot the server refused (too long, say) is tried again once its feed's settings
        change: the person may have just fixed them. Before the fetch, as `state retry`."""
        known = self.state.settings_fingerprints()
        with self.state.batch():
            for feed in feeds:
                fingerprint = feed.settings_fingerprint
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
        if self.stop.is_set():
            self.report.interrupted = True
        return self.report.interrupted

    def _fetch_request(self, feed: FeedConfig) -> FetchRequest:
        known = self.state.feed(feed.name)
        # A changed URL is a different document: its old validators mean nothing.
        validators = known.validators if known and known.url == feed.url else Validators()
        return FetchRequest(name=feed.name, url=feed.url, validators=validators)

    def _session(self, feed: FeedConfig) -> AccountSession:
        account = self._accounts[feed.name]
        if account.name not in self._sessions:
            self._sessions[account.name] = AccountSession(
                account,
                self._outbox_for(account),
                state=self.state,
                settings=self.settings,
                stop=self.stop,
                interrupted=self._stop_requested,
                known_limits=self._limits,
            )
        return self._sessions[account.name]

    def _sum_up_accounts(self) -> None:
        stopped = [session for session in self._sessions.values() if session.stopped]
        if stopped:
            self.report.stopped = "; ".join(
                session.stopped
                if session.account.name == DEFAULT_ACCOUNT
                else f"account {session.account.name}: {session.stopped}"
                for session in stopped
            )
        elif self.report.interrupted:
            self.report.stopped = "interrupted; the rest waits"
        resets = [s.rate_limit_reset for s in stopped if s.rate_limit_reset is not None]
        self.report.rate_limit_reset = resets[-1] if resets else None
        # The first instance asked, as the preview shows it.
        self.report.limits = next(iter(self._limits.values()), None)

    # -- one feed ------------------------------------------------------------

    def _handle_feed(self, feed: FeedConfig, fetched: FetchResult, report: FeedReport) -> None:
        first_run = self.state.feed(feed.name) is None
        # Posts left pending by an earlier run go first, whatever the feed says today.
        if not first_run:
            self._retry_pending(feed, report)
            self._follow_up(feed, report).retry_edits()

        if fetched.moved_permanently_to:
            log.warning(
                "feed %s moved permanently to %s; update its url in the configuration",
                feed.name,
                fetched.moved_permanently_to,
            )
        if fetched.error is not None:
            if not first_run:
                self.state.record_fetch(feed.name, feed.url, f"error: {fetched.error.reason}")
            raise fetched.error
        if fetched.not_modified:
            report.not_modified = True
            self.state.record_fetch(feed.name, feed.url, "not modified")
            self._follow_up(feed, report).check_removals()
            return

        parsed = _changed_feed_steps().parse_feed(
            fetched.content, url=fetched.final_url, headers=fetched.headers
        )
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
        follow_up = self._follow_up(feed, report)
        same = follow_up.same_articles(parsed.entries, known)
        self.state.mark_seen(feed.name, same)
        known |= {entry.id for entry in same}
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

        follow_up.revise(parsed.info, parsed.entries)
        follow_up.check_removals({entry.id for entry in parsed.entries})
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
        steps = _changed_feed_steps()
        session = self._session(feed)
        try:
            toot = steps.compose(entry, info, feed, session.limits)
        except steps.unpostable as error:
            log.warning("feed %s: skipping %r: %s", feed.name, entry.title or entry.id, error)
            report.skipped += 1
            self.state.mark_seen(feed.name, [entry])
            return True
        if session.halted():
            report.left_for_later()
            return False
        if feed.image:
            image = steps.choose_image(entry, session.limits)
            if image is not None:
                toot = session.with_image(toot, image, entry.title or entry.id, feed.name)
                if session.halted():
                    # A stop abandoned the download: the entry waits, image and all, for next run.
                    report.left_for_later()
                    return False
        pending = session.pend(feed.name, entry, toot)
        return session.publish(pending, report)

    def _follow_up(self, feed: FeedConfig, report: FeedReport) -> FollowUp:
        return FollowUp(
            feed,
            self.settings,
            self.state,
            lambda: self._session(feed),
            report,
            self.clock(),
            self.stop,
            self._after_event,
        )

    def _after_event(self, kind: str, posted: PostedEntry, reason: str) -> None:
        """A toot was `edited` or `retracted` after posting: the one place such events happen.

        The on_posted hooks are meant to hear of them here; for now it is logged.
        """
        log.debug("feed %s: %s event for %s (%s)", posted.feed, kind, posted.entry_id, reason)

    def _retry_pending(self, feed: FeedConfig, report: FeedReport) -> None:
        for pending in self.state.pending(feed.name):
            session = self._session(feed)
            if session.halted():
                report.left_for_later()
                return
            log.debug("feed %s: retrying pending post of %s", feed.name, pending.entry_id)
            session.retry(pending, report)


# Where the feed's settings meet composing and the state: kept here, small, so the
# feed's validated options can replace them in one place.
