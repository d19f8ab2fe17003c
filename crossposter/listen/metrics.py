"""`/metrics`: what the loop's passes did, in Prometheus' text format (prometheus-client).

Every label is the configuration's (a feed's or an account's name) or ours (an exit
code, an outcome): nothing a feed says (a URL, a title) becomes a label, so a feed
cannot make the series multiply or carry its text into the monitoring.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from crossposter import __version__
from crossposter.exit_codes import EXIT_OK

# Passes last from a fraction of a second (all 304s) to minutes (a backlog, a rate limit).
PASS_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
TOOT_ACTIONS = ("posted", "edited", "deleted", "refused")


class LoopMetrics:
    """The metrics of one `run --loop`, in a registry of their own."""

    def __init__(
        self,
        enabled_feeds: Callable[[], list[str]],
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = CollectorRegistry()
        self._wall_clock = wall_clock
        registry = self.registry
        self.passes = Counter(
            "crossposter_passes",
            "Passes of the loop, by exit code.",
            ["exit_code"],
            registry=registry,
        )
        self.pass_duration = Histogram(
            "crossposter_pass_duration_seconds",
            "How long each pass took.",
            buckets=PASS_BUCKETS,
            registry=registry,
        )
        self.feed_polls = Counter(
            "crossposter_feed_polls",
            "Feeds fetched, by feed and outcome (not_modified, changed, failed).",
            ["feed", "outcome"],
            registry=registry,
        )
        self.toots = Counter(
            "crossposter_toots",
            "Toots by account and action (posted, edited, deleted, refused).",
            ["account", "action"],
            registry=registry,
        )
        self.pending = Gauge(
            "crossposter_pending_entries",
            "New entries not announced yet: waiting for a later pass.",
            registry=registry,
        )
        self.rate_limited = Counter(
            "crossposter_rate_limited",
            "Passes in which the instance rate-limited an account.",
            ["account"],
            registry=registry,
        )
        self.last_success = Gauge(
            "crossposter_last_success_timestamp_seconds",
            "When the last pass that exited 0 ended (seconds since the epoch).",
            registry=registry,
        )
        build = Gauge(
            "crossposter_build_info",
            "The running crossposter's version.",
            ["version"],
            registry=registry,
        )
        build.labels(__version__).set(1)
        self._failing = _FailingFeeds(enabled_feeds, wall_clock)
        registry.register(self._failing)
        self._lock = threading.Lock()
        # Feed name → its entries waiting after its last pass: feeds not due keep theirs.
        self._waiting: dict[str, int] = {}

    def pass_ended(self, exit_code: int, seconds: float) -> None:
        self.passes.labels(str(exit_code)).inc()
        self.pass_duration.observe(seconds)
        if exit_code == EXIT_OK:
            self.last_success.set(self._wall_clock())

    def observe(self, report, account_of: Callable[[str], str]) -> None:
        """Count what a pass's report (crossposter.pipeline.RunReport) says it did;
        `account_of` names a feed's account."""
        for feed in report.feeds:
            if feed.poll_outcome is None:
                continue  # not fetched: the pass stopped before it
            self.feed_polls.labels(feed.name, feed.poll_outcome).inc()
            self._failing.polled(feed.name, failed=feed.poll_outcome == "failed")
            account = account_of(feed.name)
            for action in TOOT_ACTIONS:
                count = getattr(feed, action)
                if count:
                    self.toots.labels(account, action).inc(count)
            with self._lock:
                self._waiting[feed.name] = feed.deferred
        for account in report.rate_limited:
            self.rate_limited.labels(account).inc()
        with self._lock:
            self.pending.set(sum(self._waiting.values()))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _FailingFeeds(Collector):
    """crossposter_feed_failing_seconds{feed}: how long each enabled feed has failed to be
    read, 0 when its last fetch worked. Counted from the first failure this process saw."""

    def __init__(self, enabled_feeds: Callable[[], list[str]], wall_clock: Callable[[], float]):
        self._enabled_feeds = enabled_feeds
        self._wall_clock = wall_clock
        self._since: dict[str, float] = {}
        self._lock = threading.Lock()

    def polled(self, feed: str, *, failed: bool) -> None:
        with self._lock:
            if not failed:
                self._since.pop(feed, None)
            elif feed not in self._since:
                self._since[feed] = self._wall_clock()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "crossposter_feed_failing_seconds",
            "Seconds since the feed's fetches started failing; 0 when it is read fine.",
            labels=["feed"],
        )
        now = self._wall_clock()
        with self._lock:
            since = dict(self._since)
        for feed in self._enabled_feeds():
            family.add_metric([feed], now - since[feed] if feed in since else 0.0)
        yield family
