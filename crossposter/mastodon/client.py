"""Mastodon.py's client, made the same way for posting, checking and logging in,
and its errors put in a few words.

Mastodon.py is imported only when a client is made: a run with nothing to post
never pays for it.
"""

from __future__ import annotations

from typing import Any

from crossposter.web import USER_AGENT, root_cause


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
    costs a request and the features used are old. Every request, its answer
    included, ends within `timeout` and 8 MiB (net.bounded); a caller that must stop
    requests in flight passes a session of its own from `api_session`.
    """
    from mastodon import Mastodon

    from crossposter.net.bounded import api_session

    if session is None:
        session, _ = api_session(timeout)

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
