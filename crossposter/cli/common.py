"""What several commands share: the common options, durations, the instance's limits in words
and the preview page."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crossposter.duration import parse_duration
from crossposter.summaries import describe_limits

__all__ = [
    "add_common",
    "add_global_options",
    "add_page_arguments",
    "describe_limits",
    "duration",
    "log",
    "write_page",
]

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


def add_page_arguments(command: argparse.ArgumentParser, *, opener: bool = True) -> None:
    command.add_argument(
        "--html",
        type=Path,
        metavar="PATH",
        help="also write what is shown as one self-contained HTML page, laid out as "
        "Mastodon shows a toot, with the link card the instance will build",
    )
    if opener:
        command.add_argument(
            "--open", action="store_true", help="with --html: open the page in the browser"
        )


def write_page(args: argparse.Namespace, write: Callable[[Any, Any], Path]) -> None:
    """Write the page with `write(preview_page, stop)`; Jinja2 is imported only then."""
    from crossposter import preview_page
    from crossposter.signals import stop_on_signals

    with stop_on_signals() as stop:
        path = write(preview_page, stop)
    log.info("preview page written to %s", path)
    if getattr(args, "open", False):
        import webbrowser

        webbrowser.open(path.resolve().as_uri())
