"""WebSub against a loopback hub: subscription and verification of intent, signed and
unsigned deliveries, renewal with time injected, a hub that is down, and two replicas
on PostgreSQL sharing one subscription."""

from __future__ import annotations

import json
import re
import socket
import time
from datetime import timedelta

import pytest

from crossposter.cli import main
from crossposter.config import load_settings
from crossposter.listen.service import Listener
from crossposter.listen.websub import LEASE_SECONDS
from crossposter.pipeline import run
from crossposter.state import now_utc

from support.blog import write_config
from support.loop_process import LoopProcess
from support.publishing_blog import PublishingBlog
from support.websub_hub import WebSubHub

QUIET = ("--interval", "1h")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def hub():
    with WebSubHub() as server:
        yield server


@pytest.fixture
def blog(feeds, hub):
    return PublishingBlog(feeds, "/blog", hub=hub)


def websub_config(tmp_path, api, feeds, port: int, **settings) -> str:
    return write_config(
        tmp_path,
        api,
        f"- {{name: blog, url: '{feeds.url('/blog')}'}}",
        websub_callback=f"'http://127.0.0.1:{port}/'",
        **settings,
    )


@pytest.fixture
def subscribed(tmp_path, api, feeds, hub, blog, token):
    """A quiet loop subscribed to the blog's hub, the hub's verification done."""
    port = free_port()
    config = websub_config(tmp_path, api, feeds, port)
    with LoopProcess(config, "--listen", f"127.0.0.1:{port}", *QUIET) as loop:
        hub.wait_verified()
        yield loop, config


def wait_until(condition, what: str, bound: float = 30.0) -> None:
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting until {what}")
        time.sleep(0.02)


def test_a_feed_with_a_hub_is_subscribed_with_its_self_topic_and_a_secret_of_its_own(
    subscribed, hub, blog, capsys
):
    loop, config = subscribed
    (subscription,) = hub.requested
    assert subscription.topic == blog.topic
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/websub/[A-Za-z0-9_-]{32}", subscription.callback)
    assert re.fullmatch(r"[0-9a-f]{64}", subscription.secret)
    assert subscription.lease_seconds == LEASE_SECONDS
    assert subscription.verified
    assert not any(subscription.secret in line for line in loop.lines)
    # The state keeps the secret; an export leaves it out.
    assert main(["state", "export", "--config", config]) == 0
    assert subscription.secret not in capsys.readouterr().out


def test_a_verification_for_a_topic_never_asked_for_is_refused(subscribed, hub, blog):
    (subscription,) = hub.requested
    assert not hub.verify(subscription.callback, blog.topic + "?other")
    unknown = subscription.callback.rsplit("/", 1)[0] + "/" + "x" * 32
    assert not hub.verify(unknown, blog.topic)
    assert hub.verify(subscription.callback, blog.topic)


def test_a_signed_push_announces_the_new_article_at_once(subscribed, api, blog):
    polls = blog.polls()
    blog.publish(2)
    assert blog.push() == [202]
    wait_until(lambda: api.status_texts(), "the article was announced")
    assert "Article 2" in api.status_texts()[0]
    assert blog.polls() == polls + 1


@pytest.mark.parametrize("algorithm", ["sha1", "sha384", "sha512"])
def test_every_websub_algorithm_is_accepted(subscribed, api, hub, blog, algorithm):
    (subscription,) = hub.requested
    blog.publish(2)
    answer = hub.deliver(
        subscription.callback, b"<rss/>", secret=subscription.secret, algorithm=algorithm
    )
    assert answer.status_code == 202
    wait_until(lambda: api.status_texts(), "the article was announced")


