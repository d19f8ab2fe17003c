"""`crossposter check`: everything a run needs, tried without posting or remembering anything.

Each feed is fetched and parsed, its newest entry composed as a sample; the
token is shown to the instance (which account it is); the instance's limits
are read; the state file is read, and its writability probed with a write
rolled back at once (a missing one is not created). Problems are collected,
not raised, so one look lists them all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from crossposter.accounts import (
    Account,
    accounts_in_use,
    default_account,
    feed_accounts,
    handle,
    with_token,
)
from crossposter.alerts import ACCOUNT, FEED, describe
from crossposter.attribution import (
    ATTRIBUTION_SETTING,
    PageUnavailable,
    covers,
    creator_advice,
    fetch_page,
    names,
    site_domain,
)
from crossposter.compose.toot import UnpostableEntry, compose
from crossposter.config import FeedConfig, Settings
from crossposter.errors import ConfigError, CrossposterError, FeedError, StateLocked
from crossposter.feeds.fetch import FetchRequest, FetchResult, fetch_all
from crossposter.mastodon.capabilities import Capabilities
from crossposter.mastodon.client import mastodon_client
from crossposter.mastodon.instance import InstanceLookup, look_up_instance
from crossposter.mastodon.profile import attribution_domains
from crossposter.mastodon.publish import account_profile, translate_error
from crossposter.models import (
    DEFAULT_ACCOUNT,
    AccountProfile,
    Entry,
    Failing,
    InstanceLimits,
    Toot,
)
from crossposter.net.addresses import AddressPolicy
from crossposter.redaction import redacted_url
from crossposter.state import SqliteState
from crossposter.state.sqlite import user_name
from crossposter.storage import missing_folder, postgres_backend


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
    sample: Toot | None = None
    notes: list[str] = field(default_factory=list)
    problem: str | None = None
    byline: BylineCheck | None = None


@dataclass
class BylineCheck:
    """Whether the newest article's link card can credit the posting account (attribution)."""

    page: str
    # The page names the posting account in fediverse:creator; None when it was not read.
    names_account: bool | None = None
    domain: str | None = None
    # The account lists the page's domain; None when the instance does not say (before 4.4).
    domain_listed: bool | None = None
    # What to do, in order: the <meta> line for the blog, the command for the account.
    advice: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.names_account and self.domain_listed)


@dataclass
class AccountCheck:
    # The account's name: "default" for the top-level instance, else its `accounts:` key.
    name: str = DEFAULT_ACCOUNT
    # `user@host` the token posts as, once the instance confirmed it.
    account: str | None = None
    token_source: str | None = None
    problem: str | None = None
    limits: InstanceLimits | None = None
    # Why the instance's limits are not known although it was asked.
    limits_problem: str | None = None
    # Worth knowing, not problems: what the instance does not take.
    notes: list[str] = field(default_factory=list)
    # source.attribution_domains; None when the token or the instance does not say.
    attribution_domains: list[str] | None = None
    # How the account shows on its toots (its handle as `account`), once confirmed.
    profile: AccountProfile | None = None

    @property
    def label(self) -> str:
        """How the account is named in a report: nothing for the default one."""
        return "" if self.name == DEFAULT_ACCOUNT else f" (account {self.name})"


@dataclass
class StateCheck:
    # The state file, or the state database's URL without its password.
    path: Path | str
    feeds_known: int | None = None
    problem: str | None = None
    # Worth knowing, not a problem: a run is writing the state right now.
    note: str | None = None
    # PostgreSQL: the schema version the database is at.
    schema_version: int | None = None
    # The feeds and accounts the runs found failing, since their last success.
    failing: list[Failing] = field(default_factory=list)


@dataclass
class CheckReport:
    feeds: list[FeedCheck]
    # Each account the enabled feeds post to, the default one first.
    accounts: list[AccountCheck]
    state: StateCheck

    @property
    def problems(self) -> list[str]:
        found = [f"feed {feed.name}: {feed.problem}" for feed in self.feeds if feed.problem]
        for account in self.accounts:
            if account.problem:
                found.append(f"token{account.label}: {account.problem}")
            if account.limits_problem:
                found.append(f"instance{account.label}: {account.limits_problem}")
        if self.state.problem:
            found.append(f"state: {self.state.problem}")
        return found


