"""One feed's handling in a pass: fetch result → entries → new entries → toots → outbox
→ follow-up of the toots already posted.

The pass over every feed (crossposter.pipeline) fetches the feeds, leases them and
hands each result here; a failure raised here is that feed's alone.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from crossposter.after_posting.follow_up import FollowUp
from crossposter.after_posting.hooks import HookEvent, notify_feed
from crossposter.config import FeedConfig, Settings
from crossposter.feeds.fetch import FetchResult
from crossposter.feeds.filters import skip_reason
from crossposter.feeds.hubs import advertised_hub
from crossposter.feeds.select import Selection, select_new
from crossposter.logsafe import plural
from crossposter.models import Entry, FeedInfo, FeedReport, ParsedFeed, Toot, link_key
from crossposter.posting import AccountSession, uploads_dropped_if_lease_lost
from crossposter.state import PostedEntry, State, now_utc

# The logger the pass has always written under: `--log-format json` shows its name.
log = logging.getLogger("crossposter.pipeline")


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


@dataclass(frozen=True)
class PassShared:
    """What every feed's handling shares with the pass around it."""

    settings: Settings
    state: State
    stop: threading.Event
    # What edits and removal checks measure their windows and hours with.
    clock: Callable[[], datetime]
    # A preview also shows a sample toot for a feed whose first run announces nothing,
    # and runs no hook.
    preview: bool
    # The feed's account's session, made when the account first has something to do.
    session_for: Callable[[FeedConfig], AccountSession]
    # The feed's account's name, known without a session.
    account_name_for: Callable[[FeedConfig], str]
    # The session of the account that posted a toot; None when it is no longer configured.
    session_of_toot: Callable[[PostedEntry], AccountSession | None]


