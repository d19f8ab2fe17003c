"""Getting an access token: register an app, let the person authorize it, trade the code.

The out-of-band flow of MASTODON-RULES §8: the instance shows the code in the
browser and the person pastes it, so no local web server is needed. With PKCE
(RFC 7636, S256) whenever the instance advertises it in its authorization-server
metadata (Mastodon 4.3+: docs content/en/methods/oauth.md, "4.3.0 - added support
for PKCE parameters", and /.well-known/oauth-authorization-server, "4.3.0 - added"):
a code seen by anyone else is useless without the verifier this process keeps.
Nothing here prints; the CLI holds the conversation.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from crossposter.accounts import handle
from crossposter.errors import ConfigError, LoginFailed
from crossposter.files import write_atomically
from crossposter.mastodon.client import (
    api_request,
    describe_api_error,
    mastodon_client,
    mastodon_session,
)
from crossposter.mastodon.instance import look_up_instance
from crossposter.net.bounded import UnreadableAnswer
from crossposter.web import USER_AGENT, connection_problem, is_loopback_host, with_scheme

# The least a posting bot needs: post and attach images, see which account it is,
# and read its own recent posts to avoid repeating one.
SCOPES = ("write:statuses", "write:media", "read:accounts", "read:statuses")
# `login --scope NAME` adds these: setting the account's attribution domains
# (`crossposter attribution --apply`) needs write:accounts.
EXTRA_SCOPES = {"attribution": ("write:accounts",)}
OUT_OF_BAND = "urn:ietf:wg:oauth:2.0:oob"
APP_NAME = "crossposter"


@dataclass(frozen=True)
class Authorization:
    """A registered app waiting for the person to authorize it at `url`."""

    instance_url: str
    client_id: str
    client_secret: str
    url: str
    scopes: tuple[str, ...] = SCOPES
    # PKCE's secret half, sent with the code; None when the instance offers no PKCE.
    code_verifier: str | None = None
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


def scopes_for(extra: list[str] | tuple[str, ...] = ()) -> tuple[str, ...]:
    """The four scopes a posting bot needs, plus those of each `login --scope NAME`."""
    added = tuple(scope for name in extra for scope in EXTRA_SCOPES[name])
    return SCOPES + tuple(dict.fromkeys(s for s in added if s not in SCOPES))


def start_login(
    instance: str,
    *,
    app_file: Path | None = None,
    timeout: float = 30.0,
    scopes: tuple[str, ...] = SCOPES,
) -> Authorization:
    """Where to authorize crossposter on the instance.

    The app registered on an earlier login, kept in `app_file`, is used again while
    the instance still knows it: registering is limited to a few per IP and leaves
    one more "crossposter" among the person's authorized apps each time.
    """
    base_url = instance_base_url(instance)
    app = _saved_app(app_file, base_url, timeout, scopes) if app_file else None
    not_kept = None
    if app is None:
        app = _register_app(base_url, timeout, scopes)
        if app_file:
            try:
                write_private(app_file, json.dumps(app, indent=2))
            except OSError as error:
                # The login still works; the next one registers another app.
                not_kept = f"{app_file}: {error.strerror or error}"
    query = {
        "client_id": app["client_id"],
        "redirect_uri": OUT_OF_BAND,
        "response_type": "code",
        "scope": " ".join(scopes),
    }
    verifier = None
    if "S256" in _server_metadata(base_url, timeout).get("code_challenge_methods_supported", ()):
        # RFC 7636 §4.1: 43 to 128 characters; 64 random bytes give 86.
        verifier = secrets.token_urlsafe(64)
        query["code_challenge"] = _s256(verifier)
        query["code_challenge_method"] = "S256"
    return Authorization(
        base_url,
        app["client_id"],
        app["client_secret"],
        f"{base_url}/oauth/authorize?{urlencode(query)}",
        scopes,
        verifier,
        app_not_kept=not_kept,
    )


def _s256(verifier: str) -> str:
    """RFC 7636 §4.2: BASE64URL(SHA256(verifier)), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _server_metadata(base_url: str, timeout: float) -> dict[str, Any]:
    """The instance's OAuth authorization-server metadata (RFC 8414), or {} when it has none.

    Asked through Mastodon.py (`oauth_authorization_server_info`), which answers {} for a
    server before 4.3 (404) or one that serves a web page there.
    """
    from mastodon import errors as mastodon_errors

    try:
        metadata = mastodon_client(base_url, timeout=timeout).oauth_authorization_server_info()
    except mastodon_errors.MastodonError:
        return {}
    return dict(metadata) if isinstance(metadata, dict) else {}


def _register_app(base_url: str, timeout: float, scopes: tuple[str, ...]) -> dict[str, Any]:
    """POST /api/v1/apps: the app's client id and secret, as the app file keeps them."""
    form = {"client_name": APP_NAME, "redirect_uris": OUT_OF_BAND, "scopes": " ".join(scopes)}
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
        "scopes": list(scopes),
    }


