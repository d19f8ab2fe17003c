"""`--listen HOST:PORT`, read as the command line gives it (this module imports no server)."""

from __future__ import annotations

import re

DEFAULT_HOST = "127.0.0.1"

_ADDRESS = re.compile(r"^(?:(?:\[(?P<ipv6>[^\]]+)\]|(?P<host>[^:\[\]]*)):)?(?P<port>\d{1,5})$")


def parse_address(text: str) -> tuple[str, int]:
    """HOST:PORT, [IPV6]:PORT, or PORT alone (on 127.0.0.1); ValueError otherwise."""
    match = _ADDRESS.match(text.strip())
    if not match or not 0 <= int(match.group("port")) < 65536:
        raise ValueError(f"{text!r} is not HOST:PORT (such as 127.0.0.1:8080)")
    host = match.group("ipv6") or match.group("host") or DEFAULT_HOST
    return host, int(match.group("port"))