class FeedHandling:
    """One feed in one pass, reporting into `report`; raises FeedError when it fails."""

    def __init__(self, feed: FeedConfig, report: FeedReport, shared: PassShared):
        self.feed = feed
        self.report = report
        self.shared = shared
        self.state = shared.state

    def handle(self, fetched: FetchResult, *, first_run: bool) -> None:
        """`first_run`: the state knew nothing of the feed before this pass."""
        feed, report = self.feed, self.report
        # Posts left pending by an earlier run go first, whatever the feed says today.
        if not first_run:
            self._retry_pending()
            self._follow_up().retry_edits()

        if fetched.moved_permanently_to:
            log.warning(
                "feed %s moved permanently to %s; update its url in the configuration",
                feed.name,
                fetched.moved_permanently_to,
            )
        if fetched.error is not None:
            report.poll_outcome = "failed"
            if not first_run:
                self.state.record_fetch(feed.name, feed.url, f"error: {fetched.error.reason}")
            raise fetched.error
        if fetched.not_modified:
            report.not_modified = True
            report.poll_outcome = "not_modified"
            self.state.record_fetch(feed.name, feed.url, "not modified")
            self._follow_up().check_removals()
            return

        report.poll_outcome = "changed"
        parsed = _changed_feed_steps().parse_feed(
            fetched.content, url=fetched.final_url, headers=fetched.headers
        )
        if parsed.malformed:
            log.warning(
                "feed %s is malformed, using what could be read: %s", feed.name, parsed.malformed
            )
        report.hub = advertised_hub(parsed.info, fetched.headers, fetched.final_url or feed.url)
        self._handle_entries(fetched, parsed, first_run)

    def _handle_entries(self, fetched: FetchResult, parsed: ParsedFeed, first_run: bool) -> None:
        feed, report = self.feed, self.report
        known = self.state.known_ids(feed.name)
        # A new GUID for an announced link is no new article: select_new's `announced`.
        follow_up = self._follow_up()
        report.filtered = self._filtered(parsed.entries, known, first_run)
        filtered_ids = {entry.id for entry, _ in report.filtered}
        candidates = [entry for entry in parsed.entries if entry.id not in filtered_ids]
        # Left for later by earlier runs (backfill, max_posts_per_run): known, not new.
        queued = self.state.queued(feed.name)
        selection = select_new(
            candidates,
            known,
            first_run=first_run,
            backfill=feed.backfill,
            max_posts=feed.max_posts_per_run,
            announced=self._announced(candidates, known),
            flood_threshold=feed.flood_threshold,
            queued=queued,
        )
        was_queued = {entry.id for entry in queued}
        in_line = (*selection.announce, *selection.waiting)
        report.new = sum(entry.id not in was_queued for entry in in_line)
        # Beyond max_posts_per_run: queued by design, no failure.
        report.deferred += len(selection.waiting)
        now = now_utc()
        self.state.record_fetch(feed.name, feed.url, "ok", parsed_at=now)
        self.state.mark_seen(feed.name, selection.recorded, at=now)
        self.state.mark_queued(feed.name, selection.queue, at=now)
        report.recorded = len(selection.mark_seen)
        _log_held_back(feed, selection, preview=self.shared.preview)
        if self.shared.preview and first_run and not feed.backfill:
            self._sample(parsed, known)
        self.state.mark_filtered(feed.name, report.filtered, at=now)
        self.state.touch(feed.name, [entry.id for entry in parsed.entries], at=now)

        all_handled = not selection.waiting
        for entry in selection.announce:
            if not self._announce(parsed.info, entry):
                all_handled = False

        follow_up.revise(parsed.info, parsed.entries)
        follow_up.check_removals(parsed.entries)
        if all_handled:
            self.state.save_validators(feed.name, fetched.validators)
        retention = timedelta(days=self.shared.settings.retention_days)
        removed = self.state.prune(feed.name, retention)
        if removed:
            log.debug(
                "feed %s: forgot %s long gone from it",
                feed.name,
                plural(removed, "entry", "entries"),
            )

    def _announced(self, entries: list[Entry], known: set[str]) -> set[str]:
        """The links of the feed's new entries that the feed's account already announced."""
        links = {link_key(e.link) for e in entries if e.link and e.id not in known}
        return self.state.announced_links(self.shared.account_name_for(self.feed), links)

    def _filtered(
        self, entries: tuple[Entry, ...], known: set[str], first_run: bool
    ) -> list[tuple[Entry, str]]:
        """The new entries an include/exclude rule skips, each with that rule."""
        feed = self.feed
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

    def _announce(self, info: FeedInfo, entry: Entry) -> bool:
        """Compose and post one entry; False when it must be tried again on a later run."""
        feed, report = self.feed, self.report
        steps = _changed_feed_steps()
        session = self._session()
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
            toot = self._with_image(entry, toot, session)
            if session.halted():
                # A stop abandoned the download: the entry waits, image and all, for next run.
                report.left_for_later()
                return False
        with uploads_dropped_if_lease_lost(session, toot.media_ids):
            pending = session.pend(feed.name, entry, toot)
        if pending is None:
            # Another feed of the account announced the link earlier in this pass.
            _log_repeated(feed, entry, preview=self.shared.preview)
            session.instance.discard_uploads(toot.media_ids)
            self.state.mark_seen(feed.name, [entry])
            return True
        return session.publish(pending, report)

    def _with_image(self, entry: Entry, toot: Toot, session: AccountSession) -> Toot:
        """`toot` with the entry's image, if the feed offers one the instance can take."""
        image = _changed_feed_steps().choose_image(entry, session.limits)
        if image is None:
            return toot
        return session.with_image(toot, image, entry.title or entry.id, self.feed.name)

    def _sample(self, parsed: ParsedFeed, known: set[str]) -> None:
        """The toot the newest entry would get with `backfill: 1`, for a preview only.

        A first run without backfill announces nothing, and a preview of it would show
        nothing: the person could not see what their toots look like before choosing.
        """
        feed = self.feed
        entry_filter = feed.entry_filter()
        announceable = [e for e in parsed.entries if skip_reason(e, entry_filter) is None]
        newest = select_new(announceable, known, first_run=True, backfill=1).announce
        if not newest:
            return
        (entry,) = newest
        steps = _changed_feed_steps()
        session = self._session()
        try:
            toot = steps.compose(entry, parsed.info, feed, session.limits)
        except steps.unpostable as error:
            log.info("feed %s: no sample toot: %r: %s", feed.name, entry.title or entry.id, error)
            return
        if feed.image:
            toot = self._with_image(entry, toot, session)
        self.report.sample = (entry, toot)

    def _session(self) -> AccountSession:
        return self.shared.session_for(self.feed)

    def _follow_up(self) -> FollowUp:
        shared = self.shared
        return FollowUp(
            self.feed,
            shared.settings,
            self.state,
            shared.session_of_toot,
            self.report,
            shared.clock(),
            shared.stop,
            self._after_event,
        )

    def _after_event(self, kind: str, posted: PostedEntry, reason: str) -> None:
        """A toot was `edited` or `retracted` after posting: the one place such events happen."""
        log.debug("feed %s: %s event for %s (%s)", posted.feed, kind, posted.entry_id, reason)
        if self.shared.preview:
            return
        # Two edits of one toot are two events: each edit's own number tells them apart.
        occurrence = f"edit {posted.edits + 1}" if kind == "edited" else ""
        event = HookEvent(
            kind, posted.feed, posted.entry_id, posted.link, posted.toot_id, posted.toot_url,
            occurrence=occurrence,
        )
        notify_feed(self.state, self.shared.settings, event, self.shared.stop)

    def _retry_pending(self) -> None:
        waiting = self.state.pending(self.feed.name)
        for done, pending in enumerate(waiting):
            session = self._session()
            if session.halted():
                self.report.left_for_later(len(waiting) - done)
                return
            log.debug("feed %s: retrying pending post of %s", self.feed.name, pending.entry_id)
            session.retry(pending, self.report)


def _log_held_back(feed: FeedConfig, selection: Selection, *, preview: bool) -> None:
    for entry in selection.repeated:
        _log_repeated(feed, entry, preview=preview)
    if selection.flooded:
        # ERROR, so that cron's -q mails it: the person decides what goes out.
        log.error(
            "feed %s: %d new entries at once (every entry of the feed unknown, or more than "
            "flood_threshold %d and most of the feed): none %s, all %s as seen. "
            "To announce some: `crossposter state "
            "forget -c CONFIG %s ENTRY_ID` each (ids from `crossposter state entries --feed %s`), "
            "or rename the feed with `backfill: N` to announce its newest N",
            feed.name,
            len(selection.flooded),
            feed.flood_threshold,
            "would be announced" if preview else "announced",
            _recorded(preview),
            feed.name,
            feed.name,
        )


def _log_repeated(feed: FeedConfig, entry: Entry, *, preview: bool) -> None:
    log.info(
        "feed %s: %s was already announced on this account; %s, not announced again",
        feed.name,
        entry.link,
        _recorded(preview),
    )


def _recorded(preview: bool) -> str:
    # A preview changes nothing: it says what the run would do.
    return "would be recorded" if preview else "recorded"
