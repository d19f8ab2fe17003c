"""After posting: edit the toots of articles that changed, delete those of articles that went.

Runs for each feed of a pass (crossposter.feed_handling), after its new entries are
announced. What to do is crossposter.after_posting.decisions's to decide; requests go through
the account's session, so edits and deletions obey the same rules as posts. An
edit is recorded in the state before its request: a run after a crash sends it
again, which is harmless (an edit is idempotent).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from crossposter.after_posting.decisions import (
    DELETION_WINDOW,
    DELETIONS_PER_WINDOW,
    GONE_STATUSES,
    MASS_DELETION_WINDOW,
    article_change,
    check_due,
    deletions_held,
    edit_refused,
    in_cooldown,
    removal_confirmed,
    toot_differs,
)
from crossposter.config import FeedConfig, Settings
from crossposter.models import Article, Entry, FeedInfo, FeedReport, Toot
from crossposter.net.addresses import AddressPolicy
from crossposter.posting import (
    AccountSession,
    confirm_still_leased,
    lease_holder,
    new_uploads,
    uploads_dropped_if_lease_lost,
)
from crossposter.state import PostedEntry, PostingState

log = logging.getLogger(__name__)

# Where an `edited` or `retracted` event happens: (kind, the entry, why).
EventSink = Callable[[str, PostedEntry, str], None]


@dataclass
class FollowUp:
    """One feed's toots after posting, for one pass."""

    feed: FeedConfig
    settings: Settings
    state: PostingState
    # The session of the account that posted a toot (None: no longer configured).
    session_of: Callable[[PostedEntry], AccountSession | None]
    report: FeedReport
    now: datetime
    stop: threading.Event
    on_event: EventSink

    # -- edits -------------------------------------------------------------------

    def retry_edits(self) -> None:
        """Send again the edits a run recorded but may not have sent (a crash, a 5xx)."""
        for posted in self.state.posted_entries(self.feed.name, edit_recorded=True):
            if posted.edit_article is None:
                continue
            session = self.session_of(posted)
            if session is not None:
                confirm_still_leased(self.state, self.feed.name)
                self._send_edit(session, posted, posted.edit, "an interrupted edit, sent again")

    def revise(self, info: FeedInfo, entries: Sequence[Entry]) -> None:
        """Edit the toots of the feed's articles whose own fields changed (on_change: edit)."""
        if self.feed.on_change != "edit":
            return
        in_feed = {entry.id: entry for entry in entries}
        for posted in self.state.posted_entries(self.feed.name):
            entry = in_feed.get(posted.entry_id)
            if entry is None or posted.toot is None or posted.edit is not None:
                continue
            article = Article.of(entry)
            reason = article_change(
                posted.article,
                article,
                posted_at=posted.posted_at,
                now=self.now,
                window=self.feed.edit_window,
            )
            if reason is None:
                continue
            refused = edit_refused(
                article, posted.earlier_articles, posted.edits, max_edits=self.feed.max_edits
            )
            if refused:
                log.warning(
                    "feed %s: %r %s, but its toot is not edited: %s",
                    self.feed.name,
                    posted.label,
                    reason,
                    refused,
                )
                # The article as it is now is the reference: said once, not every run.
                self.state.mark_edit_pending(self.feed.name, posted.entry_id, posted.toot, article)
                self.state.drop_edit(self.feed.name, posted.entry_id)
                continue
            if in_cooldown(posted.edited_at, self.now, self.feed.edit_cooldown):
                log.info(
                    "feed %s: %r changed; its toot is edited on a later run (edit_cooldown)",
                    self.feed.name,
                    posted.label,
                )
                continue
            if self._room() <= 0:
                log.info(
                    "feed %s: %r changed; its toot is edited on a later run "
                    "(max_posts_per_run reached)",
                    self.feed.name,
                    posted.label,
                )
                return
            session = self.session_of(posted)
            if session is None:
                continue
            toot = self._recomposed(session, posted, entry, info)
            if toot is None or not toot_differs(posted.toot, toot):
                continue
            with uploads_dropped_if_lease_lost(session, new_uploads(posted, toot)):
                self.state.mark_edit_pending(
                    self.feed.name, posted.entry_id, toot, article, worker=lease_holder(self.state)
                )
            self._send_edit(session, posted, toot, reason)

    def _recomposed(
        self, session: AccountSession, posted: PostedEntry, entry: Entry, info: FeedInfo
    ) -> Toot | None:
        """The toot as composed today, with the posted one's warning, language and media."""
        from crossposter.compose.images import choose_image
        from crossposter.compose.toot import UnpostableEntry, compose

        assert posted.toot is not None
        try:
            fresh = compose(entry, info, self.feed, session.limits)
        except UnpostableEntry as error:
            log.warning("feed %s: %r not edited: %s", self.feed.name, posted.label, error)
            return None
        before = posted.toot
        # An edit cannot change the visibility; the rest is kept as readers saw it.
        toot = replace(
            fresh,
            spoiler_text=before.spoiler_text,
            language=before.language,
            visibility=before.visibility,
            media_ids=before.media_ids,
            image_url=before.image_url,
            image_alt=before.image_alt,
        )
        if self.feed.image:
            image = choose_image(entry, session.limits)
            if image is not None and image.url != before.image_url:
                toot = session.with_image(toot, image, posted.label, self.feed.name)
        return toot

    def _send_edit(
        self, session: AccountSession, posted: PostedEntry, toot: Toot, reason: str
    ) -> None:
        if session.edit(posted, toot, self.report, at=self.now) == "edited":
            done = "edited" if session.outbox.sends else "would edit"
            log.info("feed %s: %s the toot of %r: %s", self.feed.name, done, posted.label, reason)
            self.on_event("edited", posted, reason)

    def _room(self) -> int:
        """What is left of max_posts_per_run: edits count as posts."""
        report = self.report
        used = report.posted + len(report.previews) + report.edited + len(report.planned_edits)
        return self.feed.max_posts_per_run - used

    # -- removals ----------------------------------------------------------------

    def check_removals(self, entries: Sequence[Entry] | None = None) -> None:
        """Delete the toots of articles gone from the feed and from their own link.

        `entries`: the feed as just parsed; without them (a 304), the state's record of
        the last parse says which entries it held.
        """
        if self.feed.on_remove != "delete":
            return
        window = timedelta(seconds=self.feed.remove_window)
        posted_entries = self.state.posted_entries(self.feed.name)
        present = {entry.id for entry in entries} if entries is not None else None
        absent = [
            posted
            for posted in posted_entries
            if (posted.entry_id not in present if present is not None else not posted.in_feed)
            and posted.link
            and posted.posted_at is not None
            and self.now - posted.posted_at <= window
            and check_due(posted.checked_at, self.now)
        ]
        held_since = getattr(self.state.feed(self.feed.name), "deletions_held_since", None)
        if not absent and held_since is None:
            return
        policy = AddressPolicy(allow_private=self.settings.allow_private_urls_in_feeds)
        gone: list[PostedEntry] = []
        for posted in absent:
            if self.stop.is_set():
                break
            status = _link_status(
                posted.link or "",
                policy,
                timeout=self.settings.fetch_timeout,
                deadline=self.settings.fetch_deadline,
                stop=self.stop,
            )
            is_gone = None if status is None else status in GONE_STATUSES
            if is_gone:
                gone.append(posted)
            self.state.record_check(self.feed.name, posted.entry_id, self.now, is_gone)
        if self._deletions_held(held_since is not None):
            return
        confirmed = []
        for posted in gone:
            if not removal_confirmed(posted.gone_since, self.now):
                log.info(
                    "feed %s: %r answers 404 or 410; its toot goes if it still does in an hour",
                    self.feed.name,
                    posted.label,
                )
                continue
            confirmed.append(posted)
        newest = _newest_link(entries, posted_entries)
        if confirmed and self._site_is_gone(confirmed[0], newest, policy):
            return
        for posted in confirmed:
            self._delete(posted)

    def _deletions_held(self, held: bool) -> bool:
        """The guard against mass deletion, over the checks of the last day, across runs:
        held, the feed's deletions wait for a person, or for its articles to answer again."""
        checked, gone = self.state.removal_counts(self.feed.name, self.now - MASS_DELETION_WINDOW)
        if not deletions_held(held, checked, gone):
            if held:
                self.state.hold_deletions(self.feed.name, None)
                log.info("feed %s: its articles answer again; deletions resume", self.feed.name)
            return False
        self.state.hold_deletions(self.feed.name, self.now)
        log.error(
            "feed %s: %d of the %d articles checked in the last 24 hours answer 404 or 410; "
            "no toot is deleted (a permalink migration, or a site answering 404 everywhere?). "
            "If they are really gone: crossposter state allow-deletions %s",
            self.feed.name,
            gone,
            checked,
            self.feed.name,
        )
        return True

    def _site_is_gone(self, first: PostedEntry, newest: str | None, policy: AddressPolicy) -> bool:
        """Whether the site's root and its newest article both answer 404 or 410 (a broken
        deploy, a site answering 404 everywhere): then nothing is deleted this run."""
        parts = urlsplit(first.link or "")
        asked = [urlunsplit((parts.scheme, parts.netloc, "/", "", ""))]
        asked += [newest] if newest else []
        timeout, deadline = self.settings.fetch_timeout, self.settings.fetch_deadline
        answers = [
            _link_status(url, policy, timeout=timeout, deadline=deadline, stop=self.stop)
            for url in asked
        ]
        if not all(status in GONE_STATUSES for status in answers):
            return False
        log.warning(
            "feed %s: the site's root and its newest article (%s) answer 404 or 410; nothing "
            "is deleted this run",
            self.feed.name,
            " and ".join(asked),
        )
        return True

    def _delete(self, posted: PostedEntry) -> None:
        session = self.session_of(posted)
        if session is None:
            return
        if session.deletions_since(self.now - DELETION_WINDOW) >= DELETIONS_PER_WINDOW:
            log.info(
                "%s: %d toots deleted in the last 30 minutes, Mastodon's limit; "
                "%r waits for a later run",
                session.label,
                DELETIONS_PER_WINDOW,
                posted.label,
            )
            return
        reason = f"its article is gone ({posted.link})"
        if session.delete(posted, self.report, reason, at=self.now) == "retracted":
            done = "deleted" if session.outbox.sends else "would delete"
            log.info("feed %s: %s the toot of %r: %s", self.feed.name, done, posted.label, reason)
            self.on_event("retracted", posted, reason)


def _newest_link(entries: Sequence[Entry] | None, posted: Sequence[PostedEntry]) -> str | None:
    """The link of the newest article still in the feed: as just parsed (feeds list the
    newest first), else (a 304) the newest announced one the last parse held."""
    if entries is not None:
        return next((entry.link for entry in entries if entry.link), None)
    held = [entry for entry in posted if entry.in_feed and entry.link and entry.posted_at]
    return max(held, key=lambda entry: entry.posted_at).link if held else None


def _link_status(url: str, policy: AddressPolicy, **limits: Any) -> int | None:
    # requests, loaded only when a link is checked: a pass of 304s never checks one.
    from crossposter.net.public import link_status

    return link_status(url, policy, **limits)
