"""What keeps tests on loopback: connections anywhere else fail, and so do lookups of any
other name, since even a lookup leaves the machine (the system resolver asks DNS).

    guard = NoInternet()
    guard.install(monkeypatch)
    ...                      # a lookup of blog.example.org raises socket.gaierror
    guard.unexpected(set())  # ['blog.example.org']: the test must fail
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Any

LOOKUPS = ("getaddrinfo", "gethostbyname", "gethostbyname_ex")
_LOOPBACK_NAMES = ("localhost", "localhost.", "ip6-localhost", "ip6-loopback")


def _text(host: object) -> str:
    return host.decode("ascii", "replace") if isinstance(host, bytes) else str(host)


def is_loopback(host: object) -> bool:
    """Whether `host` names or writes out this machine: localhost, 127.x, ::1."""
    name = _text(host).strip("[]").lower()
    return name in _LOOPBACK_NAMES or name.endswith(".localhost") or _is_loopback_literal(name)


def _is_loopback_literal(name: str) -> bool:
    try:
        return ipaddress.ip_address(name.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def is_address_literal(host: object) -> bool:
    """An IP address written out: looking it up asks no one (connecting is guarded apart).
    The C library also reads inet_aton's old forms (`2130706433`, `0x7f.1`, `0177.0.0.1`)
    as addresses without asking DNS: the review's disguised-address tests use them."""
    text = _text(host).strip("[]").split("%", 1)[0]
    try:
        ipaddress.ip_address(text)
    except ValueError:
        try:
            socket.inet_aton(text)
        except OSError:
            return False
    return True


class NoInternet:
    """Installed on the socket module: refuses connections and lookups beyond loopback,
    and remembers each name it refused to look up (and hands it to `record`, if given)."""

    def __init__(self, record: Callable[[str], None] | None = None) -> None:
        self.refused: list[str] = []
        self._record = record

    def install(self, set_attribute: Callable[[Any, str, Any], None] = setattr) -> None:
        """With monkeypatch.setattr in a test, undone after it; with setattr in a child
        process (support/child_guard), for its whole life."""
        real_connect = socket.socket.connect

        def connect(sock: socket.socket, address: Any) -> None:
            host = address[0] if isinstance(address, tuple) else address
            if isinstance(host, str) and not (is_loopback(host) or sock.family == socket.AF_UNIX):
                raise OSError(f"test tried to reach {address!r}; tests use loopback only")
            return real_connect(sock, address)

        set_attribute(socket.socket, "connect", connect)
        for name in LOOKUPS:
            set_attribute(socket, name, self._refusing(getattr(socket, name)))

    def _refusing(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
            if host is None or is_loopback(host) or is_address_literal(host):
                return real(host, *args, **kwargs)
            name = _text(host)
            self.refused.append(name)
            if self._record is not None:
                self._record(name)
            # As an unknown name fails, so that the code's own error path runs.
            raise socket.gaierror(
                socket.EAI_NONAME, f"test tried to look up {name!r}; tests resolve loopback only"
            )

        return lookup

    def unexpected(self, expected: Iterable[str]) -> list[str]:
        """The names looked up that the test did not declare it expected refused."""
        allowed = {name.lower() for name in expected}
        return sorted({name for name in self.refused if name.lower() not in allowed})

    def never_tried(self, expected: Iterable[str]) -> list[str]:
        """The names the test declared but that were never looked up."""
        tried = {name.lower() for name in self.refused}
        return sorted({name.lower() for name in expected} - tried)
