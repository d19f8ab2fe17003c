"""The page of a preview or a check: fetch what its cards and images need, then lay it out.

The report is the pass's own (or check's): nothing is composed again here. Every
article's page and every image is fetched once, several at a time, under the
rules of any URL from a feed (crossposter.preview_page.fetch).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from crossposter.accounts import feed_accounts
from crossposter.files import write_atomically
from crossposter.mastodon.media import PICTURE_MAX_BYTES, on_instance_host, sniff_type
from crossposter.preview_page.card import MAX_PAGE_BYTES, CardTags, PageOutcome, card_tags
from crossposter.preview_page.fetch import PAGE_ACCEPT, Fetched, Limits, fetch
from crossposter.preview_page.images import MAX_INLINE_BYTES, image_size, inline
from crossposter.preview_page.render import render_page
from crossposter.preview_page.view import (
    CardView,
    DeletionView,
    FeedSection,
    Identity,
    MediaView,
    Page,
    TootView,
    card_view,
    described_identity,
    edit_view,
    placeholder_identity,
    recorded_identity,
    toot_view,
)
from crossposter.summaries import SAMPLE_NOTE, describe_limits, first_run_summary, preview_outcome

if TYPE_CHECKING:
    from crossposter.check import CheckReport
    from crossposter.config import Settings
    from crossposter.models import Entry, Toot
    from crossposter.pipeline import RunReport

# Pages and images fetched at once; a preview shows a handful of articles.
WORKERS = 8


@dataclass(frozen=True)
class ImageResult:
    src: str = ""
    size: tuple[int, int] | None = None
    failure: str = ""


def _image_result(fetched: Fetched) -> ImageResult:
    if fetched.failure:
        return ImageResult(failure=fetched.failure)
    if fetched.status != 200:
        return ImageResult(failure=f"HTTP {fetched.status}")
    if sniff_type(fetched.body) is None:
        return ImageResult(failure=f"not an image (labelled {fetched.content_type or 'nothing'})")
    return ImageResult(src=inline(fetched.body) or "", size=image_size(fetched.body))


class Fetcher:
    """Each URL fetched once, in a pool; results asked for later, when the page is laid out."""

    def __init__(self, settings: Settings, stop: threading.Event | None) -> None:
        self._limits = Limits(
            timeout=settings.fetch_timeout,
            deadline=settings.fetch_deadline,
            allow_private=settings.allow_private_urls_in_feeds,
        )
        self._stop = stop
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="preview-page")
        self._futures: dict[tuple[str, str], Future] = {}
        # A page's worker asks for its image while the main thread asks for others.
        self._lock = threading.Lock()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._pool.shutdown(cancel_futures=True)

    def _submit(self, kind: str, url: str, work: Callable[[str], object]) -> Future:
        key = (kind, url)
        with self._lock:
            if key not in self._futures:
                self._futures[key] = self._pool.submit(work, url)
            return self._futures[key]

    def picture(self, url: str, instance_url: str) -> Future:
        """An account's picture (an ImageResult), from where its instance said it is."""
        own = on_instance_host(url, instance_url)
        limits = replace(
            self._limits,
            max_bytes=PICTURE_MAX_BYTES,
            allow_private=own or self._limits.allow_private,
        )
        return self._image("picture", url, limits)

    def image(self, url: str) -> Future:
        return self._image("image", url, replace(self._limits, max_bytes=MAX_INLINE_BYTES))

    def _image(self, kind: str, url: str, limits: Limits) -> Future:
        return self._submit(
            kind,
            url,
            lambda u: _image_result(fetch(u, limits, accept="image/*", stop=self._stop)),
        )

    def page(self, url: str) -> Future:
        limits = replace(self._limits, max_bytes=MAX_PAGE_BYTES)
        return self._submit("page", url, lambda u: self._read_page(u, limits))

    def _read_page(self, url: str, limits: Limits) -> tuple[PageOutcome, CardTags | None]:
        fetched = fetch(url, limits, accept=PAGE_ACCEPT, stop=self._stop)
        outcome = PageOutcome(url, fetched.final_url, fetched.status, fetched.failure)
        if fetched.failure or fetched.status != 200:
            return outcome, None
        # Mastodon builds a card from an HTML page only.
        if fetched.content_type != "text/html":
            failure = f"it is {fetched.content_type}, not an HTML page"
            return PageOutcome(url, fetched.final_url, fetched.status, failure), None
        tags = card_tags(fetched.body, fetched.final_url or url)
        if tags.image:
            self.image(tags.image)  # fetched meanwhile
        return outcome, tags

    def card(self, url: str, identity: Identity) -> CardView:
        outcome, tags = self.page(url).result()
        picture = self.image(tags.image).result() if tags and tags.image else ImageResult()
        return card_view(outcome, tags, picture.src, picture.size, picture.failure, identity)

    def media(self, url: str, alt: str) -> MediaView:
        picture = self.image(url).result()
        return MediaView(alt=alt, src=picture.src, failure=picture.failure)


