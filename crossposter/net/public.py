"""Requests to URLs a feed supplies: public addresses only, and the address checked is the
address connected to.

A feed is written by someone else. Left alone, an image URL in it (or a redirect
from one) could point the bot at a loopback admin page or a cloud metadata
endpoint (169.254.169.254) and have the answer posted publicly. So the host is
resolved once, every address is classified, and the connection goes to the
address that passed, with the Host header, TLS SNI and certificate check still
for the name: a second lookup could answer differently (DNS rebinding).
Every redirect hop goes through the same check, and no credentials from
~/.netrc or the environment ride along.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from crossposter.net.bounded import Cutoff, WatchedAdapter, current_cutoff, read_capped
from crossposter.net.connect import lookup

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
Classifier = Callable[[Address], bool]

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class BlockedAddress(requests.ConnectionError):
    """The URL's host is not a public address (or does not resolve)."""


def system_resolver(host: str, port: int) -> list[str]:
    try:
        # Inside a download's Cutoff, a lookup that hangs is abandoned at its deadline or stop.
        answers = lookup(host, port, current_cutoff())
    except socket.gaierror as error:
        raise BlockedAddress(f"{host}: cannot resolve: {error.strerror}") from None
    return [str(answer[4][0]) for answer in answers]


def is_public_address(address: Address) -> bool:
    """Whether `address` is on the public Internet; an IPv4 address inside IPv6 counts as itself."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return is_public_address(embedded)
        if address.teredo is not None or address.is_site_local:
            return False
    elif address in _CGNAT:
        return False
    # is_global alone has let special ranges through in some Python versions: say them all.
    return address.is_global and not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses URLs from feeds may reach; `allow_private` lifts the rule."""

    allow_private: bool = False
    resolve: Resolver = system_resolver
    is_public: Classifier = is_public_address

    def address_for(self, host: str, port: int) -> str:
        """The one address to connect to for `host`, or BlockedAddress."""
        try:
            literal: Address | None = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        answers = [str(literal)] if literal is not None else self.resolve(host, port)
        refused = []
        for answer in answers:
            address = ipaddress.ip_address(answer.split("%", 1)[0])
            if self.allow_private or self.is_public(address):
                return str(address)
            refused.append(str(address))
        shown = ", ".join(refused) or "no address"
        raise BlockedAddress(f"{host} is not a public address ({shown})")


class PinnedAdapter(WatchedAdapter):
    """Connects to the address the policy checked, never to a second lookup's answer."""

    def __init__(self, policy: AddressPolicy) -> None:
        super().__init__()
        self.policy = policy
        self._pin = threading.local()

    def send(self, request: Any, *args: Any, **kwargs: Any) -> requests.Response:
        parts = urlsplit(request.url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise BlockedAddress(f"{request.url}: only http(s) URLs are fetched")
        port = parts.port or _DEFAULT_PORTS[scheme]
        address = self.policy.address_for(parts.hostname, port)
        # The pool is keyed by the address; the server still hears the name.
        request.headers["Host"] = parts.netloc.rsplit("@", 1)[-1]
        self._pin.value = (parts.hostname, address)
        try:
            return super().send(request, *args, **kwargs)
        finally:
            self._pin.value = None

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
