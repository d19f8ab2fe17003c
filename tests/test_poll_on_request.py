"""The pieces behind `POST /feeds/NAME/poll`, each alone: who may ask (signatures), how
requests merge and are spaced (PollRequests), how the loop wakes for them, and what the
probes say. The whole, over HTTP, is in test_listener.py."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from crossposter.errors import StateError
from crossposter.listen.address import parse_address
from crossposter.listen.probes import LoopProbes, alive
from crossposter.listen.signatures import (
    bearer_matches,
    ghost_signature_valid,
    hub_signature_valid,
)
from crossposter.loop import run_loop
from crossposter.poll_requests import PollRequests
from crossposter.signals import StopRequest

from support.publishing_blog import ghost_signature

SECRET = b"s3cret"
BODY = b'{"post": {"current": {"title": "Hello"}}}'
NOW = 1_790_000_000.0


# -- who may ask ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "valid"),
    [
        ("Bearer s3cret", True),
        ("bearer   s3cret ", True),
        ("Bearer s3cre", False),
        ("Bearer s3cret2", False),
        ("Basic s3cret", False),
        ("s3cret", False),
        ("", False),
        (None, False),
    ],
)
def test_a_bearer_token_is_the_secret_itself(header, valid):
    assert bearer_matches(header, SECRET) is valid


def ghost(body=BODY, secret="s3cret", at=NOW) -> str:
    return ghost_signature(body, secret, int(at * 1000))


@pytest.mark.parametrize(
    ("header", "body", "valid"),
    [
        (ghost(), BODY, True),
        (ghost(at=NOW - 299), BODY, True),
        (ghost(at=NOW - 301), BODY, False),
        (ghost(at=NOW + 301), BODY, False),
        (ghost(secret="other"), BODY, False),
        (ghost(), BODY + b" ", False),
        (ghost().replace(", t=", ",t="), BODY, True),
        (ghost().upper().replace("SHA256=", "sha256=").replace("T=", "t="), BODY, True),
        (ghost().split(",")[0], BODY, False),
        ("sha1=" + ghost()[7:], BODY, False),
        ("sha256=zz, t=1", BODY, False),
        (None, BODY, False),
    ],
)
def test_a_ghost_signature_signs_the_body_and_a_recent_time_in_ms(header, body, valid):
    assert ghost_signature_valid(header, body, SECRET, now=NOW) is valid


def test_the_ghost_signature_is_keyed_over_the_body_then_the_milliseconds():
    # Worked by hand from webhook-trigger.js: HMAC-SHA256(secret, body + String(ts)).
    stamp = 1_790_000_000_123
    digest = hmac.new(SECRET, BODY + b"1790000000123", hashlib.sha256).hexdigest()
    header = f"sha256={digest}, t={stamp}"
    assert ghost_signature_valid(header, BODY, SECRET, now=stamp / 1000)
    assert not ghost_signature_valid(header, BODY, SECRET, now=stamp)  # seconds, not ms


@pytest.mark.parametrize("method", ["sha1", "sha256", "sha384", "sha512"])
def test_a_hub_signature_may_use_any_of_websub_s_algorithms(method):
    digest = hmac.new(SECRET, BODY, method).hexdigest()
    assert hub_signature_valid(f"{method}={digest}", BODY, SECRET)
    assert not hub_signature_valid(f"{method}={digest}", BODY + b"x", SECRET)
    assert not hub_signature_valid(f"{method}={digest}", BODY, b"other")


@pytest.mark.parametrize("header", [None, "", "md5=abc", "sha256=", "sha256", "sha3_256=00"])
def test_a_hub_signature_that_is_no_signature_is_refused(header):
    assert not hub_signature_valid(header, BODY, SECRET)


# -- merged and spaced -------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_requests_for_a_feed_merge_until_a_pass_takes_them():
    clock, wakes = Clock(), []
    requests = PollRequests(lambda: wakes.append(1), clock=clock)
    assert requests.seconds_until_due() is None
    for _ in range(5):
        requests.request("blog")
    requests.request("other")
    assert len(wakes) == 6
    assert requests.seconds_until_due() == 0
    assert requests.take_due() == {"blog", "other"}
    assert requests.take_due() == set()
    assert requests.seconds_until_due() is None


def test_a_feed_is_polled_on_request_at_most_once_every_ten_seconds():
    clock = Clock()
    requests = PollRequests(lambda: None, clock=clock)
    requests.request("blog")
    assert requests.take_due() == {"blog"}
    clock.now += 3
    requests.request("blog")
    requests.request("blog")
    requests.request("other")
    assert requests.take_due() == {"other"}
    assert requests.seconds_until_due() == pytest.approx(7)
    clock.now += 6.9
    assert requests.take_due() == set()
    clock.now += 0.1
    assert requests.take_due() == {"blog"}
    clock.now += 30
    requests.request("blog")
    assert requests.take_due() == {"blog"}


# -- the loop wakes ------------------------------------------------------------------------


class FakeTimeStop(StopRequest):
    """A stop request whose waits pass on a fake clock, and which a callback may interrupt."""

    def __init__(self, clock: Clock, during_wait=None) -> None:
        super().__init__()
        self.clock = clock
        self.waits: list[float] = []
        self.during_wait = during_wait

    def sleep(self, seconds):
        self.waits.append(round(seconds, 3))
        interrupted_at = self.during_wait(len(self.waits)) if self.during_wait else None
        self.clock.now += seconds if interrupted_at is None else interrupted_at


def loop_on_requests(tmp_path, clock, requests, stop, passes: int) -> list[tuple]:
    """Run the loop (every 900 s, no jitter) on `clock` for `passes` passes; each pass's
    time and the feeds it took on request."""
    seen: list[tuple[float, set[str]]] = []

    def run_pass():
        seen.append((clock.now, requests.take_due()))
        if len(seen) == passes:
            stop.request("test")
        return 0

    run_loop(
        run_pass,
        interval=900,
        stop=stop,
        heartbeat=tmp_path / "hb",
        jitter=lambda _: 0,
        sooner=requests.seconds_until_due,
    )
    return seen


def test_a_request_during_the_wait_runs_a_pass_at_once_and_keeps_the_regular_schedule(
    tmp_path, monkeypatch
):
    clock = Clock()
    monkeypatch.setattr("crossposter.loop.time.monotonic", clock)
    requests = PollRequests(lambda: None, clock=clock)

    def during_wait(count):
        if count == 1:
            requests.request("blog")  # 100 s into the 900 s wait
            return 100
        return None

    stop = FakeTimeStop(clock, during_wait)
    passes = loop_on_requests(tmp_path, clock, requests, stop, 3)
    assert passes == [(1000, set()), (1100, {"blog"}), (1900, set())]
    assert stop.waits == [900, 800]


def test_a_request_not_due_yet_shortens_the_wait_to_its_time(tmp_path, monkeypatch):
    clock = Clock()
    monkeypatch.setattr("crossposter.loop.time.monotonic", clock)
    requests = PollRequests(lambda: None, clock=clock)
    requests.request("blog")
    requests.take_due()
    requests.request("blog")  # due in 10 s
    stop = FakeTimeStop(clock)
    passes = loop_on_requests(tmp_path, clock, requests, stop, 2)
    assert passes == [(1000, set()), (1010, {"blog"})]
    assert stop.waits == [10]


def test_wake_ends_a_real_wait_at_once():
    import threading
    import time

    stop = StopRequest()
    threading.Timer(0.05, stop.wake).start()
    started = time.monotonic()
    stop.sleep(30)
    assert time.monotonic() - started < 10
    assert not stop.is_set()


# -- probes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("started", "last_pass_end", "now", "ok"),
    [
        (0, None, 100, True),  # just started, first pass still running
        (0, None, 2 * 900 + 300, True),
        (0, None, 2 * 900 + 301, False),  # no pass ever ended
        (0, 5000, 5000 + 2100, True),
        (0, 5000, 5000 + 2101, False),
    ],
)
def test_alive_while_a_pass_ended_within_twice_the_interval_plus_five_minutes(
    started, last_pass_end, now, ok
):
    verdict = alive(started=started, last_pass_end=last_pass_end, interval=900, now=now)
    assert verdict.ok is ok


def test_ready_once_the_first_pass_ended_and_while_the_state_can_be_opened():
    clock, reachable = Clock(), []

    def state_reachable():
        if not reachable:
            raise StateError("could not connect to the database")

    probes = LoopProbes(900, state_reachable, clock=clock)
    assert not probes.ready().ok
    probes.pass_ended()
    verdict = probes.ready()
    assert not verdict.ok
    assert "could not connect" in verdict.message
    reachable.append(True)
    assert probes.ready().ok


# -- the address ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("8080", ("127.0.0.1", 8080)),
        (":8080", ("127.0.0.1", 8080)),
        ("0.0.0.0:8080", ("0.0.0.0", 8080)),
        ("[::]:8080", ("::", 8080)),
        ("localhost:0", ("localhost", 0)),
    ],
)
def test_listen_takes_host_port_with_loopback_by_default(text, address):
    assert parse_address(text) == address


# -- metrics ---------------------------------------------------------------------------------


def test_every_toot_action_is_counted_from_a_pass_s_report():
    from prometheus_client.parser import text_string_to_metric_families

    from crossposter.listen.metrics import TOOT_ACTIONS, LoopMetrics
    from crossposter.models import FeedReport
    from crossposter.pipeline import RunReport

    feed = FeedReport(name="blog", poll_outcome="changed", posted=3, edited=2, deleted=1)
    feed.refused = 4
    metrics = LoopMetrics(lambda: ["blog"], wall_clock=lambda: NOW)
    metrics.observe(RunReport(feeds=[feed], rate_limited=["news"]), lambda name: "main")
    families = {
        family.name: family
        for family in text_string_to_metric_families(metrics.exposition().decode())
    }
    counted = {
        sample.labels["action"]: sample.value
        for sample in families["crossposter_toots"].samples
        if sample.name == "crossposter_toots_total"
    }
    assert counted == {"posted": 3, "edited": 2, "deleted": 1, "refused": 4}
    assert set(counted) == set(TOOT_ACTIONS)
    (limited,) = [
        sample
        for sample in families["crossposter_rate_limited"].samples
        if sample.name.endswith("_total")
    ]
    assert limited.labels == {"account": "news"}