@pytest.mark.parametrize("secret", [None, "not-the-secret"], ids=["unsigned", "wrong secret"])
def test_an_unsigned_or_forged_push_is_refused_and_polls_nothing(
    subscribed, api, hub, blog, feeds, secret
):
    loop, _ = subscribed
    (subscription,) = hub.requested
    polls = blog.polls()
    blog.publish(2)
    answer = hub.deliver(subscription.callback, b"<rss/>", secret=secret)
    assert answer.status_code == 401
    # A signed push after it polls once: the refused one asked for nothing.
    assert hub.deliver(subscription.callback, b"<rss/>", secret=subscription.secret).ok
    wait_until(lambda: api.status_texts(), "the article was announced")
    time.sleep(0.5)
    assert blog.polls() == polls + 1
    assert any("WebSub delivery refused" in line for line in loop.lines)


def test_when_the_hub_is_down_polling_goes_on(tmp_path, api, feeds, hub, blog, token):
    hub.down = True
    port = free_port()
    config = websub_config(tmp_path, api, feeds, port)
    with LoopProcess(config, "--listen", f"127.0.0.1:{port}", "--interval", "1s") as loop:
        loop.wait_for("WebSub subscription not made")
        blog.publish(2)
        wait_until(lambda: api.status_texts(), "the next pass announced the article")
    assert hub.subscribers() == []


# -- renewal, with time injected ---------------------------------------------------------


def test_a_subscription_is_renewed_before_its_lease_ends(tmp_path, api, feeds, hub, blog, token):
    port = free_port()
    settings = load_settings(websub_config(tmp_path, api, feeds, port))
    now = [now_utc()]
    listener = Listener(
        ("127.0.0.1", port),
        lambda: settings,
        interval=900,
        wake=lambda: None,
        clock=lambda: now[0],
    )
    listener.start()
    try:
        report = run(settings, poll_interval=900)
        listener.pass_done(report, set())
        (asked,) = hub.wait_verified()
        listener.pass_done(run(settings, poll_interval=900), set())  # writes the lease
        now[0] += timedelta(days=5)
        listener.pass_done(run(settings, poll_interval=900), set())
        assert len(hub.requested) == 1
        now[0] += timedelta(days=1, hours=2)
        listener.pass_done(run(settings, poll_interval=900), set())
        assert len(hub.requested) == 2
        renewal = hub.requested[1]
        assert (renewal.callback, renewal.secret, renewal.topic) == (
            asked.callback,
            asked.secret,
            asked.topic,
        )
    finally:
        listener.stop(1.0)


# -- replicas on PostgreSQL ---------------------------------------------------------------


def test_two_replicas_share_one_subscription_and_a_push_toots_once(
    request, tmp_path, api, feeds, hub, blog, token
):
    from conftest import postgres_database

    database = postgres_database(request)
    ports = [free_port(), free_port()]
    # Both replicas subscribe with the same public address (the Service in front of them).
    config = websub_config(
        tmp_path, api, feeds, ports[0], state_file=None, state_url=f"'{database}'"
    )
    with (
        LoopProcess(
            config, "--listen", f"127.0.0.1:{ports[0]}", *QUIET, env={"CROSSPOSTER_WORKER_ID": "a"}
        ) as first,
        LoopProcess(
            config, "--listen", f"127.0.0.1:{ports[1]}", *QUIET, env={"CROSSPOSTER_WORKER_ID": "b"}
        ) as second,
    ):
        first.wait_for("pass done")
        second.wait_for("pass done")
        (subscription,) = hub.wait_verified()
        # The same push reaches both replicas (a hub retrying, two Service endpoints).
        blog.publish(2)
        body = blog.document().encode()
        for port in ports:
            callback = re.sub(r":\d+/", f":{port}/", subscription.callback)
            assert hub.deliver(callback, body, secret=subscription.secret).status_code == 202
        wait_until(lambda: api.status_texts(), "the article was announced")
        first.wait_for("early pass done")
        second.wait_for("early pass done")
    assert len(hub.requested) == 1
    assert len(api.status_texts()) == 1
    assert json.dumps(api.status_texts()).count("Article 2") == 1
