"""Which addresses URLs from feeds may reach: public ones only, unless the user says so.

A feed is written by someone else. Left alone, an image URL in it (or a redirect
from one) could point the bot at a loopback admin page or a cloud metadata
endpoint (169.254.169.254) and have the answer posted publicly. So the host is
resolved once, every address is classified, and the connection goes to the
address that passed (net.public for requests, net.following for feeds): a second
lookup could answer differently (DNS rebinding).

Nothing here sends a request: a run whose feeds all answer 304 loads no HTTP library
but the feeds' own (net.http1).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass, replace

from crossposter.net.connect import current_cutoff, lookup

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
Classifier = Callable[[Address], bool]

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
DEFAULT_PORTS = {"http": 80, "https": 443}


class BlockedAddress(Exception):
    """The URL's host is not a public address (or does not resolve)."""


class Unresolvable(BlockedAddress):
    """The URL's host has no address: the network's failure, not the URL's."""


def system_resolver(host: str, port: int) -> list[str]:
    try:
        # Inside a download's Cutoff, a lookup that hangs is abandoned at its deadline or stop.
        answers = lookup(host, port, current_cutoff())
    except socket.gaierror as error:
        raise Unresolvable(f"{host}: cannot resolve: {error.strerror}") from None
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


class FeedHops:
    """Where each request of one feed fetch may connect: the configured URL, trusted for
    itself only, then its redirects.

    When the configured URL reaches a public address, every redirect from it must reach
    one too: a public blog must not lead the bot into the network it runs in. A blog on
    the LAN may redirect within it. A hop through a proxy is the proxy's to connect (and
    to police); a direct hop after one is held to the public rule.
    """

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy
        self._anywhere = replace(policy, allow_private=True)
        self._configured_next = True
        self._private_allowed = False

    def proxied(self) -> None:
        self._configured_next = False

    def address_for(self, host: str, port: int) -> str:
        """The one address to connect to for this hop, or BlockedAddress."""
        if self._configured_next:
            self._configured_next = False
            address = self._anywhere.address_for(host, port)
            self._private_allowed = not self.policy.is_public(ipaddress.ip_address(address))
            return address
        if self._private_allowed:
            return self._anywhere.address_for(host, port)
        return self.policy.address_for(host, port)
