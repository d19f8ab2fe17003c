"""`crossposter links`: every announced article and its toots, as JSON or CSV, on stdout."""

from __future__ import annotations

import argparse
import sys

from crossposter.cli.common import add_common, log
from crossposter.exit_codes import EXIT_OK, EXIT_USAGE


def add_links_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Print every announced article with its toots: JSON keyed by article URL, "
        "or CSV, one row per toot. Reads the state without locking it."
    )
    add_common(parser)
    parser.add_argument("--feed", metavar="NAME", help="only this feed's articles")
    parser.add_argument("--format", choices=("json", "csv"), default="json", help="default: json")


def command_links(args: argparse.Namespace) -> int:
    from crossposter.after_posting.links import configured_accounts, links_csv, links_json
    from crossposter.config import load_settings
    from crossposter.storage import open_read_only

    settings = load_settings(args.config)
    with open_read_only(settings) as state:
        configured = {feed.name for feed in settings.feeds}
        if args.feed is not None and args.feed not in configured and state.feed(args.feed) is None:
            log.error("no feed %r in the configuration or the state", args.feed)
            return EXIT_USAGE
        posts = state.announced(args.feed)
    render = links_csv if args.format == "csv" else links_json
    sys.stdout.write(render(posts, configured_accounts(settings)))
    return EXIT_OK
