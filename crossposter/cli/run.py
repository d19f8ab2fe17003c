"""`crossposter run`: one pass, a preview (`--dry-run`), or passes until stopped (`--loop`).

The passes are crossposter.pipeline's; the loop and its heartbeat crossposter.loop's;
stopping on SIGTERM/SIGINT crossposter.signals'. This module reads the arguments,
logs each feed's outcome and prints the previews.
"""

from __future__ import annotations

import argparse
import contextlib
import logging

from crossposter.cli.common import (
    add_common,
    add_page_arguments,
    describe_limits,
    duration,
    log,
    write_page,
)
from crossposter.exit_codes import EXIT_OK, EXIT_USAGE
from crossposter.logsafe import plural
from crossposter.summaries import SAMPLE_NOTE, first_run_summary, preview_outcome, text_diff


def add_run_arguments(run: argparse.ArgumentParser) -> None:
    run.description = (
        "Fetch every feed once and announce its new entries on Mastodon."
    )
    add_common(run)
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="print each toot that would be posted; change nothing, anywhere",
    )
    add_page_arguments(run)
    add_loop_arguments(run)


def add_loop_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--loop",
        action="store_true",
        help="run again and again, every --interval, until SIGTERM or Ctrl-C (for containers)",
    )
    run.add_argument(
        "--interval",
        type=duration,
        metavar="DURATION",
        help="with --loop: time between passes, such as 30s, 15m, 1h (default: 15m)",
    )
    run.add_argument(
        "--listen",
        type=listen_address,
        metavar="HOST:PORT",
        help="with --loop: serve /healthz, /readyz, /metrics and POST /feeds/NAME/poll over "
        "HTTP on HOST:PORT (HOST defaults to 127.0.0.1); needs the listen extra",
    )


