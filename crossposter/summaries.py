"""What a preview says, in the words the terminal and the preview page both use.

The pass computes a report once; these sentences describe it, so the text printed
by `run --dry-run` and the page written by `--html` cannot tell two stories.
"""

from __future__ import annotations

import difflib
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from crossposter.duration import format_duration
from crossposter.logsafe import plural

if TYPE_CHECKING:
    from crossposter.models import FeedReport, InstanceLimits


# A first run's newest entry, shown though it will not be posted.
SAMPLE_NOTE = "sample (first run; not to be posted)"


def _stored(limits: InstanceLimits) -> str:
    if limits.asked_at is None:
        return "as the instance told an earlier run"
    age = format_duration((datetime.now(UTC) - limits.asked_at).total_seconds())
    return f"as the instance told a run {age} ago"


def describe_limits(limits: InstanceLimits) -> str:
    where = {
        # `check` asks the instance but stores nothing: only a run does.
        "default": "Mastodon's defaults: no run has stored the instance's own yet",
        "cached": _stored(limits),
        "unpublished": "Mastodon's defaults; the instance does not publish its own",
    }.get(limits.source, f"from the instance's {limits.source}")
    return (
        f"{limits.max_characters} characters, each URL counting "
        f"{limits.characters_reserved_per_url} ({where})"
    )


def first_run_summary(feed: FeedReport) -> str:
    """What a feed's first run would do; a preview of one that posts nothing must say why."""
    entries = plural(feed.recorded + feed.new, "entry", "entries")
    if feed.new:
        return f"first run: would record {entries}, announce the newest {feed.new}"
    return (
        f"first run: would record {entries}, announce none;"
        " `backfill: N` would announce the newest N"
    )


def preview_outcome(feeds: list[FeedReport], interrupted: bool) -> str:
    """The preview's last line: how many toots would be posted, edited, deleted, or wait."""
    count = sum(len(feed.previews) for feed in feeds)
    edits = sum(len(feed.planned_edits) for feed in feeds)
    deletions = sum(len(feed.planned_deletions) for feed in feeds)
    also = f", {edits} would be edited" if edits else ""
    also += f", {deletions} would be deleted" if deletions else ""
    # Not shown above (max_posts_per_run, a rate limit), yet announced by later runs.
    waiting = sum(feed.deferred for feed in feeds)
    also += f", {waiting} more would wait for a later run" if waiting else ""
    if interrupted:
        # Feeds not read yet may hold more: a count would pass for the whole answer.
        done = f"dry run stopped before its end: {plural(count, 'toot')} shown{also}"
    else:
        done = f"dry run: {plural(count, 'toot')} would be posted{also}"
    return f"{done}; nothing was changed"


def text_diff(before: str, after: str) -> str:
    """A toot's edit as a preview shows it: the lines removed (-) and added (+)."""
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=1)
    # The first two lines name files there are none of.
    return "\n".join(list(lines)[2:])
