"""A blog that publishes and then says so, as Ghost, WordPress or a deploy job would:
its feed changes on the loopback FeedServer, then it calls crossposter's webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import requests

from support.blog import article, feed_of


def ghost_signature(body: bytes, secret: str, at_ms: int) -> str:
    """X-Ghost-Signature as Ghost's webhook-trigger.js writes it:
    `sha256=${createHmac('sha256', secret).update(`${reqPayload}${ts}`).digest('hex')}, t=${ts}`
    """
    payload = body.decode("utf-8") + str(at_ms)
    digest = hmac.new(secret.encode(), payload.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"sha256={digest}, t={at_ms}"


def ghost_payload(n: int) -> bytes:
    """What Ghost sends on post.published: the whole post (here, a small one)."""
    post = article(n)
    return json.dumps(
        {"post": {"current": {"title": post["title"], "url": post["link"], "html": "<p>…</p>"}}}
    ).encode()


class PublishingBlog:
    """A blog's feed at `path`; with a `hub` (support.websub_hub), the feed advertises it in
    its Link header, and `push()` has it deliver the feed to its subscribers."""

    def __init__(self, feeds, path: str = "/feed", *, hub=None) -> None:
        self.feeds = feeds
        self.path = path
        self.hub = hub
        self.topic = feeds.url(path)
        self.articles = [1]
        self._serve()

    def publish(self, n: int) -> None:
        self.articles.append(n)
        self._serve()

    def push(self) -> list[int]:
        """The hub delivers the feed as it is now: each subscriber's answer."""
        return self.hub.publish(self.topic, self.document().encode())

    def document(self) -> str:
        return feed_of(*self.articles)

    def polls(self) -> int:
        """How often the feed was fetched."""
        return self.feeds.count("GET", self.path)

    def _serve(self) -> None:
        headers = []
        if self.hub is not None:
            headers = [("Link", f'<{self.hub.url}>; rel="hub", <{self.topic}>; rel="self"')]
        self.feeds.set_feed(self.path, self.document(), headers=headers)


def call_with_bearer(url: str, secret: str) -> requests.Response:
    """A deploy job's `curl -X POST -H 'Authorization: Bearer …' URL`."""
    return requests.post(url, headers={"Authorization": f"Bearer {secret}"}, timeout=10)


def call_as_ghost(url: str, secret: str, n: int, *, at_ms: int | None = None) -> requests.Response:
    """Ghost's post.published webhook for article n, signed at `at_ms` (default: now)."""
    body = ghost_payload(n)
    stamp = int(time.time() * 1000) if at_ms is None else at_ms
    headers = {
        "Content-Type": "application/json",
        "X-Ghost-Signature": ghost_signature(body, secret, stamp),
    }
    return requests.post(url, data=body, headers=headers, timeout=10)
