"""What the Mastodon instance accepts: its character limit, URL cost and media limits."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import requests

from crossposter.mastodon.capabilities import published_api_version
from crossposter.mastodon.client import mastodon_session
from crossposter.models import InstanceLimits
from crossposter.net.bounded import CutOff
from crossposter.web import USER_AGENT, connection_problem, root_cause, unreachable

log = logging.getLogger(__name__)

# What an instance may declare, within reason: a hostile or broken one must not make
# the bot write a megabyte toot or download a gigabyte image.
MAX_CHARACTERS = 100_000
MAX_URL_COST = 1_000
MAX_IMAGE_BYTES = 100 * 1024 * 1024
MAX_DESCRIPTION = 10_000
MAX_MIME_TYPES = 200


def limits_from_documents(v2: Any = None, v1: Any = None) -> InstanceLimits:
    """Read the limits the way Mastodon and its forks publish them (MASTODON-RULES §1).

    Documents that publish none give Mastodon's defaults, as source "unpublished".
    """
    documents = [(d, s) for d, s in ((v2, "api/v2/instance"), (v1, "api/v1/instance"))]
    documents = [(d, s) for d, s in documents if isinstance(d, dict)]
    for document, source in documents:
        statuses = (document.get("configuration") or {}).get("statuses") or {}
        max_characters = _positive(statuses.get("max_characters"), MAX_CHARACTERS)
        if max_characters is None:
            max_characters = _positive(document.get("max_toot_chars"), MAX_CHARACTERS)
        if max_characters is None:
            continue
        url_cost = statuses.get("characters_reserved_per_url")
        if not isinstance(url_cost, int) or isinstance(url_cost, bool) or url_cost < 0:
            url_cost = 23  # Mastodon's own; a server that counts URLs in full says 0
        return InstanceLimits(
            max_characters=max_characters,
            characters_reserved_per_url=min(url_cost, MAX_URL_COST),
            source=source,
            version=_text(document, "version"),
            domain=_domain(document),
            api_version=published_api_version(document),
            **_media_limits(document),
        )
    if documents:
        return InstanceLimits(source="unpublished", domain=_domain(documents[0][0]))
    return InstanceLimits()


def _text(document: dict[str, Any], key: str) -> str | None:
    value = document.get(key)
    return value[:200] if isinstance(value, str) and value else None


def _domain(document: dict[str, Any]) -> str | None:
    # v2 says `domain`; v1's `uri` is the same bare domain.
    return _text(document, "domain") or _text(document, "uri")


def _media_limits(document: dict[str, Any]) -> dict[str, Any]:
    """configuration.media_attachments, where the server publishes it; else Mastodon's defaults."""
    media = (document.get("configuration") or {}).get("media_attachments") or {}
    if not isinstance(media, dict):
        return {}
    limits: dict[str, Any] = {}
    types = media.get("supported_mime_types")
    if isinstance(types, list) and all(isinstance(kind, str) for kind in types):
        limits["supported_mime_types"] = tuple(kind[:100] for kind in types[:MAX_MIME_TYPES])
    bounds = (("image_size_limit", MAX_IMAGE_BYTES), ("description_limit", MAX_DESCRIPTION))
    for key, most in bounds:
        value = _positive(media.get(key), most)
        if value is not None:
            limits[key] = value
    return limits


@dataclass(frozen=True)
class InstanceLookup:
    limits: InstanceLimits
    # Why the instance's limits are Mastodon's defaults although it was asked.
    problem: str | None = None


def fetch_limits(
    instance_url: str, timeout: float = 10.0, stop: threading.Event | None = None
) -> InstanceLimits:
    """Ask the instance; fall back to Mastodon's defaults (500/23) when it will not say.

    Once `stop` is set, the question in flight is abandoned: the defaults come back.
    """
    lookup = look_up_instance(instance_url, timeout, stop)
    if lookup.problem:
        log.info("%s; assuming Mastodon's 500 characters", lookup.problem)
    return lookup.limits


def look_up_instance(
    instance_url: str, timeout: float = 10.0, stop: threading.Event | None = None
) -> InstanceLookup:
    """The instance's limits, and what kept it from telling them when it did not.

    Each answer is read within `timeout` seconds in all and up to API_MAX_BYTES.
    """
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    documents: dict[str, Any] = {}
    problems = []
    session, adapter = mastodon_session(timeout)
    adapter.stop = stop
    with session:
        for version in ("v2", "v1"):
            url = f"{instance_url}/api/{version}/instance"
            try:
                response = session.get(url, headers=headers, timeout=timeout)
                if not response.ok:
                    problems.append(f"{url} answered HTTP {response.status_code}")
                    continue
                documents[version] = response.json()
            except (requests.RequestException, CutOff) as error:
                if stop is not None and stop.is_set():
                    return InstanceLookup(InstanceLimits(), f"{instance_url}: stopped")
                if unreachable(error):
                    # Nothing answers: the other version would not either.
                    return InstanceLookup(InstanceLimits(), connection_problem(instance_url, error))
                problems.append(f"{url}: {root_cause(error)}")
                continue
            except ValueError:
                problems.append(f"{url} is not JSON: not a Mastodon instance?")
                continue
            limits = limits_from_documents(**documents)
            if limits.source not in ("default", "unpublished"):
                return InstanceLookup(limits)
    limits = limits_from_documents(**documents)
    if limits.source == "unpublished":
        return InstanceLookup(limits)
    return InstanceLookup(limits, "; ".join(problems) or f"{instance_url}: no instance document")


def _positive(value: Any, most: int) -> int | None:
    """`value` if it is a positive integer, at most `most`; else None."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return min(value, most)
    return None
