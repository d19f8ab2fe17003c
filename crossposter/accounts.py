"""Which Mastodon account a feed posts to, and that account's token.

The top-level `instance` with CROSSPOSTER_ACCESS_TOKEN is the account named
"default"; `accounts:` adds others. Their tokens are read only when a run is
about to post, so a preview needs none.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from crossposter.config import (
    DEFAULT_ACCOUNT,
    TOKEN_VARIABLE,
    FeedConfig,
    Settings,
    read_token_file,
)
from crossposter.errors import ConfigError


@dataclass(frozen=True)
class Account:
    name: str
    instance_url: str
    token: str | None = field(default=None, repr=False)
    # Where the token is looked for, to name it in an error without showing it.
    token_source: str = TOKEN_VARIABLE


def account_of(settings: Settings, feed: FeedConfig) -> Account:
    """The account `feed` posts to, its token not read yet."""
    name = feed.account or DEFAULT_ACCOUNT
    if name == DEFAULT_ACCOUNT:
        return Account(DEFAULT_ACCOUNT, settings.instance_url)
    try:
        configured = settings.accounts[name]
    except KeyError:
        raise ConfigError(f"feed {feed.name!r}: unknown account {name!r}") from None
    source = (
        configured.access_token_env
        if configured.access_token_env
        else f"file {configured.access_token_file}"
    )
    return Account(name, configured.instance_url, token_source=source)


def with_token(settings: Settings, account: Account) -> Account:
    """`account` with a token fit to send, or ConfigError saying where it was looked for."""
    found = _with_raw_token(settings, account)
    return replace(found, token=_sendable(found.token or "", found.token_source))


def _sendable(token: str, source: str | None) -> str:
    """A token that fits in an HTTP header, or ConfigError that never shows it.

    A line break or control character would make requests refuse the header with an
    error quoting it, token included; surrounding blanks (a secret written by `echo`) go.
    """
    token = token.strip()
    if not token.isascii() or not token.isprintable() or len(token.split()) != 1:
        raise ConfigError(
            f"the access token from {source or TOKEN_VARIABLE} holds a space, a "
            "line break or a character a token never has; copy it again"
        )
    return token


def _with_raw_token(settings: Settings, account: Account) -> Account:
    if account.name == DEFAULT_ACCOUNT:
        token = settings.access_token.get_secret_value() if settings.access_token else ""
        if not token:
            raise ConfigError(f"no access token: export {TOKEN_VARIABLE} (see `crossposter login`)")
        return Account(account.name, account.instance_url, token, settings.token_source or "")
    configured = settings.accounts[account.name]
    if configured.access_token_env:
        token = os.environ.get(configured.access_token_env, "").strip()
        if not token:
            raise ConfigError(
                f"account {account.name!r}: no access token: export {configured.access_token_env}"
            )
    else:
        token = read_token_file(
            Path(configured.access_token_file or ""), f"account {account.name!r}: "
        )
    return Account(account.name, account.instance_url, token, account.token_source)
