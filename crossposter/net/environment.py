"""What the environment says of proxies and CA bundles, read as requests reads it.

requests asks the environment for proxies on every request it sends (two scans
of every variable, ~0.3 ms with a few dozen of them). A pass's environment does
not change: when it names no proxy (the usual case), there is nothing to look for
again (net.session for requests, net.following for feeds). With a proxy set,
requests' own lookup stays, as it also applies NO_PROXY per host.
"""

from __future__ import annotations

import os
import sys


def ca_bundle_named() -> str | None:
    """The CA bundle the environment names, as requests reads it."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None


def names_a_proxy() -> bool:
    if sys.platform in ("darwin", "win32"):  # the system's settings count there too
        from urllib.request import getproxies

        return bool(getproxies())
    # What getproxies() reads here, looked at 5x faster.
    return any(name[-6:].lower() == "_proxy" for name in os.environ)
