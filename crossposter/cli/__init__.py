"""The command line: parse arguments, set up logging, call the library, map errors to exit codes.

Each command has its own module here, which reads its arguments and prints
what the library returns; the work itself is in the library. A command's module is
imported only when the command is given: `run`, from cron, loads none of the others.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

# Before the configuration's models are built: the command uses no pydantic plugin, so
# skip their discovery (a scan of every installed package's metadata) with pydantic's
# documented switch. A value the environment sets, even empty, is kept.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from crossposter import distribution
from crossposter.cli.common import add_global_options, log
from crossposter.exit_codes import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_TEMPFAIL,
    EXIT_USAGE,
)

# Every command: the module that reads its arguments (`add_<command>_arguments`) and
# carries it out (`command_<command>`), and the line `crossposter --help` shows for it.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("crossposter.cli.run", "one pass over every feed"),
    "login": ("crossposter.cli.login", "get an access token for the account that will post"),
    "logout": (
        "crossposter.cli.login",
        "revoke the saved token at the instance and delete it here",
    ),
    "state": (
        "crossposter.cli.state",
        "look after what crossposter remembers: list, forget, retry, back up",
    ),
    "health": ("crossposter.cli.health", "is `run --loop` working? (for a container HEALTHCHECK)"),
    "check": (
        "crossposter.cli.check",
        "try the configuration, feeds and token without posting anything",
    ),
    "config-schema": (
        "crossposter.cli.config_schema",
        "print the JSON Schema of the configuration file, for editors",
    ),
    "links": (
        "crossposter.cli.links",
        "print every announced article with its toots (JSON or CSV)",
    ),
    "retract": (
        "crossposter.cli.retract",
        "delete an entry's toot now; the entry is never announced again",
    ),
    "attribution": (
        "crossposter.cli.attribution",
        "list, or add (--apply), the feeds' domains among the account's attribution domains",
    ),
}


def _command_function(name: str, role: str) -> Callable[..., Any]:
    """`add_<command>_arguments` or `command_<command>`, from the command's module."""
    module = importlib.import_module(COMMANDS[name][0])
    return getattr(module, role.format(name.replace("-", "_")))


class CommandParser(argparse.ArgumentParser):
    """A command's parser, which takes its arguments from the command's module only when
    it is about to parse them: the command given, or its --help."""

    def __init__(self, *args: Any, command: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._command = command

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        if self._command is not None:
            command, self._command = self._command, None
            _command_function(command, "add_{}_arguments")(self)
        return super().parse_known_args(args, namespace)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crossposter",
        description="Announce new blog posts from RSS/Atom feeds on Mastodon, exactly once.",
    )
    version = f"crossposter {distribution.version()}"
    parser.add_argument("--version", action="version", version=version)
    add_global_options(parser)
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=CommandParser
    )
    for name, (_, summary) in COMMANDS.items():
        commands.add_parser(name, help=summary, command=name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args)
    from crossposter.errors import ConfigError, LoginFailed, StateError, StateLocked

    try:
        if getattr(args, "reads_config", False) and args.config is None:
            from crossposter.config import default_config_path

            args.config = str(default_config_path())
        return _command_function(args.command, "command_{}")(args)
    except ConfigError as error:
        for problem in error.problems:
            log.error("configuration error: %s", problem)
        return EXIT_USAGE
    except StateError as error:
        # A lock held by another run is no fault of the state: its message says it all.
        log.error("%s" if isinstance(error, StateLocked) else "state error: %s", error)
        return EXIT_TEMPFAIL if error.temporary else EXIT_USAGE
    except LoginFailed as error:
        log.error("login failed: %s", error)
        return EXIT_TEMPFAIL if error.temporary else EXIT_FAILED
    except KeyboardInterrupt:
        log.error("interrupted")
        return EXIT_INTERRUPTED


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="seconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("feed", "new", "posted"):
            if hasattr(record, key):
                document[key] = getattr(record, key)
        if record.exc_info or record.exc_text:
            document["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False)


def configure_logging(args: argparse.Namespace) -> None:
    level = logging.INFO
    if getattr(args, "verbose", False):
        level = logging.DEBUG
    elif getattr(args, "quiet", False):
        level = logging.ERROR
    from crossposter.logsafe import EscapingFormatter

    handler = logging.StreamHandler(sys.stderr)
    if getattr(args, "log_format", "text") == "json":
        formatter: logging.Formatter = JsonFormatter()
    else:
        formatter = logging.Formatter("%(levelname)s %(message)s")
    # What the network sent (titles, URLs, reason phrases) is shown, never obeyed.
    handler.setFormatter(EscapingFormatter(formatter))
    handler.set_name("crossposter-cli")
    # Only our own logger is configured: libraries stay quiet, and a host
    # application's (or pytest's) handlers on the root logger keep working.
    ours = logging.getLogger("crossposter")
    ours.handlers[:] = [h for h in ours.handlers if h.get_name() != "crossposter-cli"] + [handler]
    ours.setLevel(level)

