"""`crossposter retract FEED ENTRY`: delete an announcement's toot and never announce it again."""

from __future__ import annotations

import argparse

from crossposter.cli.common import add_common, log
from crossposter.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_TEMPFAIL, EXIT_USAGE


def add_retract_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Delete the toot announcing an entry and record the entry as retracted: "
        "no run announces it again, unless `state forget` says so."
    )
    add_common(parser)
    parser.add_argument("feed", metavar="FEED")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "entry", metavar="ENTRY", nargs="?", help="the entry's id or the article's URL"
    )
    which.add_argument("--entry", dest="entry_id", metavar="ID", help="the entry with this id")
    which.add_argument("--link", metavar="URL", help="the entry whose article has this URL")


def command_retract(args: argparse.Namespace) -> int:
    from crossposter.after_posting.retract import retract
    from crossposter.config import load_settings
    from crossposter.errors import AmbiguousEntry, NotInState, PublishError

    settings = load_settings(args.config)
    entry, by = next(
        (value, by)
        for value, by in ((args.entry_id, "id"), (args.link, "URL"), (args.entry, "id or URL"))
        if value is not None
    )
    try:
        done = retract(settings, args.feed, entry, by=by)
    except (NotInState, AmbiguousEntry) as error:
        log.error("%s", error)
        return EXIT_USAGE
    except PublishError as error:
        log.error("feed %s: the toot was not deleted: %s", args.feed, error)
        return EXIT_TEMPFAIL if error.temporary else EXIT_FAILED
    post = done.post
    if done.already:
        log.info("feed %s: %s was already %s; nothing to do", *done.names, done.status)
    elif done.status == "deleted":
        log.info("feed %s: the toot of %s was already gone; recorded as deleted", *done.names)
    else:
        log.info("feed %s: deleted the toot of %s (%s)", *done.names, post.toot_url)
    return EXIT_OK if done.site_files_written else EXIT_FAILED
