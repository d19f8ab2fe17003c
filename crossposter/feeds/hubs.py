"""WebSub discovery: the hub a feed advertises, and the topic to subscribe to there.

The HTTP `Link` header comes first, then the document's own links (<link rel="hub">
in Atom, <atom:link rel="hub"> in RSS), as the WebSub recommendation (W3C, 2018,
section 4) orders them. A feed that names no `self` is not a WebSub topic.
"""

from __future__ import annotations

from urllib.parse import urljoin

from crossposter.models import FeedInfo, Hub


def advertised_hub(info: FeedInfo, headers: dict[str, str], url: str) -> Hub | None:
    """The hub and topic a feed fetched from `url` advertises; None when it names none."""
    linked = _header_links(headers, url)
    hub = linked.get("hub") or info.hub
    topic = linked.get("self") or info.self_url
    if not hub or not topic:
        return None
    return Hub(hub, topic)


def _header_links(headers: dict[str, str], url: str) -> dict[str, str]:
    """rel → the first web address of that rel in the Link headers, made absolute."""
    value = next((v for k, v in headers.items() if k.lower() == "link"), "")
    found: dict[str, str] = {}
    if not value:
        return found
    from requests.utils import parse_header_links  # requests' parser; loaded only then

    for link in parse_header_links(value):
        target = urljoin(url, link.get("url", "").strip())
        if not target.startswith(("https://", "http://")):
            continue
        for rel in link.get("rel", "").split():
            found.setdefault(rel.lower(), target)
    return found
