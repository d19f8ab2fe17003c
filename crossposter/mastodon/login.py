"""Getting an access token: register an app, let the person authorize it, trade the code.

The out-of-band flow of MASTODON-RULES §8: the instance shows the code in the
browser and the person pastes it, so no local web server is needed. Nothing here
prints; the CLI holds the conversation.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from crossposter.errors import ConfigError, LoginFailed
from crossposter.files import write_atomically
from crossposter.mastodon.client import mastodon_client
from crossposter.mastodon.instance import account_handle, look_up_instance
from crossposter.net.bounded import UnreadableAnswer, api_session
from crossposter.web import USER_AGENT, connection_problem, is_loopback_host, with_scheme

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
    # Why the app registered now could not be kept for the next login, if it could not.
    app_not_kept: str | None = None


@dataclass(frozen=True)
class LoggedIn:
    token: str
    # The account the token posts as (`user@host`), when the instance said so.
    account: str | None


def instance_base_url(text: str) -> str:
    """`mastodon.social` or `https://mastodon.social/` → `https://mastodon.social`."""
    text = with_scheme(text.strip().rstrip("/"))
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{text}: not the address of a Mastodon instance")
    if parts.path or parts.query or parts.fragment:
        raise ConfigError(
            f"{text}: give the instance's address alone, such as https://{parts.netloc}"
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigError(f"{text}: a token is never sent over plain http; use https://")
    return f"{parts.scheme}://{parts.netloc}"


def start_login(
    instance: str, *, app_file: Path | None = None, timeout: float = 30.0
) -> Authorization:
    """Where to authorize crossposter on the instance.

    The app registered on an earlier login, kept in `app_file`, is used again while
    the instance still knows it: registering is limited to a few per IP and leaves
    one more "crossposter" among the person's authorized apps each time.
    """
    base_url = instance_base_url(instance)
    app = _saved_app(app_file, base_url, timeout) if app_file else None
    not_kept = None
    if app is None:
        app = _register_app(base_url, timeout)
        if app_file:
            try:
                write_private(app_file, json.dumps(app, indent=2))
            except OSError as error:
                # The login still works; the next one registers another app.
                not_kept = f"{app_file}: {error.strerror or error}"
    query = urlencode(
        {
            "client_id": app["client_id"],
            "redirect_uri": OUT_OF_BAND,
            "response_type": "code",
            "scope": " ".join(SCOPES),
        }
    )
    return Authorization(
        base_url,
        app["client_id"],
        app["client_secret"],
        f"{base_url}/oauth/authorize?{query}",
        app_not_kept=not_kept,
    )


def _register_app(base_url: str, timeout: float) -> dict[str, Any]:
    """POST /api/v1/apps: the app's client id and secret, as the app file keeps them."""
    form = {"client_name": APP_NAME, "redirect_uris": OUT_OF_BAND, "scopes": " ".join(SCOPES)}
    response = _send(base_url, "/api/v1/apps", form, timeout)
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code >= 500:
        raise LoginFailed(
            f"{base_url} could not register the app (HTTP {response.status_code}); try again later",
            temporary=True,
        )
    if not isinstance(answer, dict):
        raise LoginFailed(f"{base_url} is not a Mastodon instance: it does not answer its API")
    if not response.ok:
        reason = answer.get("error") or response.reason
        raise LoginFailed(
            f"{base_url} refused to register the app: HTTP {response.status_code} {reason}"
        )
    client_id, client_secret = answer.get("client_id"), answer.get("client_secret")
    if not isinstance(client_id, str) or not isinstance(client_secret, str):
        raise LoginFailed(f"{base_url} is not a Mastodon instance: it registered no app")
    return {
        "instance": base_url,
        "client_id": client_id,
        "client_secret": client_secret,
        "scopes": list(SCOPES),
    }


def _saved_app(path: Path, base_url: str, timeout: float) -> dict[str, Any] | None:
    """The app `path` keeps for this instance and these scopes, if the instance still knows it."""
    try:
        app = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (
        isinstance(app, dict)
        and app.get("instance") == base_url
        and app.get("scopes") == list(SCOPES)
        and isinstance(app.get("client_id"), str)
        and isinstance(app.get("client_secret"), str)
    ):
        return None
    # An app-only token proves the app is still registered (a removed one gets 401),
    # and is revoked at once: it was needed for nothing else.
    form = {
        "grant_type": "client_credentials",
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "scope": "read:accounts",
    }
    response = _send(base_url, "/oauth/token", form, timeout)
    if response.status_code in (400, 401, 403):
        return None
    try:
        token = response.json().get("access_token")
    except (ValueError, AttributeError):
        token = None
    if token:
        revoke = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
        _send(base_url, "/oauth/revoke", {**revoke, "token": token}, timeout)
    return app


def _send(base_url: str, path: str, form: dict[str, str], timeout: float):
    """POST `form`; LoginFailed (temporary) when the instance cannot be reached."""
    session, _ = api_session(timeout)
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    try:
        with session:
            return session.post(f"{base_url}{path}", data=form, headers=headers, timeout=timeout)
    except requests.RequestException as error:
        if _web_page(error):
            # A web site answers, but not as Mastodon's API would: no later try changes that.
            raise LoginFailed(
                f"{base_url} is not a Mastodon instance: it answers with a web page"
            ) from None
        raise LoginFailed(connection_problem(base_url, error), temporary=True) from None


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
                connection_problem(authorization.instance_url, error.__context__), temporary=True
            ) from None
        raise LoginFailed(
            "the instance refused the code: paste it exactly as shown; "
            "each code works once, so start `crossposter login` again for a new one"
        ) from None
    return LoggedIn(token=token, account=_account_name(api, authorization.instance_url, timeout))


def save_token(token: str, path: str | os.PathLike[str]) -> Path:
    """Write the token readable by its owner alone (0600), replacing any older one whole."""
    return write_private(path, token)


def write_private(path: str | os.PathLike[str], text: str) -> Path:
    """Write `text` readable by its owner alone (0600), replacing any older file whole."""
    path = Path(path).expanduser()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return write_atomically(path, text + "\n", 0o600)


def _web_page(error: requests.RequestException) -> bool:
    response = getattr(error, "response", None)
    if not isinstance(error, UnreadableAnswer) or response is None:
        return False
    return "json" not in response.headers.get("Content-Type", "").lower()


def _client(base_url: str, client_id: str, client_secret: str, timeout: float):
    return mastodon_client(
        base_url, timeout=timeout, client_id=client_id, client_secret=client_secret
    )


def _allow_http(base_url: str) -> bool:
    # Mastodon.py refuses http:// OAuth endpoints; loopback (the tests' fake server) is the
    # one place plain http is harmless. instance_base_url already refused any other http.
    return urlsplit(base_url).scheme == "http"


def _account_name(api, base_url: str, timeout: float) -> str | None:
    from mastodon import errors as mastodon_errors

    try:
        account = api.account_verify_credentials()
    except mastodon_errors.MastodonError:
        return None
    # The domain the instance calls itself, as `check` and Mastodon show the handle.
    domain = look_up_instance(base_url, timeout).limits.domain
    return account_handle(account["acct"], domain, base_url)