def listen_address(text: str) -> tuple[str, int]:
    from crossposter.listen.address import parse_address

    try:
        return parse_address(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


DEFAULT_INTERVAL = 15 * 60.0
# Shorter than this, every feed and the instance are asked again and again for nothing.
SHORTEST_SENSIBLE_INTERVAL = 60.0


def command_run(args: argparse.Namespace) -> int:
    from crossposter.config import load_settings
    from crossposter.pipeline import run

    if (args.html or args.open) and (args.loop or not args.dry_run):
        log.error("--html writes a preview's page: give --dry-run too, and not --loop")
        return EXIT_USAGE
    if args.open and not args.html:
        log.error("--open opens the page --html PATH writes: give --html too")
        return EXIT_USAGE
    if args.loop:
        return command_run_loop(args)
    if args.interval is not None:
        log.error("--interval is the time between the passes of --loop: give --loop too")
        return EXIT_USAGE
    if args.listen is not None:
        log.error("--listen serves the probes and webhooks of --loop: give --loop too")
        return EXIT_USAGE
    from crossposter.signals import stop_on_signals

    settings = load_settings(args.config)
    # The first SIGTERM/SIGINT lets the post in flight finish and ends the run cleanly.
    with stop_on_signals() as stop:
        report = run(settings, dry_run=args.dry_run, stop=stop)
    for feed in report.feeds:
        log_feed(feed, preview=args.dry_run)
        if args.dry_run:
            print_previews(feed)
    if args.dry_run:
        print(preview_outcome(report.feeds, report.interrupted))
        if report.limits:
            print(f"limits: {describe_limits(report.limits)}")
    if args.html:
        write_page(args, lambda page, stop: page.write_run_page(args.html, settings, report, stop))
    log_stop(report)
    return report.exit_code


def command_run_loop(args: argparse.Namespace) -> int:
    from crossposter.config import ReloadingSettings
    from crossposter.duration import format_duration
    from crossposter.loop import run_loop
    from crossposter.pipeline import run
    from crossposter.signals import StopRequest, reload_on_hangup, stop_on_signals

    if args.dry_run:
        log.error("--loop cannot be combined with --dry-run")
        return EXIT_USAGE
    interval = DEFAULT_INTERVAL if args.interval is None else args.interval
    if interval < SHORTEST_SENSIBLE_INTERVAL:
        log.warning(
            "--interval %s is under a minute: every feed and the instance are asked that often",
            format_duration(interval),
        )
    config = ReloadingSettings(args.config)

    stop = StopRequest()
    listener = None
    if args.listen is not None:
        listener = start_listener(args.listen, config, interval, stop)
        if listener is None:
            return EXIT_USAGE

    def run_pass() -> int:
        asked = listener.poll_requests.take_due() if listener else set()
        report = None
        try:
            # A stop during a pass abandons fetches and gives a post in flight the grace.
            report = run(config.settings, stop=stop, poll_interval=interval, poll_now=asked)
            for feed in report.feeds:
                log_feed(feed)
            log_stop(report)
            return report.exit_code
        finally:
            if listener:
                listener.pass_done(report, asked)

    # The heartbeat stays where it was at the start: `health` keeps reading the same file.
    heartbeat = config.settings.heartbeat_path
    log.info(
        "running every %s; heartbeat in %s; SIGHUP reads %s again",
        format_duration(interval),
        heartbeat,
        config.path,
    )
    serving = listener.serving_until(stop) if listener else contextlib.nullcontext()
    with stop_on_signals(stop), reload_on_hangup(stop), serving:
        run_loop(
            run_pass,
            interval=interval,
            stop=stop,
            heartbeat=heartbeat,
            reload=config.reload,
            sooner=listener.poll_requests.seconds_until_due if listener else None,
            after_pass=listener.pass_ended if listener else None,
        )
    return EXIT_OK


def start_listener(address: tuple[str, int], config, interval: float, stop):
    """The listener of `run --loop --listen`, serving; None (after saying why) if it cannot."""
    try:
        from crossposter.listen.service import Listener
    except ImportError as error:
        from crossposter.distribution import install_extra_hint

        # On PyPI, `crossposter` is another project: the hint names this installation's.
        log.error("--listen needs the listen extra (%s): %s", error, install_extra_hint("listen"))
        return None
    listener = Listener(address, lambda: config.settings, interval=interval, wake=stop.wake)
    try:
        listener.start()
    except OSError as error:
        host, port = address
        log.error("--listen %s:%d: cannot listen there: %s", host, port, error)
        return None
    return listener


def log_stop(report) -> None:
    # Why an account stopped posting was logged when it happened; a stop asked for is no error.
    if report.interrupted:
        waiting = sum(feed.deferred for feed in report.feeds)
        log.warning(
            "stopped on request; %s for the next run",
            "1 post waits" if waiting == 1 else f"{waiting} posts wait",
        )


def log_feed(feed, *, preview: bool = False) -> None:
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
            # A preview records nothing: its log must not say it did.
            recorded = "would be recorded" if preview else "recorded"
            # Entries new on a first run are the backfill: no need to suggest it then.
            hint = "" if feed.new else "; `backfill: N` announces the newest N"
            summary += (
                f" (first run: {plural(feed.recorded, 'entry', 'entries')} already there"
                f" {recorded}, not announced{hint})"
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


def print_previews(feed) -> None:
    if feed.recorded:
        print(f"=== {feed.name}: {first_run_summary(feed)}")
        print()
    if feed.sample:
        entry, toot = feed.sample
        print(f"=== {feed.name}: {SAMPLE_NOTE}: {entry.title or entry.id}")
        print_toot(toot)
    for entry, toot in feed.previews:
        print(f"=== {feed.name}: {entry.title or entry.id}")
        print_toot(toot)
    for entry, reason in feed.filtered:
        print(f"=== {feed.name}: {entry.title or entry.id}")
        print(f"--- not announced: {reason}")
        print()
    for edit in feed.planned_edits:
        print(f"=== {feed.name}: {edit.label}")
        print("--- toot would be edited:")
        print(text_diff(edit.before.text if edit.before else "", edit.after.text))
        print()
    for deletion in feed.planned_deletions:
        print(f"=== {feed.name}: {deletion.label}")
        print("--- toot would be deleted: its article is gone")
        print()


def print_toot(toot) -> None:
    tags = " ".join(toot.hashtags) or "none"
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
