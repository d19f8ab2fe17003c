"""One pass over every feed: the feeds due, fetched a slice at a time under leases, each
handed to crossposter.feed_handling (parse → select → compose → publish → follow-up),
then the replies and the summary per account.

Each feed is handled on its own: one that fails is reported and the others go
on. Nothing is posted without first being recorded as pending in the state.

A preview (--dry-run) is the same pass, on a throw-away copy of the state and
with a recording outbox in place of the instance: what it shows is what a run
would do, and it changes nothing outside its process.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from crossposter.accounts import (
    Account,
    TootAccounts,
    TootOwner,
    accounts_in_use,
    feed_accounts,
    with_token,
)
from crossposter.after_posting.cards import CHECK_WITHIN as CARD_CHECK_WITHIN
from crossposter.after_posting.cards import look_at_cards
from crossposter.after_posting.hooks import HookEvent, notify_feed
from crossposter.after_posting.replies_file import due
from crossposter.after_posting.site_files import write_site_files
from crossposter.alerts import ACCOUNT, FEED, Alerts
from crossposter.config import FeedConfig, Settings
from crossposter.errors import FeedError, StateError, TemporaryFeedError
from crossposter.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_TEMPFAIL
from crossposter.feed_handling import FeedHandling, PassShared
from crossposter.feeds.fetch import FetchRequest, fetch_each
from crossposter.health import next_heartbeat, worker_id
from crossposter.leases import FeedLeases
from crossposter.logsafe import plural
from crossposter.models import (
    DEFAULT_ACCOUNT,
    AccountProfile,
    FeedReport,
    InstanceLimits,
    Posted,
    Thread,
    Validators,
)
from crossposter.posting import (
    AccountSession,
    LiveOutbox,
    Outbox,
    PublisherFactory,
    RecordingOutbox,
    default_publisher,
    keep_author,
    look_after_account,
)
from crossposter.state import (
    AnnouncedPost,
    CoordinationRole,
    FeedState,
    PendingPost,
    State,
    now_utc,
)
from crossposter.storage import open_preview, open_state

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
    # False when links_file or replies_file could not be written.
    site_files_written: bool = True
    # Feeds and accounts failing for longer than their alert_after: a person must know.
    alerts: list[str] = field(default_factory=list)
    # The accounts the instance rate-limited during the pass.
    rate_limited: list[str] = field(default_factory=list)
    # A preview's: each account as the last real run recorded it, by account name.
    profiles: dict[str, AccountProfile] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        if (
            self.alerts
            or not self.site_files_written
            or any(feed.permanent_failure for feed in self.feeds)
        ):
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
    poll_interval: float | None = None,
    poll_now: Collection[str] = (),
) -> RunReport:
    """Announce what is new in every enabled feed; with dry_run, only say what would be.

    Setting `stop` (from a signal handler) ends the run early but cleanly: fetches
    in flight are abandoned, a post in flight gets the grace (signals.GRACE_SECONDS)
    and otherwise stays pending, nothing new is sent, the state stays consistent.

    A feed another process is working on is left to it. With `poll_interval` (a pass
    of `run --loop`), only the feeds due are polled, each next due that long after,
    and the pass ends with this worker's heartbeat in the state; the feeds named in
    `poll_now` (asked for by a webhook or a hub) are polled too, due or not.
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
        report = Pass(
            settings, state, outbox_for, stop, accounts, clock,
            preview=dry_run, poll_interval=poll_interval, poll_now=poll_now,
        ).run()
        if dry_run:
            report.profiles = _recorded_profiles(state, accounts.values())
        else:
            report.site_files_written = write_site_files(settings, state)
            if poll_interval is not None:
                _record_heartbeat(state, poll_interval, report.exit_code)
        return report


def _recorded_profiles(
    state: CoordinationRole, accounts: Iterable[Account]
) -> dict[str, AccountProfile]:
    profiles = {}
    for account in accounts:
        profile = state.account_profile(account.instance_url, account.name)
        if profile is not None:
            profiles[account.name] = profile
    return profiles


def _record_heartbeat(state: CoordinationRole, interval: float, exit_code: int) -> None:
    worker = worker_id()
    heartbeat = next_heartbeat(
        state.heartbeat(worker), interval_seconds=interval, exit_code=exit_code, at=now_utc()
    )
    state.record_heartbeat(worker, heartbeat)


