"""Getting an access token: register an app, let the person authorize it, trade the code.

The out-of-band flow of MASTODON-RULES §8: the instance shows the code in the
browser and the person pastes it, so no local web server is needed. Nothing here
prints; the CLI holds the conversation.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from crossposter.errors import ConfigError, LoginFailed
from crossposter.files import write_atomically
from crossposter.mastodon.client import mastodon_client
from crossposter.web import USER_AGENT

# The least a posting bot needs: post and attach images, see which account it is,
# and read its own recent posts to avoid repeating one.
SCOPES = ("write:statuses", "write:media", "read:accounts", "read:statuses")
OUT_OF_BAND = "urn:ietf:wg:oauth:2.0:oob"
APP_NAME = "crossposter"


@dataclass(frozen=True)
class Authorization:
    """A registered app waiting for the person to authorize it at `url`."""

    instance_url: str
    client_id: str
    client_secret: str
    url: str


@dataclass(frozen=True)
class LoggedIn:
    token: str
    # The account the token posts as (`user@host`), when the instance said so.
    account: str | None


def instance_base_url(text: str) -> str:
    """`mastodon.social` or `https://mastodon.social/` → `https://mastodon.social`."""
    text = text.strip().rstrip("/")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{text}: not the address of a Mastodon instance")
    if parts.path or parts.query or parts.fragment:
        raise ConfigError(
            f"{text}: give the instance's address alone, such as https://{parts.netloc}"
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(f"{text}: a token is never sent over plain http; use https://")
    return f"{parts.scheme}://{parts.netloc}"


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def start_login(instance: str, *, timeout: float = 30.0) -> Authorization:
    """Register crossposter as an app on the instance; return where to authorize it."""
    from mastodon import Mastodon
    from mastodon import errors as mastodon_errors

    base_url = instance_base_url(instance)
    try:
        client_id, client_secret = Mastodon.create_app(
            APP_NAME,
            scopes=list(SCOPES),
            redirect_uris=OUT_OF_BAND,
            api_base_url=base_url,
            request_timeout=timeout,
            user_agent=USER_AGENT,
        )
        url = _client(base_url, client_id, client_secret, timeout).auth_request_url(
            redirect_uris=OUT_OF_BAND, scopes=list(SCOPES), allow_http=_allow_http(base_url)
        )
    except mastodon_errors.MastodonNetworkError as error:
        raise LoginFailed(f"{base_url} did not answer: {error}", temporary=True) from None
    except (KeyError, TypeError):
        # Mastodon.py reads whatever JSON came back; an error document has no client_id.
        raise LoginFailed(
            f"{base_url} refused to register the app; is it a Mastodon instance?"
        ) from None
    except mastodon_errors.MastodonError as error:
        raise LoginFailed(f"{base_url} refused to register the app: {error}") from None
    return Authorization(base_url, client_id, client_secret, url)


def finish_login(authorization: Authorization, code: str, *, timeout: float = 30.0) -> LoggedIn:
    """Trade the code the person pasted for an access token."""
    from mastodon import errors as mastodon_errors

    api = _client(
        authorization.instance_url,
        authorization.client_id,
        authorization.client_secret,
        timeout,
    )
    try:
        token = api.log_in(
            code=code.strip(),
            redirect_uri=OUT_OF_BAND,
            scopes=list(SCOPES),
            allow_http=_allow_http(authorization.instance_url),
        )
    except mastodon_errors.MastodonError as error:
        # Mastodon.py wraps every failure of the exchange, network ones included.
        if isinstance(error.__context__, mastodon_errors.MastodonNetworkError):
            raise LoginFailed(
                f"{authorization.instance_url} did not answer: {error.__context__}",
                temporary=True,
            ) from None
        raise LoginFailed(
            "the instance refused the code: paste it exactly as shown; "
            "each code works once, so start `crossposter login` again for a new one"
        ) from None
    return LoggedIn(token=token, account=_account_name(api, authorization.instance_url))


def save_token(token: str, path: str | os.PathLike[str]) -> Path:
    """Write the token readable by its owner alone (0600), replacing any older one whole."""
    path = Path(path).expanduser()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return write_atomically(path, token + "\n", 0o600)


def _client(base_url: str, client_id: str, client_secret: str, timeout: float):
    return mastodon_client(
        base_url, timeout=timeout, client_id=client_id, client_secret=client_secret
    )


def _allow_http(base_url: str) -> bool:
    # Mastodon.py refuses http:// OAuth endpoints; loopback (the tests' fake server) is the
    # one place plain http is harmless. instance_base_url already refused any other http.
    return urlsplit(base_url).scheme == "http"


def _account_name(api, base_url: str) -> str | None:
    from mastodon import errors as mastodon_errors

    try:
        account = api.account_verify_credentials()
    except mastodon_errors.MastodonError:
        return None
    return f"{account['acct']}@{urlsplit(base_url).hostname}"