def check(settings: Settings, config_file: str = "FILE") -> CheckReport:
    """Try every part of a run except posting and writing the state.

    `config_file` is named in the commands the report suggests.
    """
    accounts = feed_accounts(settings)
    used = accounts_in_use(settings)
    if not used and settings.instance_url:
        # No feed enabled yet: the top-level token is still worth trying.
        used = [default_account(settings)]
    # Limits are the instance's: asked once per instance, however many accounts live there.
    lookups: dict[str, InstanceLookup] = {}
    for account in used:
        if account.instance_url not in lookups:
            lookups[account.instance_url] = look_up_instance(
                account.instance_url, timeout=settings.request_timeout
            )
    limits = {instance: lookup.limits for instance, lookup in lookups.items()}
    checked = [
        _check_account(settings, account, lookups[account.instance_url]) for account in used
    ]
    feed_limits = {
        name: limits.get(account.instance_url, InstanceLimits())
        for name, account in accounts.items()
    }
    feeds = _check_feeds(settings, feed_limits)
    by_name = {account.name: account for account in checked}
    for feed in feeds:
        if feed.name in accounts and accounts[feed.name].name in by_name:
            _check_byline(settings, feed, by_name[accounts[feed.name].name], config_file)
    for account in checked:
        _note_unsupported(settings, account, accounts)
    report = CheckReport(
        feeds=feeds,
        accounts=checked,
        state=_check_postgres_state(settings.state_url)
        if settings.state_url
        else _check_state(settings.state_file),
    )
    # What the runs found, beside what this check finds now: since when it fails.
    failing = {(failure.kind, failure.name): failure for failure in report.state.failing}
    for part, kind in [*((feed, FEED) for feed in report.feeds), *((a, ACCOUNT) for a in checked)]:
        if (kind, part.name) in failing:
            part.notes.append(f"the runs found it {describe(failing[kind, part.name])}")
    return report


def _check_feeds(settings: Settings, limits: dict[str, InstanceLimits]) -> list[FeedCheck]:
    enabled = settings.enabled_feeds
    # No validators: a check wants the whole feed, not "not modified".
    requests = [FetchRequest(name=feed.name, url=feed.url) for feed in enabled]
    fetched = fetch_all(requests, settings.fetch_options())
    results = {result.name: result for result in fetched}
    checks = []
    for feed in settings.feeds:
        if feed.enabled:
            checks.append(_check_feed(feed, results[feed.name], limits[feed.name]))
        else:
            checks.append(FeedCheck(feed.name, feed.url, enabled=False))
    return checks


def _check_feed(feed: FeedConfig, fetched: FetchResult, limits: InstanceLimits) -> FeedCheck:
    from crossposter.feeds.parse import parse_feed

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
        toot = compose(newest, parsed.info, feed, limits)
    except UnpostableEntry as error:
        result.notes.append(f"its newest entry cannot be announced: {error}")
    else:
        result.sample_length = (toot.length, toot.limit)
        result.sample = toot
    return result


def _check_account(settings: Settings, account: Account, lookup: InstanceLookup) -> AccountCheck:
    from mastodon import errors as mastodon_errors

    checked = AccountCheck(
        name=account.name, limits=lookup.limits, limits_problem=lookup.problem
    )
    try:
        account = with_token(settings, account)
    except ConfigError as error:
        checked.problem = str(error)
        return checked
    checked.token_source = account.token_source
    api = mastodon_client(
        account.instance_url, timeout=settings.request_timeout, access_token=account.token
    )
    try:
        verified = api.account_verify_credentials()
    except mastodon_errors.MastodonError as error:
        checked.problem = (
            f"the token from {account.token_source} cannot be verified: "
            f"{translate_error(error, api)}"
        )
        return checked
    checked.account = handle(verified["acct"], lookup.limits.domain or account.instance_url)
    checked.attribution_domains = attribution_domains(verified)
    profile = account_profile(verified)
    checked.profile = replace(profile, acct=checked.account) if profile else None
    return checked


