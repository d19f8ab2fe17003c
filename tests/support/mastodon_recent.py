"""What Mastodon 4.3-4.5 added to the client API, for the loopback fake (support.mastodon_api).

The fake answers as one release, chosen with ``MastodonAPI(release=...)``:

=======  ========  ===============  ====================================================
release  version   api_versions     what it adds (Mastodon's documentation, methods/*.md)
=======  ========  ===============  ====================================================
"4.2"    4.2.10    (none)           nothing below: no PKCE, no metadata, parameters ignored
"4.3"    4.3.2     2                PKCE S256 checked, /.well-known/oauth-authorization-server
"4.4"    4.4.3     5                ``delete_media`` on DELETE /api/v1/statuses/:id,
                                    DELETE /api/v1/media/:id, ``attribution_domains[]`` in
                                    update_credentials and ``source.attribution_domains``,
                                    a ``Deprecation`` header on deprecated endpoints
"4.5"    4.5.0     7                ``quote_approval_policy`` on a new status, a
                                    ``Mastodon-Async-Refresh`` header on /context
=======  ========  ===============  ====================================================

Every release answers ``/oauth/revoke`` (Mastodon 0.1). Link cards are built for every
release: the first link of a status gets a card on GET /api/v1/statuses/:id unless the
test put that URL in ``api.cardless`` (the instance's fetcher found no OpenGraph tags).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any

# release → (version string, api_versions.mastodon): docs content/en/entities/Instance.md and
# the version history of each method ("4.4.0 (`mastodon` API version 4)").
RELEASES: dict[str, tuple[str, int | None]] = {
    "4.2": ("4.2.10", None),
    "4.3": ("4.3.2", 2),
    "4.4": ("4.4.3", 5),
    "4.5": ("4.5.0", 7),
}
QUOTE_POLICIES = ("public", "followers", "nobody")
# Loose on purpose: the tests' blog lives at 127.0.0.1.
_DOMAIN = re.compile(r"(?=.{1,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]{1,63}\Z")
# A Deprecation date as RFC 9745 writes it (a Structured Field date: @seconds).
DEPRECATED_SINCE = "@1735689600"


def s256(verifier: str) -> str:
    """RFC 7636's S256 challenge of `verifier`."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class RecentMastodon:
    """Handlers and knobs of the releases after 4.2; mixed into MastodonAPI.

    Attributes tests use: release, api_version, attribution_domains (the account's),
    cardless (URLs without a card), deleted_media (ids removed from the instance),
    deprecated (paths answered with a Deprecation header), revoked (tokens),
    ignored_params (parameters sent that the release does not know),
    pkce_checked (code exchanges whose verifier was checked), still_fetching(status_id).
    """

    def _init_release(self, release: str) -> None:
        if release not in RELEASES:
            raise ValueError(f"release must be one of {sorted(RELEASES)}")
        self.release = release
        self.api_version = RELEASES[release][1]
        self.oauth_server_metadata = self.api_version is not None
        self.attribution_domains: list[str] = []
        self.cardless: set[str] = set()
        self.deleted_media: list[str] = []
        # Statuses deleted with delete_media=true (4.4).
        self.deleted_with_media: list[str] = []
        self.deprecated: set[str] = {"/api/v1/instance"} if self.at_least(5) else set()
        self.revoked: list[str] = []
        # Parameters a client sent that this release does not know (and ignores).
        self.ignored_params: list[str] = []
        self.pkce_checked = 0
        # The code challenge of the last authorization request, for its code.
        self._challenge: str | None = None
        # status id → the async refresh /context announces for it (id, retry seconds).
        self._refreshing: dict[str, tuple[str, int]] = {}
        self._token_apps: dict[str, str] = {}

    def at_least(self, api_version: int) -> bool:
        return self.api_version is not None and self.api_version >= api_version

    def still_fetching(self, status_id: str, retry: int = 60) -> None:
        """From 4.5: /context of `status_id` says replies are still being fetched."""
        self._refreshing[status_id] = (secrets.token_urlsafe(12), retry)

    def done_fetching(self, status_id: str) -> None:
        self._refreshing.pop(status_id, None)

    def deprecation_headers(self, path: str) -> list[tuple[str, str]]:
        """RFC 9745's header, on every answer of an endpoint the release deprecates (4.4)."""
        path = path.rstrip("/") or "/"
        return [("Deprecation", DEPRECATED_SINCE)] if path in self.deprecated else []

    def refresh_headers(self, status_id: str) -> list[tuple[str, str]]:
        """4.5's header on /context while replies from other servers are being fetched."""
        if status_id not in self._refreshing or not self.at_least(7):
            return []
        refresh_id, retry = self._refreshing[status_id]
        value = f'id="{refresh_id}", retry={retry}, result_count=0'
        return [("Mastodon-Async-Refresh", value)]

    # -- OAuth (4.3: PKCE; revocation is as old as Mastodon) ---------------------------
    def pkce_refusal(self, query: dict[str, Any]) -> str | None:
        """At /oauth/authorize: remember the challenge; why it is refused, or None."""
        challenge = query.get("code_challenge")
        self._challenge = None
        if challenge is None or self.api_version is None:
            return None  # 4.2 knows no PKCE: the parameters are ignored
        if query.get("code_challenge_method") != "S256":
            return "invalid_request: code_challenge_method must be S256"
        self._challenge = challenge
        return None

    def pkce_holds(self, form: dict[str, Any]) -> bool:
        """At /oauth/token: the verifier matches the challenge the code was asked with."""
        if self._challenge is None:
            return True
        verifier = form.get("code_verifier") or ""
        self.pkce_checked += 1
        return s256(verifier) == self._challenge

    def remember_token_app(self, token: str, client_id: str) -> None:
        self._token_apps[token] = client_id

    def _h_revoke(self, req) -> Any:
        from .mastodon_api import _error, _Response

        form = req.form
        app = self.apps.get(form.get("client_id") or "")
        if app is None or form.get("client_secret") != app["client_secret"]:
            return _error(403, "unauthorized_client")
        token = form.get("token")
        if self._token_apps.get(token, app["client_id"]) != app["client_id"]:
            return _error(403, "unauthorized_client")
        with self.lock:
            if token in self.valid_tokens:
                self.revoked.append(token)
            self.valid_tokens.discard(token)
            self.token_scopes.pop(token, None)
        return _Response(200, {})

    # -- media (4.4) ---------------------------------------------------------------------
    def _h_delete_media(self, req, id: str) -> Any:
        from .mastodon_api import _error, _Response

        if not self.at_least(4):
            return _error(404)
        denied = self._auth(req, "write:media")
        if denied:
            return denied
        with self.lock:
            media = self.media.get(id)
            if media is None:
                return _error(404)
            if media.get("_status_id"):
                return _error(422, "Media attachment is currently used by a status")
            del self.media[id]
            self.deleted_media.append(id)
        return _Response(200, {})

    def drop_status_media(self, status: dict[str, Any], req) -> None:
        """DELETE /api/v1/statuses/:id?delete_media=true (4.4): its media go at once."""
        from .mastodon_api import _truthy

        asked = req.query.get("delete_media", req.form.get("delete_media"))
        if asked is not None and not self.at_least(4):
            self.ignored_params.append("delete_media")
        if not (self.at_least(4) and _truthy(asked)):
            return
        self.deleted_with_media.append(status["id"])
        for media_id in status["media_ids"]:
            if self.media.pop(media_id, None) is not None:
                self.deleted_media.append(media_id)

    # -- statuses (4.5) ------------------------------------------------------------------
    def quote_policy_refusal(self, form: dict[str, Any]) -> str | None:
        policy = form.get("quote_approval_policy")
        if policy is None or not self.at_least(7):
            return None
        if policy not in QUOTE_POLICIES:
            return "Validation failed: Quote approval policy is not included in the list"
        return None

    def quote_json(self, status: dict[str, Any]) -> dict[str, Any]:
        """What 4.5 shows of a status's quote policy; nothing before."""
        if not self.at_least(7):
            return {}
        policy = status.get("quote_approval_policy") or "public"
        automatic = {"public": ["public"], "followers": ["followers"], "nobody": []}[policy]
        return {"quote_approval": {"automatic": automatic, "manual": [], "current_user": "denied"}}

    def card_json(self, status: dict[str, Any]) -> dict[str, Any] | None:
        """The card the instance built for the status's first link, once it had the time."""
        match = re.search(r"https?://[^\s<>\"']+", status.get("text") or "")
        if match is None:
            return None
        url = match.group(0).rstrip(".,!?:;")
        if url in self.cardless:
            return None
        return {
            "url": url,
            "title": "An article",
            "description": "",
            "type": "link",
            "authors": [],
            "author_name": "",
            "author_url": "",
            "provider_name": "",
            "provider_url": "",
            "html": "",
            "width": 0,
            "height": 0,
            "image": None,
            "embed_url": "",
            "blurhash": None,
        }

    # -- accounts (4.4: attribution domains) ---------------------------------------------
    def credential_source(self) -> dict[str, Any]:
        return {"attribution_domains": list(self.attribution_domains)} if self.at_least(3) else {}

    def _h_update_credentials(self, req) -> Any:
        from .mastodon_api import _error, _Response

        denied = self._auth(req, "write:accounts", "write")
        if denied:
            return denied
        domains = req.form.get("attribution_domains")
        if domains is not None and self.at_least(3):
            domains = [d.strip().lower() for d in domains if d.strip()]
            if len(domains) > 10:
                return _error(422, "Validation failed: Attribution domains too many (maximum 10)")
            bad = [d for d in domains if not _DOMAIN.match(d)]
            if bad:
                return _error(422, f"Validation failed: Attribution domains {bad[0]} is invalid")
            with self.lock:
                self.attribution_domains = domains
        with self.lock:
            return _Response(200, self.account_json(credentials=True))