class Layout:
    """Toots as the page draws them: each with its account, its image and its card."""

    def __init__(self, settings: Settings, fetcher: Fetcher, identities: dict[str, Identity]):
        self._accounts = feed_accounts(settings)
        self._fetcher = fetcher
        self._identities = identities

    def prefetch(self, entries: list[tuple[str | None, Toot | None]]) -> None:
        for feed in {account.name: feed for feed, account in self._accounts.items()}.values():
            self._picture(feed)
        for link, toot in entries:
            if link:
                self._fetcher.page(link)
            if toot is not None and toot.image_url:
                self._fetcher.image(toot.image_url)

    def _picture(self, feed: str) -> Future | None:
        account = self._accounts[feed]
        known = self._identities.get(account.name)
        if known is None or not known.avatar_url:
            return None
        return self._fetcher.picture(known.avatar_url, account.instance_url)

    def identity(self, feed: str) -> Identity:
        account = self._accounts[feed]
        known = self._identities.get(account.name)
        if known is None:
            return placeholder_identity(account.instance_url)
        picture = self._picture(feed)
        if picture is not None and picture.result().src:
            return replace(known, avatar=picture.result().src)
        return known

    def toot(
        self,
        feed: str,
        title: str,
        link: str | None,
        toot: Toot,
        *,
        note: str = "",
        card: bool = True,
    ) -> TootView:
        identity = self.identity(feed)
        media = self._fetcher.media(toot.image_url, toot.image_alt) if toot.image_url else None
        return toot_view(
            feed,
            title,
            link or "",
            toot,
            identity=identity,
            instance_url=self._accounts[feed].instance_url,
            media=media,
            card=self._fetcher.card(link, identity) if link and card else None,
            note=note,
        )

    def entry(self, feed: str, entry: Entry, toot: Toot, note: str = "") -> TootView:
        return self.toot(feed, entry.title or entry.id, entry.link, toot, note=note)


def run_page(report: RunReport, layout: Layout) -> Page:
    """Everything `run --dry-run` printed, laid out as Mastodon shows it."""
    layout.prefetch(
        [
            (entry.link, toot)
            for feed in report.feeds
            for entry, toot in ([feed.sample] if feed.sample else []) + feed.previews
        ]
    )
    sections = []
    for feed in report.feeds:
        section = FeedSection(feed.name, problems=list(feed.errors))
        if feed.recorded:
            section.first_run = first_run_summary(feed)
        if feed.sample:
            section.toots.append(layout.entry(feed.name, *feed.sample, note=SAMPLE_NOTE))
        section.toots.extend(layout.entry(feed.name, entry, toot) for entry, toot in feed.previews)
        section.filtered = [(entry.title or entry.id, reason) for entry, reason in feed.filtered]
        for edit in feed.planned_edits:
            before = edit.before.text if edit.before else ""
            after = edit.after.text if edit.after else ""
            section.edits.append(edit_view(edit.label, edit.toot_url, before, after))
        for deletion in feed.planned_deletions:
            gone = deletion.before
            shown = (
                layout.toot(feed.name, deletion.label, deletion.link, gone, card=False)
                if gone
                else None
            )
            section.deletions.append(DeletionView(deletion.label, deletion.toot_url or "", shown))
        sections.append(section)
    outcome = [preview_outcome(report.feeds, report.interrupted)]
    if report.limits:
        outcome.append(f"limits: {describe_limits(report.limits)}")
    return Page(
        title="crossposter preview",
        intro="What `crossposter run` would do now, as your followers would see it. "
        "Nothing was posted or changed.",
        feeds=sections,
        outcome=tuple(outcome),
    )


NEWEST_NOTE = "newest article, as it would be announced"


def check_page(report: CheckReport, layout: Layout) -> Page:
    """Each feed's newest article as it would be announced, with its card and problems."""
    layout.prefetch([(feed.newest.link, feed.sample) for feed in report.feeds if feed.newest])
    sections = []
    for feed in report.feeds:
        section = FeedSection(feed.name, notes=list(feed.notes))
        if not feed.enabled:
            section.notes.append("disabled")
        if feed.problem:
            section.problems.append(feed.problem)
        if feed.newest and feed.sample:
            section.toots.append(layout.entry(feed.name, feed.newest, feed.sample, NEWEST_NOTE))
        sections.append(section)
    return Page(
        title="crossposter check",
        intro="Each feed's newest article as it would be announced, with the card your "
        "instance will build from its page. Nothing was posted or changed.",
        feeds=sections,
    )


def identities_from_check(report: CheckReport) -> dict[str, Identity]:
    """The accounts as their instances described them to `check`."""
    return {
        account.name: described_identity(account.profile)
        for account in report.accounts
        if account.profile
    }


def write_page(
    path: Path,
    settings: Settings,
    lay_out: Callable[[Layout], Page],
    identities: dict[str, Identity],
    stop: threading.Event | None,
) -> Path:
    with Fetcher(settings, stop) as fetcher:
        page = lay_out(Layout(settings, fetcher, identities))
    return write_atomically(path, render_page(page), mode=0o644)


def write_run_page(
    path: Path, settings: Settings, report: RunReport, stop: threading.Event | None = None
) -> Path:
    """Write the page of a preview (`run --dry-run --html PATH`); the path written.

    The accounts are shown as the last real run recorded them (the pass read them)."""
    identities = {name: recorded_identity(profile) for name, profile in report.profiles.items()}
    return write_page(path, settings, lambda layout: run_page(report, layout), identities, stop)


def write_check_page(
    path: Path, settings: Settings, report: CheckReport, stop: threading.Event | None = None
) -> Path:
    """Write the page of `check --html PATH`; the path written."""
    identities = identities_from_check(report)
    return write_page(
        path, settings, lambda layout: check_page(report, layout), identities, stop
    )
