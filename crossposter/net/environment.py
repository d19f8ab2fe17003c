"""A requests session that reads the environment's proxies once, not per request.

requests asks the environment for proxies on every request it sends (two scans
of every variable, ~0.3 ms with a few dozen of them): over a thousand feeds,
that is most of the CPU a `304` costs. A session lives for one pass, whose
environment does not change; when it names no proxy (the usual case), there
is nothing to look for again. With a proxy set, requests' own lookup stays, as
it also applies NO_PROXY per host.
"""

from __future__ import annotations

import os
import sys
from typing import Any
from urllib.request import getproxies

import requests


class ProxiesReadOnce(requests.Session):
    def __init__(self) -> None:
        super().__init__()
        self.proxies_in_environment = _names_a_proxy()

    def merge_environment_settings(
        self, url: str, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        if not self.trust_env or self.proxies_in_environment:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        # What else requests takes from the environment: the CA bundle.
        if verify is True or verify is None:
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            verify = bundle or verify
        self.trust_env = False
        try:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        finally:
            self.trust_env = True


def _names_a_proxy() -> bool:
    if sys.platform in ("darwin", "win32"):  # the system's settings count there too
        return bool(getproxies())
    # What getproxies() reads here, looked at 5x faster: a session is made per fetch thread.
    return any(name[-6:].lower() == "_proxy" for name in os.environ)
