"""What several commands share: the common options, durations and the instance's limits in words."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from crossposter.duration import parse_duration
from crossposter.summaries import describe_limits

__all__ = ["add_common", "add_logging_options", "describe_limits", "duration", "log"]

log = logging.getLogger("crossposter")


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        help="the YAML configuration file (default: $CROSSPOSTER_CONFIG, else "
        "$XDG_CONFIG_HOME/crossposter/feeds.yaml)",
    )
    # Left out after the command, they keep what was given before it.
    add_logging_options(parser, default=argparse.SUPPRESS)


def add_logging_options(parser: argparse.ArgumentParser, default: Any = None) -> None:
    """-v, -q and --log-format, accepted before the command (`crossposter -v run`) and after."""
    verbosity = parser.add_mutually_exclusive_group()
    flag = {} if default is None else {"default": default}
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
