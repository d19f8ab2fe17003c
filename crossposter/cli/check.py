"""`crossposter check`: prints what crossposter.check found, one line per part."""

from __future__ import annotations

import argparse

from crossposter.cli.common import add_common, describe_limits, log
from crossposter.exit_codes import EXIT_FAILED, EXIT_OK


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
        version = "" if state.schema_version is None else f", schema {state.schema_version}"
        print(f"state: {state.path} ({state.feeds_known} feeds known{version})")
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
