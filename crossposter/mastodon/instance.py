"""What the Mastodon instance accepts: its character limit, URL cost and media limits."""

from __future__ import annotations

import logging
from typing import Any

import requests

from crossposter.models import InstanceLimits
from crossposter.net.bounded import api_session
from crossposter.web import USER_AGENT

log = logging.getLogger(__name__)

# What an instance may declare, within reason: a hostile or broken one must not make
# the bot write a megabyte toot or download a gigabyte image.
MAX_CHARACTERS = 100_000
MAX_URL_COST = 1_000
MAX_IMAGE_BYTES = 100 * 1024 * 1024
MAX_DESCRIPTION = 10_000
MAX_MIME_TYPES = 200


def limits_from_documents(v2: Any = None, v1: Any = None) -> InstanceLimits:
    """Read the limits the way Mastodon and its forks publish them (MASTODON-RULES §1)."""
    for document, source in ((v2, "api/v2/instance"), (v1, "api/v1/instance")):
        if not isinstance(document, dict):
            continue
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
            version=document["version"] if isinstance(document.get("version"), str) else None,
            **_media_limits(document),
        )
    return InstanceLimits()


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


def fetch_limits(instance_url: str, timeout: float = 10.0) -> InstanceLimits:
    """Ask the instance; fall back to Mastodon's defaults (500/23) when it will not say.

    Each answer is read within `timeout` seconds in all and up to API_MAX_BYTES.
    """
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    documents = {}
    session, _ = api_session(timeout)
    with session:
        for version in ("v2", "v1"):
            try:
                response = session.get(
                    f"{instance_url}/api/{version}/instance", headers=headers, timeout=timeout
                )
                if response.ok:
                    documents[version] = response.json()
                    limits = limits_from_documents(**documents)
                    if limits.source != "default":
                        return limits
            except (requests.RequestException, ValueError) as error:
                log.debug("instance %s: %s lookup failed: %s", instance_url, version, error)
    log.info("instance %s: limits unknown, assuming Mastodon's 500 characters", instance_url)
    return InstanceLimits()


def _positive(value: Any, most: int) -> int | None:
    """`value` if it is a positive integer, at most `most`; else None."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return min(value, most)
    return None
