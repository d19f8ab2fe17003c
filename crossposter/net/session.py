"""The session every request crossposter makes starts from: never ~/.netrc.

requests' `trust_env` means two things at once: the environment's proxies and CA bundle
(HTTP(S)_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE), which the configured feeds and the instance
should go through as any other client's requests do, and the credentials of ~/.netrc,
which it adds to any request without its own (a Mastodon token included, which it would
replace) and to every redirect. Only the first is wanted.
"""

from __future__ import annotations

from typing import Any

import requests

from crossposter.net.environment import ca_bundle_named, names_a_proxy


class ProxiesReadOnce(requests.Session):
    """Reads the environment's proxies once, not per request (net.environment)."""

    def __init__(self) -> None:
        super().__init__()
        self.proxies_in_environment = names_a_proxy()

    def merge_environment_settings(
        self, url: str, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        if not self.trust_env or self.proxies_in_environment:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        # What else requests takes from the environment: the CA bundle.
        if verify is True or verify is None:
            verify = ca_bundle_named() or verify
        self.trust_env = False
        try:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        finally:
            self.trust_env = True


def _no_credentials(request: requests.PreparedRequest) -> requests.PreparedRequest:
    return request


class NoNetrcSession(ProxiesReadOnce):
    """A session that takes proxies from the environment, and never credentials."""

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        # Any auth given stops requests from looking for one in ~/.netrc.
        if request.auth is None and self.auth is None:
            request.auth = _no_credentials
        return super().prepare_request(request)

    def rebuild_auth(self, prepared_request: Any, response: requests.Response) -> None:
        """On a redirect: requests' own rule (no Authorization to another host), without
        its look into ~/.netrc for the new one."""
        headers = prepared_request.headers
        if "Authorization" in headers and self.should_strip_auth(
            response.request.url, prepared_request.url
        ):
            del headers["Authorization"]
