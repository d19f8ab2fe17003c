"""The listener's answers, as a WSGI application: probes, metrics, polls on request and
WebSub's callbacks.

Nothing a request carries is trusted, nor echoed but the challenge WebSub's verification
must get back: its path and headers reach the log only through crossposter.logsafe's
formatter, its body only an HMAC.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from urllib.parse import parse_qs, unquote

from prometheus_client import CONTENT_TYPE_LATEST

from crossposter.errors import StateError
from crossposter.listen.metrics import LoopMetrics
from crossposter.listen.probes import LoopProbes
from crossposter.listen.server import MAX_BODY_BYTES
from crossposter.listen.signatures import (
    bearer_matches,
    ghost_signature_valid,
    hub_signature_valid,
)
from crossposter.listen.websub import CALLBACK_PATH, verified_lease
from crossposter.models import WebSubSubscription
from crossposter.poll_requests import PollRequests

log = logging.getLogger(__name__)

_POLL = re.compile(r"^/feeds/([^/]+)/poll$")
_WEBSUB = re.compile(r"^" + CALLBACK_PATH + r"([A-Za-z0-9_-]{16,64})$")

Answer = tuple[HTTPStatus, str, bytes]


class BodyTooLarge(Exception):
    """The request's body is over MAX_BODY_BYTES."""


@dataclass
class Listening:
    """What the answers read: the loop's probes and metrics, the feeds and the secret."""

    probes: LoopProbes
    metrics: LoopMetrics
    poll_requests: PollRequests
    # The names of the enabled feeds, as the configuration says now (it may be reloaded).
    feeds: Callable[[], Iterable[str]]
    # The webhook secret; None: `POST /feeds/NAME/poll` does not exist.
    secret: bytes | None
    # The WebSub subscription whose callback ends so; None: /websub/ does not exist.
    subscription: Callable[[str], WebSubSubscription | None] | None = None
    # Told of each lease a hub's verification granted: (callback id, its end).
    lease_granted: Callable[[str, datetime], None] = lambda callback_id, until: None
    wall_clock: Callable[[], float] = time.time


class ListenerApp:
    def __init__(self, listening: Listening) -> None:
        self.listening = listening

    def __call__(self, environ: dict, start_response: Callable) -> list[bytes]:
        try:
            status, content_type, body = self.answer(environ)
        except BodyTooLarge:
            status, content_type, body = _text(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        except StateError as error:
            # A hub's call needs the state: it retries later, the loop goes on meanwhile.
            log.warning("listener: cannot answer, the state is out of reach: %s", error)
            status, content_type, body = _text(HTTPStatus.SERVICE_UNAVAILABLE)
        start_response(
            f"{status.value} {status.phrase}",
            [("Content-Type", content_type), ("Content-Length", str(len(body)))],
        )
        return [body]

    def answer(self, environ: dict) -> Answer:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        if path in ("/healthz", "/readyz", "/metrics"):
            if method not in ("GET", "HEAD"):
                return _text(HTTPStatus.METHOD_NOT_ALLOWED)
            return self._get(path)
        websub = _WEBSUB.match(path) if self.listening.subscription else None
        if websub:
            if method == "GET":
                return self._verify_intent(websub.group(1), environ)
            if method == "POST":
                return self._delivery(websub.group(1), environ)
            return _text(HTTPStatus.METHOD_NOT_ALLOWED)
        poll = _POLL.match(path)
        if poll and self.listening.secret is not None:
            if method != "POST":
                return _text(HTTPStatus.METHOD_NOT_ALLOWED)
            return self._poll(unquote(poll.group(1)), environ)
        return _text(HTTPStatus.NOT_FOUND)

    def _get(self, path: str) -> Answer:
        listening = self.listening
        if path == "/metrics":
            return HTTPStatus.OK, CONTENT_TYPE_LATEST, listening.metrics.exposition()
        verdict = listening.probes.alive() if path == "/healthz" else listening.probes.ready()
        status = HTTPStatus.OK if verdict.ok else HTTPStatus.SERVICE_UNAVAILABLE
        return _text(status, verdict.message)

    def _poll(self, feed: str, environ: dict) -> Answer:
        body = read_body(environ)
        secret = self.listening.secret
        if secret is None or not self._authentic(environ, body, secret):
            log.warning("POST /feeds/%s/poll refused: no valid secret or signature", feed)
            return _text(HTTPStatus.UNAUTHORIZED)
        if feed not in set(self.listening.feeds()):
            return _text(HTTPStatus.NOT_FOUND, "no enabled feed has that name")
        self.listening.poll_requests.request(feed)
        log.info("feed %s: poll asked for over HTTP", feed)
        return _text(HTTPStatus.ACCEPTED)

    def _verify_intent(self, callback_id: str, environ: dict) -> Answer:
        """A hub asks whether we want the subscription: yes only for one we asked for."""
        query = {
            name: values[0] for name, values in parse_qs(environ.get("QUERY_STRING", "")).items()
        }
        subscription = self.listening.subscription(callback_id)
        now = datetime.fromtimestamp(self.listening.wall_clock(), UTC)
        until = verified_lease(query, subscription, now)
        if subscription is None or until is None:
            log.warning("WebSub: refused a verification of intent for a subscription not asked for")
            return _text(HTTPStatus.NOT_FOUND)
        self.listening.lease_granted(callback_id, until)
        log.info("feed %s: WebSub subscription at %s verified", subscription.feed, subscription.hub)
        return HTTPStatus.OK, "text/plain; charset=utf-8", query["hub.challenge"].encode()

    def _delivery(self, callback_id: str, environ: dict) -> Answer:
        """A hub pushes the feed's new content: with a valid signature, the feed is due."""
        body = read_body(environ)
        subscription = self.listening.subscription(callback_id)
        if subscription is None:
            return _text(HTTPStatus.NOT_FOUND)
        signature = environ.get("HTTP_X_HUB_SIGNATURE")
        if not hub_signature_valid(signature, body, subscription.secret.encode()):
            log.warning(
                "feed %s: WebSub delivery refused: no valid X-Hub-Signature", subscription.feed
            )
            return _text(HTTPStatus.UNAUTHORIZED)
        if subscription.feed not in set(self.listening.feeds()):
            return _text(HTTPStatus.NOT_FOUND)
        self.listening.poll_requests.request(subscription.feed)
        log.info("feed %s: poll asked for by its WebSub hub", subscription.feed)
        return _text(HTTPStatus.ACCEPTED)

    def _authentic(self, environ: dict, body: bytes, secret: bytes) -> bool:
        ghost = environ.get("HTTP_X_GHOST_SIGNATURE")
        if ghost is not None:
            return ghost_signature_valid(ghost, body, secret, now=self.listening.wall_clock())
        return bearer_matches(environ.get("HTTP_AUTHORIZATION"), secret)


def read_body(environ: dict) -> bytes:
    """The request's body, or BodyTooLarge past MAX_BODY_BYTES, declared or sent."""
    try:
        declared = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        raise BodyTooLarge
    body = environ["wsgi.input"].read(declared if declared else MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooLarge
    return body


def _text(status: HTTPStatus, message: str | None = None) -> Answer:
    return status, "text/plain; charset=utf-8", f"{message or status.phrase}\n".encode()
