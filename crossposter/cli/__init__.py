"""The command line: parse arguments, set up logging, call the library, map errors to exit codes."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from crossposter import __version__
from crossposter.cli.state import add_state_parser, command_state

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TEMPFAIL = 75

log = logging.getLogger("crossposter")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crossposter",
        description="Announce new blog posts from RSS/Atom feeds on Mastodon, exactly once.",
    )
    parser.add_argument("--version", action="version", version=f"crossposter {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run",
        help="one pass over every feed",
        description="Fetch every feed once and announce its new entries on Mastodon.",
    )
    add_common(run)
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="print each toot that would be posted; change nothing, anywhere",
    )
    add_loop_arguments(run)
    add_login_parser(commands)
    add_state_parser(commands, add_common)
    add_health_parser(commands)
    add_check_parser(commands)
    commands.add_parser(
        "config-schema",
        help="print the JSON Schema of the configuration file, for editors",
        description="Print the JSON Schema of feeds.yaml. Save it and point your editor at it "
        "with a `# yaml-language-server: $schema=crossposter.schema.json` line.",
    )
    return parser


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", "-c", required=True, metavar="FILE", help="the YAML configuration file"
    )
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="log details")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="log errors only")
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="json: one JSON object per line, for containers (default: text)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args)
    from crossposter.errors import ConfigError, LoginFailed, StateError, StateLocked

    try:
        return COMMANDS[args.command](args)
    except ConfigError as error:
        log.error("configuration error: %s", error)
        return EXIT_USAGE
    except StateLocked as error:
        log.error("%s", error)
        return EXIT_TEMPFAIL
    except StateError as error:
        log.error("state error: %s", error)
        return EXIT_USAGE
    except LoginFailed as error:
        log.error("login failed: %s", error)
        return EXIT_TEMPFAIL if error.temporary else EXIT_FAILED
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130


def command_run(args: argparse.Namespace) -> int:
    from crossposter.config import load_settings
    from crossposter.pipeline import run

    if args.loop:
        return command_run_loop(args)
    from crossposter.signals import stop_on_signals

    settings = load_settings(args.config)
    # The first SIGTERM/SIGINT lets the post in flight finish and ends the run cleanly.
    with stop_on_signals() as stop:
        report = run(settings, dry_run=args.dry_run, stop=stop)
    for feed in report.feeds:
        log_feed(feed)
        if args.dry_run:
            print_previews(feed)
    if args.dry_run:
        count = sum(len(feed.previews) for feed in report.feeds)
        print(f"dry run: {count} toot(s) would be posted; nothing was changed")
        if report.limits:
            print(f"limits: {describe_limits(report.limits)}")
    if report.stopped:
        log.error("posting stopped: %s", report.stopped)
    return report.exit_code


def log_feed(feed) -> None:
    if not feed.errors:
        level = logging.INFO
    elif feed.temporary_failure and not feed.permanent_failure:
        level = logging.WARNING
    else:
        level = logging.ERROR
    counts = (feed.new, feed.posted, feed.skipped, feed.deferred)
    if feed.not_modified:
        summary = "not modified"
    elif feed.errors and not any(counts):
        # The feed could not be read at all: the reason is the whole story.
        summary = ""
    else:
        summary = (
            f"new={feed.new} posted={feed.posted} skipped={feed.skipped} deferred={feed.deferred}"
        )
        if feed.recorded:
            # A first run that posts nothing would otherwise look like a broken one.
            summary += (
                f" (first run: {feed.recorded} entries already there recorded, not announced;"
                " `backfill: N` announces the newest N)"
            )
    errors = "; ".join(feed.errors)
    if summary and errors:
        errors = f" errors={len(feed.errors)}: {errors}"
    log.log(
        level,
        "feed %s: %s%s",
        feed.name,
        summary,
        errors,
        extra={"feed": feed.name, "new": feed.new, "posted": feed.posted},
    )


def describe_limits(limits) -> str:
    where = {
        "default": "Mastodon's defaults, the instance was not asked",
        "cached": "as the instance said on an earlier run",
    }.get(limits.source, f"from the instance's {limits.source}")
    return (
        f"{limits.max_characters} characters, each URL counting "
        f"{limits.characters_reserved_per_url} ({where})"
    )


def print_previews(feed) -> None:
    for entry, toot in feed.previews:
        tags = " ".join(toot.hashtags) or "none"
        print(f"=== {feed.name}: {entry.title or entry.id}")
        language = toot.language or "account default"
        visibility = toot.visibility or "account default"
        print(
            f"--- {toot.length}/{toot.limit} characters · language {language}"
            f" · visibility {visibility} · hashtags {tags}"
        )
        if toot.spoiler_text:
            print(f"--- content warning: {toot.spoiler_text}")
        if toot.image_url:
            print(f"--- image: {toot.image_url} · alt text: {toot.image_alt}")
        print(toot.text)
        print()
    for entry, reason in feed.filtered:
        print(f"=== {feed.name}: {entry.title or entry.id}")
        print(f"--- not announced: {reason}")
        print()


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
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False)


def configure_logging(args: argparse.Namespace) -> None:
    level = logging.INFO
    if getattr(args, "verbose", False):
        level = logging.DEBUG
    elif getattr(args, "quiet", False):
        level = logging.ERROR
    handler = logging.StreamHandler(sys.stderr)
    if getattr(args, "log_format", "text") == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.set_name("crossposter-cli")
    # Only our own logger is configured: libraries stay quiet, and a host
    # application's (or pytest's) handlers on the root logger keep working.
    ours = logging.getLogger("crossposter")
    ours.handlers[:] = [h for h in ours.handlers if h.get_name() != "crossposter-cli"] + [handler]
    ours.setLevel(level)


def add_login_parser(commands) -> None:
    login = commands.add_parser(
        "login",
        help="get an access token for the account that will post",
        description="Register crossposter on your instance, authorize it in a browser, paste "
        "the code it shows, and get an access token (scopes: write:statuses write:media "
        "read:accounts read:statuses). The token is saved where `crossposter run` finds it.",
    )
    login.add_argument(
        "--instance", required=True, metavar="URL", help="your instance, e.g. mastodon.social"
    )
    where = login.add_mutually_exclusive_group()
    where.add_argument(
        "--token-file",
        metavar="PATH",
        help="save the token here, readable by you only "
        "(default: $XDG_CONFIG_HOME/crossposter/<instance>.token)",
    )
    where.add_argument(
        "--print",
        action="store_true",
        help="print the token instead, for an environment variable or a secret",
    )


def command_login(args: argparse.Namespace) -> int:
    from crossposter.config import TOKEN_FILE_VARIABLE, default_token_file
    from crossposter.mastodon.login import finish_login, save_token, start_login

    authorization = start_login(args.instance)
    say(
        "Open this address in a browser where you are logged in to the account that "
        "will post, and authorize crossposter:\n\n"
        f"  {authorization.url}\n"
    )
    say("Then paste the code it shows here: ", end="")
    code = sys.stdin.readline().strip()
    if not code:
        log.error("no code given; nothing was saved")
        return EXIT_USAGE
    logged_in = finish_login(authorization, code)
    account = f"@{logged_in.account}" if logged_in.account else "your account"
    if args.print:
        say(f"Access token for {account}; keep it secret:")
        print(logged_in.token)
        return EXIT_OK
    path = save_token(
        logged_in.token, args.token_file or default_token_file(authorization.instance_url)
    )
    say(f"Access token for {account} saved to {path} (readable by you only).")
    if not args.token_file:
        say("`crossposter run` finds it there for this instance.")
    else:
        say(f"Point crossposter at it: access_token_file: {path}  (or {TOKEN_FILE_VARIABLE})")
    return EXIT_OK


def add_loop_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--loop",
        action="store_true",
        help="run again and again, every --interval, until SIGTERM or Ctrl-C (for containers)",
    )
    run.add_argument(
        "--interval",
        type=duration,
        default="15m",
        metavar="DURATION",
        help="with --loop: time between passes, such as 30s, 15m, 1h (default: 15m)",
    )


def duration(text: str) -> float:
    from crossposter.duration import parse_duration

    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def command_run_loop(args: argparse.Namespace) -> int:
    from crossposter.config import load_settings
    from crossposter.duration import format_duration
    from crossposter.loop import run_loop
    from crossposter.pipeline import run
    from crossposter.signals import stop_on_signals

    if args.dry_run:
        log.error("--loop cannot be combined with --dry-run")
        return EXIT_USAGE
    settings = load_settings(args.config)

    def run_pass() -> int:
        # A stop during a pass abandons fetches and gives a post in flight the grace.
        report = run(settings, stop=stop)
        for feed in report.feeds:
            log_feed(feed)
        if report.stopped:
            log.error("posting stopped: %s", report.stopped)
        return report.exit_code

    log.info(
        "running every %s; heartbeat in %s",
        format_duration(args.interval),
        settings.heartbeat_path,
    )
    with stop_on_signals() as stop:
        run_loop(run_pass, interval=args.interval, stop=stop, heartbeat=settings.heartbeat_path)
    return EXIT_OK


def add_health_parser(commands) -> None:
    health = commands.add_parser(
        "health",
        help="is `run --loop` working? (for a container HEALTHCHECK)",
        description="Exit 0 when `run --loop` finished a successful pass recently (within "
        "twice its interval, or --max-age), 1 otherwise, saying why. Reads only the heartbeat "
        "file next to the state file.",
    )
    add_common(health)
    health.add_argument(
        "--max-age",
        type=duration,
        metavar="DURATION",
        help="how old the last successful pass may be (default: twice the loop's interval)",
    )


def command_health(args: argparse.Namespace) -> int:
    from crossposter.config import load_settings
    from crossposter.health import check_health

    settings = load_settings(args.config)
    health = check_health(settings.heartbeat_path, max_age=args.max_age)
    if health.healthy:
        log.info("healthy: %s", health.message)
        return EXIT_OK
    log.error("unhealthy: %s", health.message)
    return EXIT_FAILED


def add_check_parser(commands) -> None:
    check = commands.add_parser(
        "check",
        help="try the configuration, feeds and token without posting anything",
        description="Validate the configuration and its templates, fetch every feed, verify "
        "the access token and read the instance's limits. Posts nothing, writes nothing. "
        "Exits 0 when all is well, 1 naming every problem, 2 on a configuration error.",
    )
    add_common(check)


def command_check(args: argparse.Namespace) -> int:
    from crossposter.check import check
    from crossposter.config import load_settings

    settings = load_settings(args.config)
    enabled = len(settings.enabled_feeds)
    print(f"config: {args.config} is valid ({len(settings.feeds)} feeds, {enabled} enabled)")
    report = check(settings)
    for feed in report.feeds:
        print(describe_feed_check(feed))
    for account in report.accounts:
        if account.problem:
            print(f"token{account.label}: PROBLEM: {account.problem}")
        else:
            print(
                f"token{account.label}: ok, posts as @{account.account} "
                f"(from {account.token_source})"
            )
        print(f"instance{account.label}: {describe_limits(account.limits)}")
    state = report.state
    if state.problem:
        print(f"state: PROBLEM: {state.problem}")
    elif state.feeds_known is None:
        print(f"state: {state.path} will be created by the first run")
    else:
        print(f"state: {state.path} ({state.feeds_known} feeds known)")
    if report.problems:
        for problem in report.problems:
            log.error("%s", problem)
        print(f"check: {len(report.problems)} problem(s)")
        return EXIT_FAILED
    print("check: all good; nothing was posted or written")
    return EXIT_OK


def describe_feed_check(feed) -> str:
    if not feed.enabled:
        return f"feed {feed.name}: disabled"
    if feed.problem:
        return f"feed {feed.name}: PROBLEM: {feed.problem} ({feed.url})"
    parts = [f"{feed.entries} entries", f"language {feed.language or 'not declared'}"]
    if feed.newest:
        when = feed.newest.published.date().isoformat() if feed.newest.published else "undated"
        parts.append(f'newest "{feed.newest.title or feed.newest.id}" ({when})')
    if feed.sample_length:
        parts.append(f"its toot {feed.sample_length[0]}/{feed.sample_length[1]} characters")
    notes = "".join(f"; note: {note}" for note in feed.notes)
    return f"feed {feed.name}: ok, {', '.join(parts)}{notes}"


def command_config_schema(args: argparse.Namespace) -> int:
    from crossposter.schema import config_schema_text

    sys.stdout.write(config_schema_text())
    return EXIT_OK


def say(message: str, end: str = "\n") -> None:
    """A word to the person at the terminal; stdout stays for what they asked to print."""
    print(message, end=end, file=sys.stderr, flush=True)


COMMANDS = {
    "run": command_run,
    "login": command_login,
    "health": command_health,
    "check": command_check,
    "config-schema": command_config_schema,
    "state": command_state,
}
