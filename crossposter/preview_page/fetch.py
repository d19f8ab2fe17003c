"""What the page needs from the web: articles' pages and images, fetched as any URL from a feed.

The public-address rule applies (crossposter.net.public: the address checked is the
one connected to, every redirect hop included), and each fetch is bounded in size
and time (crossposter.net.bounded). Failures come back in words, never raised.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import requests

from crossposter.net.addresses import AddressPolicy, BlockedAddress
from crossposter.net.bounded import CutOff
from crossposter.net.limits import TooLarge
from crossposter.net.public import get_public, public_session
from crossposter.web import USER_AGENT, root_cause

MAX_REDIRECTS = 5
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"


@dataclass(frozen=True)
class Fetched:
    url: str
    final_url: str = ""
    status: int | None = None
    # Lower-cased, without its parameters.
    content_type: str = ""
    # A 200's only (net.public.get_public): no other status's body is of use.
    body: bytes = b""
    # Why nothing usable came back; empty when the server answered (whatever its status).
    failure: str = ""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Limits:
    """How long and how much: the configuration's fetch_timeout and fetch_deadline."""

    timeout: float = 20.0
    deadline: float = 60.0
    max_bytes: int = 2 * 1024 * 1024
    allow_private: bool = False


def fetch(
    url: str, limits: Limits, *, accept: str, stop: threading.Event | None = None
) -> Fetched:
    """GET `url` from a feed or a page, redirects followed under the address rule."""
    session = public_session(AddressPolicy(allow_private=limits.allow_private), USER_AGENT)
    session.max_redirects = MAX_REDIRECTS
    try:
        answer = get_public(
            url,
            session,
            accept=accept,
            max_bytes=limits.max_bytes,
            timeout=limits.timeout,
            deadline=limits.deadline,
            stop=stop,
        )
        return Fetched(url, answer.url, answer.status, answer.content_type, answer.body)
    except TooLarge as error:
        failure = str(error)
    except CutOff as error:
        failure = f"it {error}"
    except BlockedAddress as error:
        failure = str(error)
        if "not a public address" in failure:
            failure += "; allow_private_urls_in_feeds: true lets a blog on your network be read"
    except requests.TooManyRedirects:
        failure = "too many redirects"
    except requests.RequestException as error:
        failure = root_cause(error)
    finally:
        session.close()
    return Fetched(url, failure=failure)
