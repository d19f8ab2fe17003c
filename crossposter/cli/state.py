"""`crossposter state ...`: the command-line side of looking after the state file.

The work is in crossposter.repairs; this module only reads arguments and
prints what it returns. Errors go up to cli.main, which maps them to exit codes.
"""

from __future__ import annotations

import argparse
import sys

from crossposter.alerts import describe
from crossposter.cli.common import add_common, log
from crossposter.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from crossposter.logsafe import escape, plural
from crossposter.state import ENTRY_STATUSES


def add_state_arguments(state: argparse.ArgumentParser) -> None:
    state.description = (
        "Look into the state file and repair it. Commands that change it wait "
        "for a run using it (up to lock_timeout), like a run does; with state_url, for the "
        "runs working on the feeds they change."
    )
    actions = state.add_subparsers(dest="state_command", metavar="ACTION", required=True)

    def action(name: str, help: str) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=help, description=help)
        add_common(parser)
        return parser

    action("feeds", "list the feeds, their last fetch and how many entries of each status")
    entries = action("entries", "list recent entries with their status, newest change first")
    entries.add_argument("--feed", metavar="NAME", help="only this feed's entries")
    entries.add_argument("--status", choices=ENTRY_STATUSES, help="only entries with this status")
    entries.add_argument("--limit", type=int, default=20, metavar="N", help="at most N (20)")
    forget = action("forget", "forget an entry, so the next run announces it again")
    forget.add_argument("feed", metavar="FEED")
    forget.add_argument(
        "entry", metavar="ENTRY", help="its id, as `state entries` shows it, or its article's URL"
    )
    mark_seen = action(
        "mark-seen", "record every entry of the feed as seen and drop its pending posts"
    )
    mark_seen.add_argument("feed", metavar="FEED")
    allow = action(
        "allow-deletions",
        "let the toot deletions the guard against mass deletion holds go out, and start its "
        "count again",
    )
    allow.add_argument("feed", metavar="FEED")
    retry = action("retry", "announce failed entries again on the next run")
    retry.add_argument("feed", metavar="FEED", nargs="?", help="only this feed (default: all)")
    export = action("export", "write the whole state as JSON (a backup)")
    export.add_argument("file", metavar="FILE", nargs="?", default="-", help="default: stdout")
    restore = action("import", "replace the state by a JSON backup made by `state export`")
    restore.add_argument("file", metavar="FILE")


# Every status takes the same room, so the ids line up.
STATUS_WIDTH = max(len(status) for status in ENTRY_STATUSES)


def command_state(args: argparse.Namespace) -> int:
    from crossposter.config import load_settings
    from crossposter.errors import NotInState

    settings = load_settings(args.config)
    try:
        return ACTIONS[args.state_command](settings, args)
    except NotInState as error:
        log.error("%s", error)
        return EXIT_USAGE


def _feeds(settings, args) -> int:
    from crossposter.repairs import feeds_overview

    for feed in feeds_overview(settings):
        when = _when(feed.last_fetch) if feed.last_fetch else "never fetched"
        counts = ", ".join(f"{count} {status}" for status, count in sorted(feed.counts.items()))
        note = "" if feed.configured else "  (no longer in the configuration)"
        _show(f"{feed.name}  {feed.url}{note}")
        _show(f"  last fetch: {when}  {feed.last_result or ''}".rstrip())
        _show(f"  entries: {counts or 'none'}")
        if feed.next_poll:
            _show(f"  next poll (run --loop): {_when(feed.next_poll)}")
        if feed.lease:
            _show(f"  leased to {feed.lease.worker} until {_when(feed.lease.expires_at)}")
        if feed.failing:
            _show(f"  {describe(feed.failing)}")
    return EXIT_OK


def _entries(settings, args) -> int:
    from crossposter.repairs import recent_entries

    for entry in recent_entries(settings, feed=args.feed, status=args.status, limit=args.limit):
        # A seen entry has a reason when an include/exclude rule kept it from being announced.
        detail = entry.toot_url if entry.status == "posted" else entry.reason
        status = entry.status.ljust(STATUS_WIDTH)
        _show(f"{_when(entry.updated)}  {entry.feed}  {status}  {entry.entry_id}")
        if entry.title:
            _show(f"    {entry.title}")
        if detail:
            _show(f"    {'toot' if entry.status == 'posted' else 'reason'}: {detail}")
    return EXIT_OK


def _forget(settings, args) -> int:
    from crossposter.repairs import forget

    entry_id = forget(settings, args.feed, args.entry)
    log.info(
        "forgot %s of feed %s: the next run announces it if the feed lists it",
        entry_id,
        args.feed,
    )
    return EXIT_OK


def _mark_seen(settings, args) -> int:
    from crossposter.repairs import mark_seen

    result = mark_seen(settings, args.feed)
    log.info(
        "feed %s: %s dropped, %s recorded as seen",
        args.feed,
        plural(result.pending_dropped, "pending post"),
        plural(result.entries_recorded, "new entry", "new entries"),
    )
    if result.problem:
        log.error(
            "feed %s: %s; entries not yet recorded may still be announced",
            args.feed,
            result.problem,
        )
        return EXIT_FAILED
    return EXIT_OK


def _allow_deletions(settings, args) -> int:
    from crossposter.repairs import allow_deletions

    allow_deletions(settings, args.feed)
    log.info(
        "feed %s: its held deletions go out on the next runs (30 per 30 minutes); the guard "
        "counts again from now",
        args.feed,
    )
    return EXIT_OK


def _retry(settings, args) -> int:
    from crossposter.repairs import retry

    count = retry(settings, args.feed)
    retried = plural(count, "failed entry", "failed entries")
    log.info("%s will be announced again on the next run", retried)
    return EXIT_OK


def _export(settings, args) -> int:
    from crossposter.repairs import export_text, write_export

    if args.file == "-":
        sys.stdout.write(export_text(settings))
        return EXIT_OK
    write_export(settings, args.file)
    log.info("state exported to %s", args.file)
    return EXIT_OK


def _import(settings, args) -> int:
    from crossposter.repairs import import_state

    counts = import_state(settings, args.file)
    log.info(
        "state replaced from %s: %s, %s",
        args.file,
        plural(counts["feeds"], "feed"),
        plural(counts["entries"], "entry", "entries"),
    )
    return EXIT_OK


def _show(line: str) -> None:
    # Titles and reasons come from feeds and servers; older versions stored them raw.
    print(escape(line))


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


ACTIONS = {
    "feeds": _feeds,
    "entries": _entries,
    "forget": _forget,
    "mark-seen": _mark_seen,
    "allow-deletions": _allow_deletions,
    "retry": _retry,
    "export": _export,
    "import": _import,
}
