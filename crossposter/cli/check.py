"""`crossposter check`: prints what crossposter.check found, one line per part."""

from __future__ import annotations

import argparse

from crossposter.cli.common import add_common, add_page_arguments, describe_limits, write_page
from crossposter.exit_codes import EXIT_FAILED, EXIT_OK
from crossposter.logsafe import plural


def add_check_arguments(check: argparse.ArgumentParser) -> None:
    check.description = (
        "Validate the configuration and its templates, fetch every feed, verify "
        "the access token and read the instance's limits; read the state and probe that it "
        "can be written (a write rolled back at once). Posts nothing, changes nothing. "
        "Exits 0 when all is well, 1 naming every problem, 2 on a configuration error."
    )
    add_common(check)
    add_page_arguments(check, opener=False)


def command_check(args: argparse.Namespace) -> int:
    from crossposter.check import check
    from crossposter.config import load_settings

    settings = load_settings(args.config)
    enabled = len(settings.enabled_feeds)
    feeds = plural(len(settings.feeds), "feed")
    print(f"config: {args.config} is valid ({feeds}, {enabled} enabled)")
    report = check(settings, args.config)
    for feed in report.feeds:
        print(describe_feed_check(feed))
        if feed.byline is not None:
            print(describe_byline(feed.name, feed.byline))
    for account in report.accounts:
        if account.problem:
            print(f"token{account.label}: PROBLEM: {account.problem}")
        else:
            print(
                f"token{account.label}: ok, posts as @{account.account} "
                f"(from {account.token_source})"
            )
        if account.limits_problem:
            print(f"instance{account.label}: PROBLEM: {account.limits_problem}")
        else:
            print(f"instance{account.label}: {describe_limits(account.limits)}")
        for note in account.notes:
            print(f"instance{account.label}: note: {note}")
    state = report.state
    if state.problem:
        print(f"state: PROBLEM: {state.problem}")
    elif state.feeds_known is None:
        print(f"state: {state.path} will be created by the first run")
    elif state.note:
        known = plural(state.feeds_known, "feed")
        print(f"state: {state.path} ({known} known); note: {state.note}")
    else:
        version = "" if state.schema_version is None else f", schema {state.schema_version}"
        writable = ", writable" if state.schema_version is None else ""
        print(
            f"state: {state.path} ({plural(state.feeds_known, 'feed')} known{version}){writable}"
        )
    if args.html:
        write_page(
            args, lambda pages, stop: pages.write_check_page(args.html, settings, report, stop)
        )
    if report.problems:
        # Each was printed above, on its part's line.
        print(f"check: {plural(len(report.problems), 'problem')}")
        return EXIT_FAILED
    print("check: all good; nothing was posted or written")
    return EXIT_OK


def describe_feed_check(feed) -> str:
    notes = "".join(f"; note: {note}" for note in feed.notes)
    if not feed.enabled:
        return f"feed {feed.name}: disabled"
    if feed.problem:
        return f"feed {feed.name}: PROBLEM: {feed.problem} ({feed.url}){notes}"
    parts = [
        plural(feed.entries, "entry", "entries"),
        f"language {feed.language or 'not declared'}",
    ]
    if feed.newest:
        when = feed.newest.published.date().isoformat() if feed.newest.published else "undated"
        parts.append(f'newest "{feed.newest.title or feed.newest.id}" ({when})')
    if feed.sample_length:
        parts.append(f"its toot {feed.sample_length[0]}/{feed.sample_length[1]} characters")
    return f"feed {feed.name}: ok, {', '.join(parts)}{notes}"


def describe_byline(feed: str, byline) -> str:
    """Whether the link card of the feed's newest article credits the posting account."""
    if byline.ok:
        return (
            f"byline {feed}: ok, {byline.page} names the account, and {byline.domain} is "
            "among its attribution domains"
        )
    return f"byline {feed}: note: " + f"\nbyline {feed}: note: ".join(byline.advice)
