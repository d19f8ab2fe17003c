"""`crossposter check`: everything a run needs, tried without posting or remembering anything.

Each feed is fetched and parsed, its newest entry composed as a sample; the
token is shown to the instance (which account it is); the instance's limits
are read; the state file is opened read-only. Problems are collected, not
raised, so one look lists them all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from crossposter.compose import UnpostableEntry, compose
from crossposter.config import TOKEN_FILE_VARIABLE, TOKEN_VARIABLE, FeedConfig, Settings
from crossposter.errors import CrossposterError, FeedError
from crossposter.fetch import FetchOptions, FetchRequest, FetchResult, fetch_all
from crossposter.instance import fetch_limits
from crossposter.models import Entry, InstanceLimits
from crossposter.publish import translate_error
from crossposter.state import State


@dataclass
class FeedCheck:
    name: str
    url: str
    enabled: bool = True
    entries: int = 0
    language: str | None = None
    newest: Entry | None = None
    # The newest entry as a toot: (length, limit), or why it cannot be one.
    sample_length: tuple[int, int] | None = None
    notes: list[str] = field(default_factory=list)
    problem: str | None = None


@dataclass
class AccountCheck:
    # `user@host` the token posts as, once the instance confirmed it.
    account: str | None = None
    token_source: str | None = None
    problem: str | None = None


@dataclass
class StateCheck:
    path: Path
    feeds_known: int | None = None
    problem: str | None = None


@dataclass
class CheckReport:
    feeds: list[FeedCheck]
    account: AccountCheck
    limits: InstanceLimits
    state: StateCheck

    @property
    def problems(self) -> list[str]:
        found = [f"feed {feed.name}: {feed.problem}" for feed in self.feeds if feed.problem]
        if self.account.problem:
            found.append(f"token: {self.account.problem}")
        if self.state.problem:
            found.append(f"state: {self.state.problem}")
        return found


def check(settings: Settings) -> CheckReport:
    """Try every part of a run except posting and writing the state."""
    limits = fetch_limits(settings.instance_url, timeout=settings.request_timeout)
    return CheckReport(
        feeds=_check_feeds(settings, limits),
        account=_check_account(settings),
        limits=limits,
        state=_check_state(settings.state_file),
    )


def _check_feeds(settings: Settings, limits: InstanceLimits) -> list[FeedCheck]:
    enabled = settings.enabled_feeds
    options = FetchOptions(
        timeout=settings.fetch_timeout,
        max_bytes=settings.max_feed_bytes,
        workers=settings.fetch_workers,
    )
    # No validators: a check wants the whole feed, not "not modified".
    fetched = fetch_all([FetchRequest(name=feed.name, url=feed.url) for feed in enabled], options)
    results = {result.name: result for result in fetched}
    checks = []
    for feed in settings.feeds:
        if feed.enabled:
            checks.append(_check_feed(feed, results[feed.name], limits))
        else:
            checks.append(FeedCheck(feed.name, feed.url, enabled=False))
    return checks


def _check_feed(feed: FeedConfig, fetched: FetchResult, limits: InstanceLimits) -> FeedCheck:
    from crossposter.parse import parse_feed

    result = FeedCheck(feed.name, feed.url)
    if fetched.error is not None:
        result.problem = fetched.error.reason
        return result
    if fetched.moved_permanently_to:
        result.notes.append(f"moved permanently to {fetched.moved_permanently_to}: update url")
    try:
        parsed = parse_feed(fetched.content, url=fetched.final_url, headers=fetched.headers)
    except FeedError as error:
        result.problem = error.reason
        return result
    if parsed.malformed:
        result.notes.append(f"malformed, read what could be: {parsed.malformed}")
    result.entries = len(parsed.entries)
    result.language = parsed.info.language
    if not parsed.entries:
        result.notes.append("no entries yet")
        return result
    dated = [entry for entry in parsed.entries if entry.published]
    newest = max(dated, key=lambda entry: entry.published) if dated else parsed.entries[0]
    result.newest = newest
    try:
        toot = compose(newest, parsed.info, feed.compose_options(), limits)
    except UnpostableEntry as error:
        result.notes.append(f"its newest entry cannot be announced: {error}")
    else:
        result.sample_length = (toot.length, toot.limit)
    return result


def _check_account(settings: Settings) -> AccountCheck:
    from mastodon import Mastodon
    from mastodon import errors as mastodon_errors

    if not settings.access_token:
        return AccountCheck(
            problem=f"no access token: export {TOKEN_VARIABLE}, set access_token_file "
            f"(or {TOKEN_FILE_VARIABLE}), or run `crossposter login --instance "
            f"{settings.instance_url}`"
        )
    api = Mastodon(
        access_token=settings.access_token.get_secret_value(),
        api_base_url=settings.instance_url,
        version_check_mode="none",
        ratelimit_method="throw",
        request_timeout=settings.request_timeout,
    )
    checked = AccountCheck(token_source=settings.token_source)
    try:
        account = api.account_verify_credentials()
    except mastodon_errors.MastodonError as error:
        checked.problem = f"cannot verify it: {translate_error(error, api)}"
        return checked
    host = settings.instance_url.split("://", 1)[-1]
    checked.account = f"{account['acct']}@{host}"
    return checked


def _check_state(path: Path) -> StateCheck:
    checked = StateCheck(path)
    if not path.exists():
        folder = _nearest_existing(path.parent)
        if not os.access(folder, os.W_OK | os.X_OK):
            checked.problem = f"{path} cannot be created: {folder} is not writable"
        return checked
    if not os.access(path, os.R_OK | os.W_OK):
        checked.problem = f"{path} is not readable and writable by this user"
        return checked
    try:
        with State.open_read_only(path) as state:
            checked.feeds_known = len(state.feeds())
    except CrossposterError as error:
        checked.problem = str(error)
    return checked


def _nearest_existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder
