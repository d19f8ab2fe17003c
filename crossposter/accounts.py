"""Which Mastodon account a feed posts to, and that account's token.

The top-level `instance` is the account named "default"; `accounts:` adds
others. Every token is read only when a run is about to post (or `check`
tries it), never when the configuration loads: a preview, `health` and the
`state` commands need none, and a missing token file must not stop them.

Where a token is looked for, the same rules for every account:
- a named account: its `access_token_env` variable, or its `access_token_file`;
- the default one: CROSSPOSTER_ACCESS_TOKEN, else `access_token_file` (or
  CROSSPOSTER_ACCESS_TOKEN_FILE), else the file `crossposter login` saved for
  the instance.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from crossposter.config import TOKEN_FILE_VARIABLE, TOKEN_VARIABLE, FeedConfig, Settings
from crossposter.errors import ConfigError
from crossposter.models import DEFAULT_ACCOUNT

log = logging.getLogger(__name__)

# Where the container image (Dockerfile) looks for the token, through TOKEN_FILE_VARIABLE.
CONTAINER_TOKEN_FILE = Path("/run/secrets/crossposter_token")


@dataclass(frozen=True)
class Account:
    name: str
    instance_url: str
    token: str | None = field(default=None, repr=False)
    # Where the token is looked for, to name it in an error without showing it.
    token_source: str = TOKEN_VARIABLE


@dataclass(frozen=True)
class _TokenPlace:
    """Where one account's token is: a variable, a file, or (default account only) nowhere."""

    variable: str | None = None
    file: Path | None = None

    def describe(self) -> str:
        if self.file is not None:
            return f"file {self.file}"
        return self.variable or TOKEN_VARIABLE


def default_token_file(instance_url: str) -> Path:
    """Where `crossposter login` keeps the token for this instance, and where a run looks last."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "crossposter" / f"{_file_name(instance_url)}.token"


def app_file(token_file: Path, instance_url: str) -> Path:
    """Where `crossposter login` keeps the app it registered on the instance: beside the token."""
    return Path(token_file).expanduser().parent / f"{_file_name(instance_url)}.app.json"


def _file_name(instance_url: str) -> str:
    host = urlsplit(instance_url).netloc or instance_url
    return "".join(c if c.isalnum() or c in ".-" else "_" for c in host.lower())


def default_account(settings: Settings) -> Account:
    """The top-level instance's account, its token not read yet."""
    return _account(settings, DEFAULT_ACCOUNT, settings.instance_url)


def account_of(settings: Settings, feed: FeedConfig) -> Account:
    """The account `feed` posts to, its token not read yet."""
    name = feed.account or DEFAULT_ACCOUNT
    if name == DEFAULT_ACCOUNT:
        return default_account(settings)
    try:
        configured = settings.accounts[name]
    except KeyError:
        raise ConfigError(f"feed {feed.name!r}: unknown account {name!r}") from None
    return _account(settings, name, configured.instance_url)


def account_named(settings: Settings, name: str) -> Account | None:
    """The configured account of that name, its token not read yet; None when there is none."""
    if name == DEFAULT_ACCOUNT:
        return default_account(settings) if settings.instance_url else None
    configured = settings.accounts.get(name)
    return _account(settings, name, configured.instance_url) if configured else None


class TootOwner(Protocol):
    """What a recorded toot says of who posted it (state.PostedEntry, state.AnnouncedPost)."""

    feed: str
    entry_id: str
    title: str | None
    account: str | None
    instance: str | None


class TootAccounts:
    """The account every action on a posted toot goes through: the one that posted it, on
    the instance it posted to, wherever its feed posts now (issue 18: an edit sent to the
    feed's new instance overwrote an unrelated toot there)."""

    def __init__(self, settings: Settings, ready: dict[str, Account], *, token: bool):
        self._settings = settings
        # Feed name → its account now, with its token when the run read it.
        self._ready = ready
        self._token = token
        # (feed, entry id) of the toots already warned about: once a pass each.
        self._warned: set[tuple[str, str]] = set()

    def of(self, toot: TootOwner) -> Account | None:
        """The account that posted `toot`, with its token (read when `token`); None, with one
        warning, when the configuration no longer has it there: nothing is to be sent."""
        account = toot_account(self._settings, self._ready, toot, token=self._token)
        if account is None and (toot.feed, toot.entry_id) not in self._warned:
            self._warned.add((toot.feed, toot.entry_id))
            log.warning(
                "feed %s: the toot of %r was posted by %s, which the configuration no longer "
                "has; nothing is sent for it",
                toot.feed,
                toot.title or toot.entry_id,
                poster(toot, self._ready),
            )
        return account


def toot_account(
    settings: Settings, ready: dict[str, Account], toot: TootOwner, *, token: bool
) -> Account | None:
    """The account that posted `toot` as configured now, if still on the instance it posted
    to: from `ready` (feed name → account), else from `accounts:`; its token read when
    `token` and not there yet. None when the configuration no longer has it."""
    name = _poster_name(toot, ready)
    if name is None:
        return None
    named = (account for account in ready.values() if account.name == name)
    account = next(named, None) or account_named(settings, name)
    if account is None or (toot.instance and toot.instance != account.instance_url):
        return None
    if account.token is None and token:
        try:
            return with_token(settings, account)
        except ConfigError:
            return None
    return account


def poster(toot: TootOwner, ready: dict[str, Account]) -> str:
    """Who posted `toot`, where, in a message's words."""
    name = _poster_name(toot, ready)
    who = f"account {name!r}" if name else f"the account of feed {toot.feed!r}"
    return f"{who} on {toot.instance}" if toot.instance else who


def _poster_name(toot: TootOwner, ready: dict[str, Account]) -> str | None:
    # Toots posted before the state recorded accounts were posted by their feed's.
    feed_account = ready.get(toot.feed)
    return toot.account or (feed_account.name if feed_account else None)


def feed_accounts(settings: Settings) -> dict[str, Account]:
    """Feed name → the account it posts to, for every configured feed; no token read."""
    return _accounts_of(settings, settings.feeds)


def accounts_in_use(settings: Settings) -> list[Account]:
    """Each account an enabled feed posts to, once, the default one first; no token read."""
    accounts = _accounts_of(settings, settings.enabled_feeds).values()
    used = {account.name: account for account in accounts}
    return sorted(used.values(), key=lambda a: (a.name != DEFAULT_ACCOUNT, a.name))


def _accounts_of(settings: Settings, feeds: list[FeedConfig]) -> dict[str, Account]:
    # Each account made once (where its token is looked for, a file checked): a thousand
    # feeds share a few accounts.
    made: dict[str, Account] = {}
    accounts = {}
    for feed in feeds:
        name = feed.account or DEFAULT_ACCOUNT
        if name not in made:
            made[name] = account_of(settings, feed)
        accounts[feed.name] = made[name]
    return accounts


def with_token(settings: Settings, account: Account) -> Account:
    """`account` with a token fit to send, or ConfigError saying where it was looked for."""
    place = _token_place(settings, account.name)
    token = _sendable(_read_token(settings, account, place), place.describe())
    return replace(account, token=token, token_source=place.describe())


def read_token_file(path: Path, owner: str = "") -> str:
    """The token a file holds, alone on one line; `owner` names whose it is in errors."""
    where = f"{owner}access_token_file {path}"
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        if isinstance(error, FileNotFoundError) and _is_container_secret(path) and not owner:
            # The image set this path, not the person: say what they can do.
            raise ConfigError(
                f"no access token: pass {TOKEN_VARIABLE} or mount the secret at {path}"
            ) from None
        raise ConfigError(f"{where}: cannot read the token: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not a text file") from None
    if not token or len(token.split()) != 1:
        raise ConfigError(f"{where}: must hold the access token alone, on one line")
    return token


def _is_container_secret(path: Path) -> bool:
    # Compared by its last parts: a container's root need not be this process's.
    return path.parts[-3:] == CONTAINER_TOKEN_FILE.parts[-3:]


def _account(settings: Settings, name: str, instance_url: str) -> Account:
    return Account(name, instance_url, token_source=_token_place(settings, name).describe())


def _token_place(settings: Settings, name: str) -> _TokenPlace:
    if name != DEFAULT_ACCOUNT:
        configured = settings.accounts[name]
        return _TokenPlace(configured.access_token_env, configured.access_token_file)
    if settings.access_token:
        return _TokenPlace(variable=TOKEN_VARIABLE)
    if settings.access_token_file is not None:
        return _TokenPlace(file=settings.access_token_file)
    if settings.instance_url:
        saved = default_token_file(settings.instance_url)
        # The file `login` saved is only a last resort: its absence is no error of its own.
        if saved.is_file():
            return _TokenPlace(file=saved)
    return _TokenPlace()


def _read_token(settings: Settings, account: Account, place: _TokenPlace) -> str:
    owner = "" if account.name == DEFAULT_ACCOUNT else f"account {account.name!r}: "
    if place.file is not None:
        return read_token_file(place.file, owner)
    if place.variable is None:
        raise ConfigError(
            f"no access token: export {TOKEN_VARIABLE}, set access_token_file "
            f"(or {TOKEN_FILE_VARIABLE}), or run `crossposter login --instance "
            f"{account.instance_url}`"
        )
    if account.name == DEFAULT_ACCOUNT and settings.access_token:
        # pydantic-settings read this variable with the rest of the environment.
        token = settings.access_token.get_secret_value()
    else:
        token = os.environ.get(place.variable, "")
    if not token.strip():
        raise ConfigError(f"{owner}no access token: export {place.variable}")
    return token


def _sendable(token: str, source: str) -> str:
    """A token that fits in an HTTP header, or ConfigError that never shows it.

    A line break or control character would make requests refuse the header with an
    error quoting it, token included; surrounding blanks (a secret written by `echo`) go.
    """
    token = token.strip()
    if not token.isascii() or not token.isprintable() or len(token.split()) != 1:
        raise ConfigError(
            f"the access token from {source} holds a space, a "
            "line break or a character a token never has; copy it again"
        )
    return token


def handle(acct: str, domain: str) -> str:
    """`bot@example.social`: a local account's `acct` lacks the domain, a remote one has it."""
    if "@" in acct:
        return acct
    return f"{acct}@{domain.split('://', 1)[-1]}"