def _note_unsupported(
    settings: Settings, checked: AccountCheck, accounts: dict[str, Account]
) -> None:
    """What the account's feeds ask for that its instance does not take."""
    if checked.limits is None or checked.limits_problem:
        return
    capabilities = Capabilities.of(checked.limits)
    quoting = [
        feed.name
        for feed in settings.enabled_feeds
        if feed.quote_approval_policy and accounts[feed.name].name == checked.name
    ]
    if quoting and not capabilities.quote_approval_policy:
        checked.notes.append(
            f"quote_approval_policy ({', '.join(quoting)}) is left out: the instance has "
            f"{capabilities.describe()}, Mastodon 4.5 (API version 7) takes it"
        )


def _check_byline(
    settings: Settings, feed: FeedCheck, account: AccountCheck, config_file: str
) -> None:
    """Read the newest article's page: does its card credit the account that posts it?"""
    if not (feed.newest and feed.newest.link and account.account):
        return
    byline = feed.byline = BylineCheck(feed.newest.link)
    try:
        page = fetch_page(
            feed.newest.link,
            AddressPolicy(allow_private=settings.allow_private_urls_in_feeds),
            timeout=settings.fetch_timeout,
            deadline=settings.fetch_deadline,
        )
    except PageUnavailable as error:
        byline.advice.append(f"the article page could not be read: {error}")
        return
    byline.page = page.url
    byline.names_account = any(names(creator, account.account) for creator in page.creators)
    if not byline.names_account:
        found = f" (it names {', '.join(page.creators)})" if page.creators else ""
        words, line = creator_advice(
            account.account, wordpress=page.wordpress, domains=False
        )
        byline.advice.append(
            f"the page carries no fediverse:creator for @{account.account}{found}; {words} {line}"
        )
    byline.domain = site_domain(page.url)
    if account.attribution_domains is None or byline.domain is None:
        byline.advice.append(
            "the instance does not say the account's attribution domains (Mastodon 4.4 does); "
            f"check {ATTRIBUTION_SETTING}"
        )
        return
    byline.domain_listed = covers(account.attribution_domains, byline.domain)
    if not byline.domain_listed:
        byline.advice.append(
            f"{byline.domain} is not among the account's attribution domains; run: "
            f"crossposter attribution --config {config_file} --apply"
        )


def _check_state(path: Path) -> StateCheck:
    """Read the state and really write to it (rolled back); a missing one stays missing."""
    checked = StateCheck(path)
    try:
        with SqliteState.open_read_only(path) as state:
            if state.path is None:  # there is no state file yet
                checked.problem = _why_not_creatable(path)
                return checked
            checked.feeds_known = len(state.feeds())
            checked.failing = state.failures()
        SqliteState.probe_writable(path)
    except StateLocked:
        checked.note = "a run is using it right now, so its writability was not probed"
    except CrossposterError as error:
        checked.problem = str(error)
    return checked


def _check_postgres_state(url: str) -> StateCheck:
    """The database answers, and what it holds; its tables are left for the first run."""

    checked = StateCheck(redacted_url(url))
    try:
        backend = postgres_backend(url)
        with backend.open_read_only(url) as state:
            # A database without crossposter's tables yet is read as an empty SQLite state.
            if isinstance(state, backend):
                checked.schema_version = state.schema_version()
                checked.feeds_known = len(state.feeds())
                checked.failing = state.failures()
    except CrossposterError as error:
        checked.problem = str(error)
    return checked


def _why_not_creatable(path: Path) -> str | None:
    """Why `run` could not create the state file, or None.

    It creates the missing folders of the default location only."""
    missing = missing_folder(path)
    if missing:
        return missing
    folder = path.parent
    # os.path.exists, unlike Path.exists, is False for a folder it may not enter.
    while not os.path.exists(folder) and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        return f"{path} cannot be created: {folder} is a file, not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return (
            f"{path} cannot be created: permission denied, the user {user_name()} "
            f"may not write {folder}"
        )
    return None
