"""Mastodon.py's client, made the same way for posting, checking and logging in,
and its errors put in a few words.

Mastodon.py is imported only when a client is made: a run with nothing to post
never pays for it.
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from typing import Any
from urllib.parse import urlsplit

import requests

from crossposter.net.bounded import ApiAdapter, api_session
from crossposter.web import USER_AGENT, root_cause

log = logging.getLogger(__name__)

# Endpoints whose Deprecation header was already logged by this process.
_deprecated_seen: set[str] = set()
_deprecated_lock = threading.Lock()
_ID_SEGMENT = re.compile(r"/\d+(?=/|$)")


def mastodon_session(
    timeout: float, grace: float = 0.0
) -> tuple[requests.Session, ApiAdapter]:
    """The session every request to an instance goes through, Mastodon.py's or ours.

    Bounded as net.bounded.api_session bounds it, and watching for RFC 9745's
    `Deprecation` header, which Mastodon sends from 4.4 on an endpoint it means to
    remove (docs content/en/api/guidelines.md, "Deprecations").
    """
    session, adapter = api_session(timeout, grace=grace)
    session.hooks["response"].append(_warn_if_deprecated)
    return session, adapter


def _warn_if_deprecated(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    since = response.headers.get("Deprecation")
    if since is None:
        return
    parts = urlsplit(response.url)
    # /api/v1/statuses/113/context and /api/v1/statuses/114/context are one endpoint.
    path = _ID_SEGMENT.sub("/:id", parts.path.rstrip("/")) or "/"
    endpoint = f"{response.request.method} {path}"
    with _deprecated_lock:
        if (parts.netloc, endpoint) in _deprecated_seen:
            return
        _deprecated_seen.add((parts.netloc, endpoint))
    log.warning(
        "%s marks %s as deprecated (Deprecation: %s): it may go in a later Mastodon "
        "release; a newer crossposter may be needed by then",
        parts.netloc,
        endpoint,
        since[:100],
    )


def mastodon_client(
    instance_url: str,
    *,
    timeout: float,
    access_token: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    session: Any = None,
) -> Any:
    """A client for `instance_url` that never waits out a rate limit by itself.

    Mastodon.py's default would sleep until a 429 resets, up to hours
    (MASTODON-RULES §3); "throw" lets the caller decide. No version check: it
    costs a request, and mastodon.capabilities decides from the instance's own
    document what may be sent. Every request, its answer
    included, ends within `timeout` and 8 MiB (net.bounded); a caller that must stop
    requests in flight passes a session of its own from `mastodon_session`.
    """
    from mastodon import Mastodon

    _silence_mastodon_py_deprecation_warning()
    if session is None:
        session, _ = mastodon_session(timeout)

    return Mastodon(
        access_token=access_token,
        client_id=client_id,
        client_secret=client_secret,
        api_base_url=instance_url,
        version_check_mode="none",
        ratelimit_method="throw",
        request_timeout=timeout,
        user_agent=USER_AGENT,
        session=session,
    )


def _silence_mastodon_py_deprecation_warning() -> None:
    """mastodon_session logs a Deprecation once, at WARNING, with the endpoint; Mastodon.py's
    own warning would say it again on stderr. The same filter added again replaces itself."""
    from mastodon.errors import MastodonDeprecationWarning

    warnings.filterwarnings("ignore", category=MastodonDeprecationWarning)


def api_request(api: Any, method: str, endpoint: str, params: Any = None, **options: Any) -> Any:
    """A request Mastodon.py 2.3.3 has no method for, sent by its generic one.

    Its internal `Mastodon.__api_request` (name-mangled; the method every public one
    calls) sends it like any other: the same session, token, User-Agent, rate-limit
    bookkeeping and errors. Used for DELETE /api/v1/media/:id (Mastodon 4.4), the
    PKCE code exchange (Mastodon 4.3), which 2.3.3's `log_in` cannot send, an upload
    (POST /api/v2/media), which its `media_post` precedes with GET /api/v1/instance,
    and POST /api/v1/statuses, whose answer `status_post` would make typed objects of
    (publish.Publisher._post_once says why not).
    """
    return api._Mastodon__api_request(method, endpoint, dict(params or {}), **options)


def describe_api_error(error: Exception) -> str:
    """Mastodon.py's error as "HTTP 422 <the server's message>", or its own words, short."""
    from mastodon.errors import MastodonRatelimitError

    if isinstance(error, MastodonRatelimitError):
        return "rate limited (HTTP 429)"
    # MASTODON-RULES §4: ('Mastodon API returned error', status, reason, message).
    args = getattr(error, "args", ())
    if len(args) >= 4 and isinstance(args[1], int):
        return f"HTTP {args[1]} {args[3] or args[2]}"
    from mastodon.errors import MastodonNetworkError

    if isinstance(error, MastodonNetworkError):
        return root_cause(error)
    return str(error)[:300] or type(error).__name__
