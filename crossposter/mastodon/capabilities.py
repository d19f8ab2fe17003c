"""What a Mastodon server supports, decided from its API version in this one place.

Mastodon 4.3 added `api_versions.mastodon` to GET /api/v2/instance: an integer that
grows with the API, the documented way to tell features apart (docs
content/en/entities/Instance.md, "api_versions[mastodon]"; forks report their own
version strings, "4.4.0+glitch"). A server that does not publish it is judged by its
version string: Mastodon 4.3 published 2, 4.4 published 5, 4.5 published 7 (the version
history of each method in the documentation, e.g. "4.4.0 (`mastodon` API version 4)").
Anything else, a fork or an older release, has none of the features below.
Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from crossposter.models import InstanceLimits

# Docs content/en/methods/accounts.md, update_credentials: "4.4.0 (API version 3) - added
# `attribution_domains` parameter"; entities/Account.md, source[attribution_domains], the same.
ATTRIBUTION_DOMAINS = 3
# Docs methods/statuses.md, DELETE /api/v1/statuses/:id: "4.4.0 (API version 4) - added
# `delete_media`"; methods/media.md, DELETE /api/v1/media/:id: "4.4.0 (API version 4) - added".
DELETE_MEDIA = 4
# Docs methods/statuses.md, POST /api/v1/statuses: "4.5.0 (API version 7) - `quoted_status_id`
# and `quote_approval_policy` added".
QUOTE_APPROVAL_POLICY = 7

# The api_versions.mastodon each release published, for servers that do not say it.
_BY_RELEASE = {(4, 3): 2, (4, 4): 5, (4, 5): 7, (4, 6): 10}
_RELEASE = re.compile(r"\s*(\d+)\.(\d+)")
# Far beyond any real value: a hostile number must not overflow a comparison or a log line.
_MOST = 10_000


def published_api_version(document: Any) -> int | None:
    """`api_versions.mastodon` of an instance document, when it is a sane integer."""
    versions = document.get("api_versions") if isinstance(document, dict) else None
    given = versions.get("mastodon") if isinstance(versions, dict) else None
    if isinstance(given, int) and not isinstance(given, bool) and given >= 0:
        return min(given, _MOST)
    return None


def api_version(published: int | None = None, version: str | None = None) -> int:
    """The API version the instance published, else what its version string implies.

    0 when neither says anything: a server before 4.3, or not Mastodon.
    """
    if published is not None:
        return published
    match = _RELEASE.match(version or "")
    if match is None:
        return 0
    release = (int(match.group(1)), int(match.group(2)))
    if release > max(_BY_RELEASE):
        return _BY_RELEASE[max(_BY_RELEASE)]
    return _BY_RELEASE.get(release, 0)


@dataclass(frozen=True)
class Capabilities:
    """Every version-dependent choice crossposter makes, from one number."""

    api_version: int = 0

    @property
    def delete_media(self) -> bool:
        """DELETE /api/v1/statuses/:id takes `delete_media=true`, and DELETE /api/v1/media/:id
        removes an upload no status uses."""
        return self.api_version >= DELETE_MEDIA

    @property
    def quote_approval_policy(self) -> bool:
        """POST /api/v1/statuses takes `quote_approval_policy`."""
        return self.api_version >= QUOTE_APPROVAL_POLICY

    @property
    def attribution_domains(self) -> bool:
        """The account's `source.attribution_domains` can be read and set through the API."""
        return self.api_version >= ATTRIBUTION_DOMAINS

    @classmethod
    def of(cls, limits: InstanceLimits) -> Capabilities:
        return cls(api_version(limits.api_version, limits.version))

    def describe(self) -> str:
        return f"API version {self.api_version}" if self.api_version else "no API version"
