"""What several commands share: the common options, durations and the instance's limits in words."""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime
from typing import Any

from crossposter.duration import format_duration, parse_duration

log = logging.getLogger("crossposter")


def add_common(parser: argparse.ArgumentParser) -> None:
    # Left out after the command, they keep what was given before it.
    add_global_options(parser, default=argparse.SUPPRESS)
    # Only such commands look for the default configuration file (login and
    # config-schema work without one).
    parser.set_defaults(reads_config=True)


def add_global_options(parser: argparse.ArgumentParser, default: Any = None) -> None:
    """-c, -v, -q and --log-format, accepted before the command (`crossposter -c FILE run`)
    and after it."""
    flag = {} if default is None else {"default": default}
    parser.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        help="the YAML configuration file (default: $CROSSPOSTER_CONFIG, else "
        "$XDG_CONFIG_HOME/crossposter/feeds.yaml)",
        **flag,
    )
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="log details", **flag)
    verbosity.add_argument("-q", "--quiet", action="store_true", help="log errors only", **flag)
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text" if default is None else default,
        help="json: one JSON object per line, for containers (default: text)",
    )


def duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _stored(limits) -> str:
    if limits.asked_at is None:
        return "as the instance told an earlier run"
    age = format_duration((datetime.now(UTC) - limits.asked_at).total_seconds())
    return f"as the instance told a run {age} ago"


def describe_limits(limits) -> str:
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