class Pass:
    """The work of one run over every feed (each feed's own is FeedHandling's); accounts get an
    AccountSession when first needed."""

    def __init__(
        self,
        settings: Settings,
        state: State,
        outbox_for: Callable[[Account], Outbox],
        stop: threading.Event | None,
        accounts: dict[str, Account],
        clock: Callable[[], datetime] = now_utc,
        *,
        preview: bool = False,
        poll_interval: float | None = None,
        poll_now: Collection[str] = (),
    ):
        self.settings = settings
        self.poll_interval = poll_interval
        self.poll_now = frozenset(poll_now)
        # A preview runs no hook and reads no replies.
        self.preview = preview
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
        self._alerts = Alerts(state, settings, clock, preview=preview)
        # Accounts whose profile this pass kept (from their first toot).
        self._authors_kept: set[str] = set()
        self._toot_accounts = TootAccounts(settings, accounts, token=not preview)
        self._shared = PassShared(
            settings,
            state,
            self.stop,
            clock,
            preview,
            session_for=self._session,
            account_name_for=lambda feed: accounts[feed.name].name,
            session_of_toot=self._session_of_toot,
        )

    def run(self) -> RunReport:
        feeds = self._due(self.settings.enabled_feeds)
        # Shared, leased as many at a time as are fetched at once: processes starting
        # together share the feeds out, and none holds a lease long before working on the
        # feed. Alone, all in one slice: a slice's handling would otherwise wait on the
        # next slice's network, and the network on the handling.
        size = self.settings.fetch_workers if self.state.shared else max(len(feeds), 1)
        with FeedLeases(self.state, worker_id(), self.settings.lease_timeout) as leases:
            for start in range(0, len(feeds), size):
                if self._stop_requested():
                    for feed in feeds[start:]:
                        self._interrupted_before(feed)
                    break
                taken = leases.take(feed.name for feed in feeds[start : start + size])
                # Another process may have polled one between our look and our lease.
                mine = self._due([f for f in feeds[start : start + size] if f.name in taken])
                leases.release(taken - {feed.name for feed in mine})
                self._work_on(mine)
                leases.release(feed.name for feed in mine)
        if not self.preview:
            self._look_after_toots()
        if self.settings.replies_file is not None and not self.preview:
            self._read_replies()
        self._sum_up_accounts()
        return self.report

    def _due(self, feeds: list[FeedConfig]) -> list[FeedConfig]:
        """The feeds to poll now: all of them, but in `run --loop` only those due or asked for."""
        if self.poll_interval is None:
            return list(feeds)
        next_polls = self.state.next_polls(feed.name for feed in feeds)
        now = now_utc()
        return [
            f for f in feeds if f.name in self.poll_now or (next_polls.get(f.name) or now) <= now
        ]

    def _work_on(self, feeds: list[FeedConfig]) -> None:
        """Fetch and handle `feeds`, leased to this process; all committed when it returns."""
        if not feeds:
            return
        self._retry_failed_after_settings_change(feeds)
        # Read once: the request's validators, and whether it is the feed's first run.
        known = {feed.name: self.state.feed(feed.name) for feed in feeds}
        requests = [_fetch_request(feed, known[feed.name]) for feed in feeds]
        # Each feed handled as its answer comes, while later ones are still on the network.
        fetching = fetch_each(requests, self.settings.fetch_options(), stop=self.stop)
        # One commit for the slice; the writes that guard a post still commit at once.
        with self.state.batch(), contextlib.closing(fetching):
            for feed, fetched in zip(feeds, fetching, strict=True):
                if self._stop_requested():
                    self._interrupted_before(feed)
                    continue
                feed_report = FeedReport(name=feed.name)
                self.report.feeds.append(feed_report)
                try:
                    FeedHandling(feed, feed_report, self._shared).handle(
                        fetched, first_run=known[feed.name] is None
                    )
                except FeedError as error:
                    # Its address, as `check` gives it: a 404 or a refused connection is
                    # fixed there.
                    self._alerts.feed_failed(feed, feed_report, error, self.stop.is_set())
                except StateError:
                    # The state cannot be written (a full disk): no later feed could be either.
                    # What was recorded stays consistent; the run ends here (exit 2 or 75).
                    raise
                except Exception as error:  # a bug in one feed's handling must not stop the others
                    log.debug("feed %s: unexpected error", feed.name, exc_info=True)
                    feed_report.fail(
                        FeedError(f"unexpected error: {type(error).__name__}: {error}")
                    )
                else:
                    self._alerts.worked(FEED, feed.name)
                if self.poll_interval is not None:
                    self.state.set_next_poll(
                        feed.name, now_utc() + timedelta(seconds=self.poll_interval)
                    )

    def _interrupted_before(self, feed: FeedConfig) -> None:
        feed_report = FeedReport(name=feed.name)
        self.report.feeds.append(feed_report)
        feed_report.fail(TemporaryFeedError("not handled: the run was interrupted"))
        feed_report.deferred = len(self.state.pending(feed.name))

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
                            "feed %s: its settings changed; %s %s tried again",
                            feed.name,
                            plural(retried, "failed entry", "failed entries"),
                            "would be" if self.preview else "is" if retried == 1 else "are",
                        )
                self.state.save_settings_fingerprint(feed.name, fingerprint)

    def _stop_requested(self) -> bool:
        self.report.interrupted = self.report.interrupted or self.stop.is_set()
        return self.report.interrupted

    def _session(self, feed: FeedConfig) -> AccountSession:
        return self._session_of(self._accounts[feed.name])

    def _session_of_toot(self, toot: TootOwner) -> AccountSession | None:
        account = self._toot_accounts.of(toot)
        return None if account is None else self._session_of(account)

    def _session_to_ask_about(self, post: AnnouncedPost) -> AccountSession | None:
        """The session that may be asked about `post` now: its own account's, not halted."""
        session = self._session_of_toot(post)
        return None if session is None or session.halted() else session

    def _session_of(self, account: Account) -> AccountSession:
        if account.name not in self._sessions:
            self._sessions[account.name] = AccountSession(
                account,
                self._outbox_for(account),
                state=self.state,
                settings=self.settings,
                stop=self.stop,
                interrupted=self._stop_requested,
                known_limits=self._limits,
                after_post=None if self.preview else self._after_post,
            )
        return self._sessions[account.name]

    def _after_post(self, pending: PendingPost, posted: Posted) -> None:
        event = HookEvent(
            "posted", pending.feed, pending.entry_id, pending.link, posted.id, posted.url
        )
        notify_feed(self.state, self.settings, event, self.stop)
        self._alerts.worked(ACCOUNT, self._accounts[pending.feed].name)
        account = self._accounts[pending.feed]
        if posted.author is not None and account.name not in self._authors_kept:
            # Once a pass: how the account shows, for a later preview's page.
            self._authors_kept.add(account.name)
            keep_author(self._session_of(account), posted.author)

    def _look_after_toots(self) -> None:
        """After posting: delete the uploads earlier runs left unused, fetch an account's
        picture a posting run noted, and look once at each recent toot's link card."""
        for account in {account.name: account for account in self._accounts.values()}.values():
            if account.token is not None:
                posted = account.name in self._authors_kept
                look_after_account(self._session_of(account), posted_this_pass=posted)

        def status_of(post: AnnouncedPost) -> Any:
            session = self._session_to_ask_about(post)
            return None if session is None else session.outbox.status(post.toot_id)

        now = self._shared.clock()
        recent = self.state.announced(posted_since=now - CARD_CHECK_WITHIN)
        look_at_cards(self.state, recent, status_of, now)

    def _read_replies(self) -> None:
        """After posting: the public replies of recent toots, each at most once an interval."""
        now = now_utc()
        posts = due(
            self.state.announced(),
            now,
            timedelta(seconds=self.settings.replies_window),
            timedelta(seconds=self.settings.replies_interval),
        )

        if not posts:
            return
        # Here, not at the top: the HTML cleaning a reply goes through is a tenth of the
        # start-up, and a pass with no toot due reads no reply.
        from crossposter.after_posting.replies import read_replies

        def descendants_of(post: AnnouncedPost) -> Thread | None:
            session = self._session_to_ask_about(post)
            return None if session is None else session.outbox.descendants(post.toot_id)

        interval = timedelta(seconds=self.settings.replies_interval)
        read_replies(self.state, posts, descendants_of, now, interval)

    def _sum_up_accounts(self) -> None:
        self.report.alerts = self._alerts.sum_up(self._sessions.values())
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
        self.report.rate_limited = [s.account.name for s in stopped if s.rate_limited]
        resets = [s.rate_limit_reset for s in stopped if s.rate_limit_reset is not None]
        self.report.rate_limit_reset = resets[-1] if resets else None
        # The first instance asked, as the preview shows it.
        self.report.limits = next(iter(self._limits.values()), None)


def _fetch_request(feed: FeedConfig, known: FeedState | None) -> FetchRequest:
    # A changed URL is a different document: its old validators mean nothing.
    validators = known.validators if known and known.url == feed.url else Validators()
    return FetchRequest(name=feed.name, url=feed.url, validators=validators)
