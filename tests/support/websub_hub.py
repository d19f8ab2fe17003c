"""A loopback WebSub hub (W3C WebSub, 2018), as a blog's hub behaves:

- `POST /` with `hub.mode=subscribe`, `hub.topic`, `hub.callback`, `hub.secret`,
  `hub.lease_seconds`: answered 202, then the hub verifies the subscriber's intent
  (a GET on the callback with `hub.challenge`), in a thread of its own, as hubs do;
  the subscription is kept only if the callback echoes the challenge;
- `publish(topic)`: the topic's content is pushed to every verified subscriber, signed
  `X-Hub-Signature: ALGORITHM=HMAC(secret, body)` with the subscription's secret;
- `verify(callback, topic)`: a verification of intent the hub makes on its own (a forged
  one, for a topic the subscriber never asked for); `deliver(...)`: any delivery, signed
  or not; `down = True`: every request refused with 503.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from urllib.parse import parse_qs

import requests

from support._http import LoopbackServer, read_body, send


@dataclass
class HubSubscription:
    topic: str
    callback: str
    secret: str | None
    lease_seconds: int | None
    verified: bool = False


class WebSubHub(LoopbackServer):
    def __init__(self, algorithm: str = "sha256") -> None:
        super().__init__()
        self.algorithm = algorithm
        self.down = False
        # Every subscribe request, in order, whether verified or not.
        self.requested: list[HubSubscription] = []
        self.verified = threading.Condition(self.lock)

    @property
    def url(self) -> str:
        return self.base_url + "/"

    def dispatch(self, handler) -> None:
        self.record(handler)
        if self.down:
            send(handler, 503, b"hub down for maintenance")
            return
        form = parse_qs(read_body(handler).decode())
        field = {name: values[0] for name, values in form.items()}
        if handler.command != "POST" or field.get("hub.mode") != "subscribe":
            send(handler, 400, b"only subscriptions here")
            return
        lease = field.get("hub.lease_seconds")
        subscription = HubSubscription(
            field["hub.topic"],
            field["hub.callback"],
            field.get("hub.secret"),
            int(lease) if lease else None,
        )
        with self.lock:
            self.requested.append(subscription)
        send(handler, 202)
        threading.Thread(target=self._verify, args=(subscription,), daemon=True).start()

    def _verify(self, subscription: HubSubscription) -> None:
        if self.verify(subscription.callback, subscription.topic, subscription.lease_seconds):
            with self.verified:
                subscription.verified = True
                self.verified.notify_all()

    def verify(self, callback: str, topic: str, lease_seconds: int | None = 86400) -> bool:
        """Ask `callback` to confirm a subscription to `topic`; whether it echoed the challenge."""
        challenge = secrets.token_urlsafe(16)
        params = {"hub.mode": "subscribe", "hub.topic": topic, "hub.challenge": challenge}
        if lease_seconds is not None:
            params["hub.lease_seconds"] = str(lease_seconds)
        try:
            answer = requests.get(callback, params=params, timeout=10)
        except requests.RequestException:
            return False
        return answer.status_code == 200 and answer.text == challenge

    def wait_verified(self, count: int = 1, bound: float = 30.0) -> list[HubSubscription]:
        """The verified subscriptions, once there are `count` of them."""
        with self.verified:
            if not self.verified.wait_for(lambda: len(self.subscribers()) >= count, bound):
                raise AssertionError(f"{count} verified subscriptions expected: {self.requested}")
            return self.subscribers()

    def subscribers(self) -> list[HubSubscription]:
        with self.lock:
            return [subscription for subscription in self.requested if subscription.verified]

    def publish(self, topic: str, body: bytes) -> list[int]:
        """Push `body` to the topic's verified subscribers, signed; their answers' statuses."""
        return [
            self.deliver(subscription.callback, body, secret=subscription.secret).status_code
            for subscription in self.subscribers()
            if subscription.topic == topic
        ]

    def deliver(
        self, callback: str, body: bytes, *, secret: str | None, algorithm: str | None = None
    ) -> requests.Response:
        """One content distribution, signed with `secret` (None: unsigned)."""
        headers = {"Content-Type": "application/rss+xml"}
        if secret is not None:
            method = algorithm or self.algorithm
            digest = hmac.new(secret.encode(), body, getattr(hashlib, method)).hexdigest()
            headers["X-Hub-Signature"] = f"{method}={digest}"
        return requests.post(callback, data=body, headers=headers, timeout=10)