def read_app(path: Path, base_url: str) -> dict[str, Any] | None:
    """The app `path` keeps for this instance, as `login` wrote it; None when there is none."""
    try:
        app = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (
        isinstance(app, dict)
        and app.get("instance") == base_url
        and isinstance(app.get("client_id"), str)
        and isinstance(app.get("client_secret"), str)
    ):
        return None
    return app


def _saved_app(
    path: Path, base_url: str, timeout: float, scopes: tuple[str, ...]
) -> dict[str, Any] | None:
    """The app `path` keeps for this instance and these scopes, if the instance still knows it."""
    app = read_app(path, base_url)
    if app is None or app.get("scopes") != list(scopes):
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
    session, _ = mastodon_session(timeout)
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
    """Trade the code the person pasted (and the PKCE verifier) for an access token.

    Mastodon.py 2.3.3's `log_in` cannot send a `code_verifier`, so the exchange goes
    through its generic request (mastodon.client.api_request), PKCE or not: one path.
    """
    from mastodon import errors as mastodon_errors

    base_url = authorization.instance_url
    api = _client(base_url, authorization.client_id, authorization.client_secret, timeout)
    form = {
        "grant_type": "authorization_code",
        "code": code.strip(),
        "redirect_uri": OUT_OF_BAND,
        "client_id": authorization.client_id,
        "client_secret": authorization.client_secret,
        "scope": " ".join(authorization.scopes),
    }
    if authorization.code_verifier is not None:
        form["code_verifier"] = authorization.code_verifier
    try:
        answer = api_request(
            api, "POST", "/oauth/token", form, do_ratelimiting=False, override_type=dict
        )
    except (mastodon_errors.MastodonNetworkError, mastodon_errors.MastodonServerError) as error:
        raise _temporary(base_url, error) from None
    except mastodon_errors.MastodonError:
        raise LoginFailed(
            "the instance refused the code: paste it exactly as shown; "
            "each code works once, so start `crossposter login` again for a new one"
        ) from None
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise LoginFailed(f"{base_url} answered the code without a token")
    missing = _missing_scopes(authorization.scopes, str(answer.get("scope") or ""))
    if missing:
        raise LoginFailed(f"{base_url} did not grant the scopes {' '.join(missing)}")
    api.access_token = token
    return LoggedIn(token=token, account=_account_name(api, base_url))


def _temporary(base_url: str, error: Exception) -> LoginFailed:
    """The instance could not be reached, or failed (5xx): a later try may work."""
    from mastodon.errors import MastodonServerError

    if isinstance(error, MastodonServerError):
        return LoginFailed(
            f"{base_url} failed ({describe_api_error(error)}); try again later", temporary=True
        )
    return LoginFailed(connection_problem(base_url, error), temporary=True)


def _missing_scopes(wanted: tuple[str, ...], granted: str) -> list[str]:
    # `write` grants every `write:...`, `read` every `read:...`.
    given = set(granted.split())
    return [scope for scope in wanted if scope not in given and scope.split(":")[0] not in given]


def revoke(
    instance: str, token: str, app: dict[str, Any] | None, *, timeout: float = 30.0
) -> bool:
    """Revoke `token` at the instance (POST /oauth/revoke, as old as Mastodon: docs
    content/en/methods/oauth.md); False when the instance no longer takes it anyway.

    Without the app that asked for it (`app` None), nothing can revoke it (the
    instance wants the app's credentials): False too. LoginFailed (temporary) when
    the instance cannot be reached: the token may still work there.
    """
    from mastodon import errors as mastodon_errors

    base_url = instance_base_url(instance)
    if app is None:
        return False
    api = mastodon_client(
        base_url,
        timeout=timeout,
        access_token=token,
        client_id=app["client_id"],
        client_secret=app["client_secret"],
    )
    try:
        # Mastodon.py takes the revocation_endpoint of the server's metadata, when it has one.
        api.revoke_access_token(allow_http=_allow_http(base_url))
    except (mastodon_errors.MastodonNetworkError, mastodon_errors.MastodonServerError) as error:
        raise _temporary(base_url, error) from None
    except mastodon_errors.MastodonAPIError:
        # 401/403: the token, or the app, is already refused: nothing is left to revoke.
        return False
    return True


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


def _account_name(api, base_url: str) -> str | None:
    from mastodon import errors as mastodon_errors

    try:
        account = api.account_verify_credentials()
    except mastodon_errors.MastodonError:
        return None
    # The domain the instance calls itself, as `check` and Mastodon show the handle.
    domain = look_up_instance(base_url).limits.domain
    return handle(account["acct"], domain or base_url)
