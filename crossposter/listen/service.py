"""The listener of one `run --loop`: its server, and what the loop tells it after each pass."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from crossposter.accounts import feed_accounts
from crossposter.config import WEBHOOK_SECRET_VARIABLE, Settings
from crossposter.errors import ConfigError, StateError
from crossposter.listen.app import ListenerApp, Listening
from crossposter.listen.metrics import LoopMetrics
from crossposter.listen.probes import LoopProbes
from crossposter.listen.server import HttpServer
from crossposter.listen.subscriber import WebSubSubscriber
from crossposter.poll_requests import PollRequests
from crossposter.signals import GRACE_SECONDS, StopRequest
from crossposter.state import now_utc
from crossposter.storage import open_read_only

log = logging.getLogger(__name__)


class Listener:
    """Probes, metrics and polls on request for the loop that `settings()` configures."""

    def __init__(
        self,
        address: tuple[str, int],
        settings: Callable[[], Settings],
        *,
        interval: float,
        wake: Callable[[], None],
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self._settings = settings
        self.poll_requests = PollRequests(wake)
        self.probes = LoopProbes(interval, self._open_state)
        self.metrics = LoopMetrics(lambda: [feed.name for feed in settings().enabled_feeds])
        self.websub = WebSubSubscriber(settings, clock)
        # Read once: a secret that changes needs a restart, as the token does.
        self._secret = webhook_secret(settings())
        listening = Listening(
            probes=self.probes,
            metrics=self.metrics,
            poll_requests=self.poll_requests,
            feeds=lambda: (feed.name for feed in settings().enabled_feeds),
            secret=self._secret,
            subscription=self.websub.subscription,
            lease_granted=self.websub.lease_granted,
        )
        self.server = HttpServer(address, ListenerApp(listening))
        self._stopped = threading.Lock()

    def start(self) -> None:
        """Listen (OSError when the address is in use)."""
        self.server.start()
        host, port = self.server.address
        endpoints = "probes and metrics"
        if self._secret is not None:
            endpoints += ", POST /feeds/NAME/poll"
        if self.websub.enabled:
            endpoints += ", WebSub callbacks"
        log.info("listening on %s:%d: %s", host, port, endpoints)

    def stop(self, timeout: float) -> None:
        """Stop serving, once, giving requests in flight up to `timeout` seconds."""
        if self._stopped.acquire(blocking=False):
            self.server.stop(timeout)

    @contextlib.contextmanager
    def serving_until(self, stop: StopRequest) -> Iterator[None]:
        """Within the block, stop serving as soon as `stop` is requested, within the same
        grace as the loop; leaving it stops serving in any case."""

        def stop_when_asked() -> None:
            stop.wait()
            elapsed = time.monotonic() - (stop.requested_at or time.monotonic())
            # Every answer is immediate: a request still in flight after a second is a
            # stalled client, and must not eat the grace a post in flight may need.
            self.stop(max(0.1, min(1.0, GRACE_SECONDS - elapsed - 1)))

        watcher = threading.Thread(target=stop_when_asked, name="listener-stop", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            if not stop.is_set():
                stop.request("the loop ended")
            watcher.join(GRACE_SECONDS)

    def pass_ended(self, exit_code: int, seconds: float) -> None:
        self.probes.pass_ended()
        self.metrics.pass_ended(exit_code, seconds)

    def pass_done(self, report, asked: set[str]) -> None:
        """A pass ended with `report` (a RunReport; None when it failed before making one);
        `asked` were the feeds it was asked to poll on request."""
        polled = {feed.name for feed in report.feeds if feed.poll_outcome} if report else set()
        for feed in sorted(asked - polled):
            # Another replica was working on it, or a stop or a failure came first: asked
            # again, so a publish its poll may have missed is not left to the interval.
            self.poll_requests.request(feed)
        if report is None:
            return
        accounts = feed_accounts(self._settings())
        self.metrics.observe(
            report, lambda feed: accounts[feed].name if feed in accounts else "unknown"
        )
        try:
            self.websub.after_pass(report)
        except StateError as error:
            log.warning("WebSub subscriptions not kept up this pass: %s", error)

    def _open_state(self) -> None:
        with open_read_only(self._settings()):
            pass


def webhook_secret(settings: Settings) -> bytes | None:
    """CROSSPOSTER_WEBHOOK_SECRET, else the content of webhook_secret_file; None if neither."""
    if settings.webhook_secret is not None:
        secret = settings.webhook_secret.get_secret_value().strip()
        where = WEBHOOK_SECRET_VARIABLE
    elif settings.webhook_secret_file is not None:
        secret = _read_secret_file(settings.webhook_secret_file)
        where = f"webhook_secret_file {settings.webhook_secret_file}"
    else:
        return None
    if not secret or len(secret.split()) != 1:
        raise ConfigError(f"{where}: must hold the webhook secret alone, on one line")
    return secret.encode("utf-8")


def _read_secret_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ConfigError(
            f"webhook_secret_file {path}: cannot read the secret: {error.strerror}"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"webhook_secret_file {path}: not a text file") from None
