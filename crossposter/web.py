"""What every HTTP request crossposter makes shares: who it says it is, and how a
failed connection is told to a person."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

from crossposter import distribution

# Feeds, images, the instance: every server sees the same name, with where to read about it
# (the distribution's own page: blog owners read it in their access logs).
USER_AGENT = f"crossposter/{distribution.version()}" + (
    f" (+{distribution.homepage()})" if distribution.homepage() else ""
)

def with_scheme(address: str) -> str:
    """`mastodon.social` means https://mastodon.social; an address with a scheme stays as is.

    A bare loopback host (`127.0.0.1:8080`, `localhost`) means plain http: nothing on
    this machine serves TLS for a test instance, and the token never leaves it.
    """
    address = address.strip()
    if "://" in address or not address:
        return address
    host = urlsplit(f"//{address}").hostname or ""
    return f"{'http' if is_loopback_host(host) else 'https'}://{address}"


def is_loopback_host(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


WEB_SCHEMES = ("http", "https")


def is_web_url(url: Any) -> bool:
    """Whether `url` is an absolute http(s) URL: what a link, a feed's base or a reply's
    address must be (not javascript:, data:, a relative path)."""
    if not url or not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[broken" is no address at all
        return False
    return parts.scheme.lower() in WEB_SCHEMES and bool(parts.netloc)


# Whose errors only wrap another one.
_WRAPPERS = {"mastodon", "requests", "urllib3"}
_CONNECTION_REPR = re.compile(r"^<?\w*Connection(?:Pool)?\b[^:]*: ")


def innermost(error: BaseException) -> BaseException:
    """The error at the bottom of requests' and urllib3's wrapping: the socket's, usually.

    Each layer keeps the one below as `reason`, as an argument, or as the error it
    was raised from (Mastodon.py keeps nothing but the context). Only the libraries'
    wrappers are looked through: an error of ours already says what happened.
    """
    for _ in range(8):
        inner = getattr(error, "reason", None)
        if not isinstance(inner, BaseException):
            inner = next(
                (arg for arg in reversed(error.args) if isinstance(arg, BaseException)), None
            )
        if inner is None and type(error).__module__.split(".")[0] in _WRAPPERS:
            inner = error.__cause__ or error.__context__
        if inner is None:
            break
        error = inner
    return error


def unreachable(error: BaseException) -> bool:
    """Whether nothing answers at all (refused, no such host): waiting seconds will not help."""
    return isinstance(innermost(error), ConnectionRefusedError | socket.gaierror)


def root_cause(error: BaseException) -> str:
    """What went wrong, in words a person reads in a cron mail: "connection refused".

    requests wraps urllib3's errors, which wrap the socket's: the innermost one
    says what happened; urllib3's messages start with a connection repr that
    says nothing new.
    """
    error = innermost(error)
    if isinstance(error, socket.gaierror):
        return "no such host"
    if isinstance(error, OSError) and error.errno and not isinstance(error, ssl.SSLError):
        # By its errno: asyncio words its own ("Connect call failed ('10.0.0.1', 443)").
        words = os.strerror(error.errno)
        return words[:1].lower() + words[1:]
    if isinstance(error, OSError) and error.strerror:
        return error.strerror[:1].lower() + error.strerror[1:]
    text = str(error.args[0]) if error.args and isinstance(error.args[0], str) else str(error)
    return _CONNECTION_REPR.sub("", text)[:200] or type(error).__name__


def connection_problem(url: str, error: BaseException) -> str:
    """ "cannot connect to https://example.social: connection refused", or, once connected,
    "no answer from https://example.social: connection reset by peer"."""
    if unreachable(error):
        return f"cannot connect to {url}: {root_cause(error)}"
    return f"no answer from {url}: {root_cause(error)}"
