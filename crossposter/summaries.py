"""What a preview says, in the words the terminal and the preview page both use.

The pass computes a report once; these sentences describe it, so the text printed
by `run --dry-run` and the page written by `--html` cannot tell two stories.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from crossposter.logsafe import plural

if TYPE_CHECKING:
    from crossposter.models import FeedReport, InstanceLimits


# A first run's newest entry, shown though it will not be posted.
SAMPLE_NOTE = "sample (first run; not to be posted)"


def describe_limits(limits: InstanceLimits) -> str:
    where = {
        "default": "Mastodon's defaults, the instance was not asked",
        "cached": "as the instance said on an earlier run",
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
    also = f", {edits} edited, {deletions} deleted" if edits or deletions else ""
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
