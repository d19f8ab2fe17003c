"""Requests to URLs a feed supplies, through requests: the address checked is the address
connected to (net.addresses says which may be reached).

The connection goes to the address that passed, with the Host header, TLS SNI and
certificate check still for the name. Every redirect hop goes through the same
check, and no credentials from ~/.netrc or the environment ride along.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from crossposter.net.addresses import DEFAULT_PORTS, AddressPolicy, BlockedAddress
from crossposter.net.bounded import CutOff, Cutoff, WatchedAdapter, read_capped
from crossposter.web import USER_AGENT

log = logging.getLogger(__name__)


class PinnedAdapter(WatchedAdapter):
    """Connects to the address the policy checked, never to a second lookup's answer."""

    def __init__(self, policy: AddressPolicy) -> None:
        super().__init__()
        self.policy = policy
        self._pin = threading.local()

    def send(self, request: Any, *args: Any, **kwargs: Any) -> requests.Response:
        parts = urlsplit(request.url)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            raise BlockedAddress(f"{request.url}: only http(s) URLs are fetched")
        port = parts.port or DEFAULT_PORTS[scheme]
        address = self.address_for(parts.hostname, port)
        # The pool is keyed by the address; the server still hears the name.
        request.headers["Host"] = parts.netloc.rsplit("@", 1)[-1]
        self._pin.value = (parts.hostname, address)
        try:
            return super().send(request, *args, **kwargs)
        finally:
            self._pin.value = None

    def address_for(self, host: str, port: int) -> str:
        return self.policy.address_for(host, port)

    def build_connection_pool_key_attributes(
        self, request: Any, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        pin = getattr(self._pin, "value", None)
        if pin is not None:
            name, address = pin
            host_params["host"] = address
            if host_params["scheme"] == "https":
                # TLS is still for the name: SNI, and the certificate must match it.
                pool_kwargs["server_hostname"] = name
                pool_kwargs["assert_hostname"] = name
        return host_params, pool_kwargs


def public_session(policy: AddressPolicy, user_agent: str) -> requests.Session:
    """A session for URLs found in feeds: checked addresses, no ambient credentials or proxies."""
    session = requests.Session()
    session.trust_env = False
    session.headers["User-Agent"] = user_agent
    adapter = PinnedAdapter(policy)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@dataclass(frozen=True)
class PublicAnswer:
    """What a URL from a feed answered: its status, final address, type, and body (200 only)."""

    status: int
    url: str
    content_type: str
    body: bytes = b""


def get_public(
    url: str,
    session: requests.Session,
    *,
    accept: str,
    max_bytes: int,
    timeout: float,
    deadline: float,
    stop: threading.Event | None = None,
) -> PublicAnswer:
    """GET `url` through a `public_session`: connected within `timeout`, whole within
    `deadline` (a set `stop` abandons it), the body of a 200 read up to `max_bytes`.

    Raises what net.bounded and requests raise (TooLarge, CutOff, BlockedAddress,
    requests.RequestException): each caller says it in its own words.
    """
    with Cutoff(deadline, stop) as cutoff:
        response = session.get(
            url,
            stream=True,
            timeout=(min(timeout, max(cutoff.remaining(), 0.01)), timeout),
            headers={"Accept": accept},
        )
        with response:
            declared = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            answer = PublicAnswer(response.status_code, response.url or url, declared)
            if response.status_code != 200:
                return answer
            return PublicAnswer(
                answer.status, answer.url, declared, read_capped(response, max_bytes, cutoff)
            )


def link_status(
    url: str,
    policy: AddressPolicy,
    *,
    timeout: float,
    deadline: float,
    stop: threading.Event | None = None,
) -> int | None:
    """The HTTP status an article's link answers (after redirects), or None when it cannot
    be known. The link comes from a feed: the public-address rule applies."""
    session = public_session(policy, USER_AGENT)
    try:
        with Cutoff(deadline, stop) as cutoff:
            # GET, not HEAD: some servers answer HEAD with 405 or 404. The body is not read.
            response = session.get(
                url, stream=True, timeout=(min(timeout, max(cutoff.remaining(), 0.01)), timeout)
            )
            response.close()
            return response.status_code
    except (requests.RequestException, CutOff, BlockedAddress) as error:
        log.debug("%s: cannot be checked: %s", url, error)
        return None
    finally:
        session.close()
