"""The command line: parse arguments, set up logging, call the library, map errors to exit codes.

Each command has its own module here, which reads its arguments and prints
what the library returns; the work itself is in the library.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

# Before the configuration's models are built: the command uses no pydantic plugin, so
# skip their discovery (a scan of every installed package's metadata) with pydantic's
# documented switch. A value the environment sets, even empty, is kept.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from crossposter import distribution
from crossposter.cli.attribution import add_attribution_parser, command_attribution
from crossposter.cli.check import add_check_parser, command_check
from crossposter.cli.common import add_global_options, log
from crossposter.cli.config_schema import add_config_schema_parser, command_config_schema
from crossposter.cli.health import add_health_parser, command_health
from crossposter.cli.links import add_links_parser, command_links
from crossposter.cli.login import (
    add_login_parser,
    add_logout_parser,
    command_login,
    command_logout,
)
from crossposter.cli.retract import add_retract_parser, command_retract
from crossposter.cli.run import add_run_parser, command_run
from crossposter.cli.state import add_state_parser, command_state
from crossposter.exit_codes import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_TEMPFAIL,
    EXIT_USAGE,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crossposter",
        description="Announce new blog posts from RSS/Atom feeds on Mastodon, exactly once.",
    )
    version = f"crossposter {distribution.version()}"
    parser.add_argument("--version", action="version", version=version)
    add_global_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_run_parser(commands)
    add_login_parser(commands)
    add_logout_parser(commands)
    add_state_parser(commands)
    add_health_parser(commands)
    add_check_parser(commands)
    add_config_schema_parser(commands)
    add_links_parser(commands)
    add_retract_parser(commands)
    add_attribution_parser(commands)
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
        return COMMANDS[args.command](args)
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


COMMANDS = {
    "run": command_run,
    "login": command_login,
    "logout": command_logout,
    "health": command_health,
    "check": command_check,
    "config-schema": command_config_schema,
    "state": command_state,
    "links": command_links,
    "retract": command_retract,
    "attribution": command_attribution,
}
