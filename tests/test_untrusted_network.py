"""A feed is someone else's text: the URLs in it reach only public addresses, nothing
it serves can hold a run, and a stop ends a run within its grace.

The "internal" server stands for an admin page or a cloud metadata endpoint: it
listens on 127.0.0.2 and must never be asked anything a feed tricked the bot into.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from crossposter.cli import main
from crossposter.config import load_settings
from crossposter.errors import ImageUnavailable, TemporaryFeedError, TemporaryPublishError
from crossposter.feeds.fetch import FetchOptions, FetchRequest, fetch_all, fetch_one
from crossposter.mastodon.instance import (
    MAX_CHARACTERS,
    MAX_IMAGE_BYTES,
    fetch_limits,
    limits_from_documents,
)
from crossposter.mastodon.media import download_image
from crossposter.mastodon.publish import Publisher, PublishOptions
from crossposter.models import ImageRef, InstanceLimits, Toot
from crossposter.net.addresses import AddressPolicy
from crossposter.net.bounded import API_MAX_BYTES, UnreadableAnswer, api_session
from crossposter.net.watcher import DeadlineWatcher

from conftest import PNG
from support.blog import TOKEN, write_config
from support.feed_server import InFlight

LIMITS = InstanceLimits()


def only(*public: str) -> AddressPolicy:
    """A policy for which only the addresses given are public; names resolve to 127.0.0.1."""
    return AddressPolicy(
        resolve=lambda host, port: ["127.0.0.1"],
        is_public=lambda address: str(address) in public,
    )


def posted_image_run(tmp_path, api, feeds, item_xml: str, feed_xml=None, **settings) -> int:
    feeds.set_feed("/feed", "<rss version='2.0'><channel><title>B</title></channel></rss>")
    config = write_config(
        tmp_path, api, f"- {{name: blog, url: '{feeds.url('/feed')}', image: true}}", **settings
    )
    assert main(["run", "--config", config]) == 0
    feeds.set_feed("/feed", feed_xml or media_rss(item_xml))
    return main(["run", "--config", config])


def media_rss(item_body: str) -> str:
    return f"""<?xml version="1.0"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>B</title>
<link>https://blog.example.org/</link>
<item><title>A cat</title><link>https://blog.example.org/cat/</link>{item_body}</item>
</channel></rss>"""


def xml_base_atom(base: str) -> str:
    return f"""<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="{base}"><title>B</title>
<id>urn:b</id><updated>2026-11-01T00:00:00Z</updated>
<entry><title>A cat</title><id>urn:cat</id><link href="https://blog.example.org/cat/"/>
<updated>2026-11-02T00:00:00Z</updated>
<content type="html">&lt;p&gt;&lt;img src="secret.png" alt="cat"&gt;&lt;/p&gt;</content>
</entry></feed>"""


# -- URLs found in feeds reach public addresses only -------------------------------------


@pytest.mark.parametrize("trick", ["media:content", "redirecting enclosure", "xml:base"])
def test_a_feed_cannot_make_the_bot_fetch_an_internal_address(
    tmp_path, api, feeds, internal, token, caplog, trick
):
    secret = internal.url("/secret.png")
    feeds.set_redirect("/img.png", secret, code=302)
    item, document = {
        "media:content": (f'<media:content url="{secret}" medium="image"/>', None),
        "redirecting enclosure": (
            f'<enclosure url="{feeds.url("/img.png")}" type="image/png" length="1"/>',
            None,
        ),
        "xml:base": ("", xml_base_atom(internal.url("/"))),
    }[trick]
    assert posted_image_run(tmp_path, api, feeds, item, document) == 0
    [status] = api.statuses
    assert status["media_ids"] == []
    assert internal.count() == 0
    assert "not a public address" in caplog.text


def test_allow_private_urls_in_feeds_lets_a_lan_blog_have_its_images(
    tmp_path, api, feeds, internal, token
):
    item = f'<media:content url="{internal.url("/secret.png")}" medium="image"/>'
    assert posted_image_run(tmp_path, api, feeds, item, allow_private_urls_in_feeds=True) == 0
    [status] = api.statuses
    assert len(status["media_ids"]) == 1


def test_a_name_answering_a_public_address_is_fetched_with_its_name(feeds):
    feeds.set_feed("/cat.png", PNG, content_type="image/png")
    url = f"http://blog.test:{feeds.port}/cat.png"
    image = download_image(ImageRef(url), LIMITS, policy=only("127.0.0.1"))
    assert image.data == PNG
    [(_, _, headers)] = feeds.requests
    assert headers["Host"] == f"blog.test:{feeds.port}"


def test_a_redirect_to_a_private_address_is_refused_at_that_hop(feeds, internal):
    feeds.set_redirect("/img.png", internal.url("/secret.png"), code=302)
    with pytest.raises(ImageUnavailable, match=r"127\.0\.0\.2 is not a public address"):
        download_image(ImageRef(feeds.url("/img.png")), LIMITS, policy=only("127.0.0.1"))
    assert feeds.count("GET", "/img.png") == 1
    assert internal.count() == 0


def test_the_address_checked_is_the_address_connected_to(feeds, internal):
    """DNS rebinding: a second lookup would answer the internal address."""
    answers = iter([["127.0.0.1"], ["127.0.0.2"], ["127.0.0.2"]])
    policy = AddressPolicy(
        resolve=lambda host, port: next(answers),
        is_public=lambda address: str(address) == "127.0.0.1",
    )
    feeds.set_feed("/secret.png", PNG, content_type="image/png")
    download_image(ImageRef(f"http://blog.test:{feeds.port}/secret.png"), LIMITS, policy=policy)
    assert feeds.count("GET", "/secret.png") == 1
    assert internal.count() == 0


def test_the_connection_goes_to_the_pinned_address_not_to_the_systems_answer(feeds, internal):
    """The pinning adapter in use (requests 2.32.3 and later call it): the policy's
    answer for "localhost", 127.0.0.2, is where the bytes come from, not the system's
    127.0.0.1, which would serve something else."""
    feeds.set_feed("/cat.png", b"the system resolver's answer", content_type="image/png")
    policy = AddressPolicy(
        resolve=lambda host, port: ["127.0.0.2"],
        is_public=lambda address: str(address) == "127.0.0.2",
    )
    image = download_image(
        ImageRef(f"http://localhost:{feeds.port}/secret.png"), LIMITS, policy=policy
    )
    assert image.data == PNG
    assert feeds.count() == 0
    [(_, _, headers)] = internal.requests
    assert headers["Host"] == f"localhost:{feeds.port}"


def test_no_netrc_credentials_go_with_a_url_from_a_feed(feeds, monkeypatch, tmp_path):
    netrc = Path(os.environ["HOME"]) / ".netrc"
    netrc.write_text("machine 127.0.0.1 login admin password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    feeds.set_feed("/cat.png", PNG, content_type="image/png")
    download_image(ImageRef(feeds.url("/cat.png")), LIMITS, policy=AddressPolicy(True))
    [(_, _, headers)] = feeds.requests
    assert "Authorization" not in headers


def test_a_json_body_labelled_png_is_no_image(feeds):
    feeds.set_feed("/cat.png", b'{"AccessKeyId": "secret"}', content_type="image/png")
    with pytest.raises(ImageUnavailable, match="not an image"):
        download_image(ImageRef(feeds.url("/cat.png")), LIMITS, policy=AddressPolicy(True))


# -- deadlines -------------------------------------------------------------------------


def test_a_dripping_feed_is_cut_off_at_the_deadline(feeds):
    feeds.set_feed("/feed", "<rss>" + " " * 1000 + "</rss>")
    feeds.set_drip("/feed", interval=0.05)
    options = FetchOptions(timeout=5, deadline=0.5)
    with pytest.raises(TemporaryFeedError, match=r"took longer than 0\.5 s"):
        fetch_one(FetchRequest("blog", feeds.url("/feed")), options)


def test_a_dripping_image_is_cut_off_at_the_deadline(feeds):
    feeds.set_feed("/cat.png", PNG, content_type="image/png")
    feeds.set_drip("/cat.png", interval=0.05)
    with pytest.raises(ImageUnavailable, match=r"took longer than 0\.5 s"):
        download_image(
            ImageRef(feeds.url("/cat.png")),
            LIMITS,
            timeout=5,
            deadline=0.5,
            policy=AddressPolicy(True),
        )


def test_a_dripping_instance_is_cut_off_at_the_request_timeout(api):
    api.fail_next("POST", "/api/v1/statuses", "drip", interval=0.05)
    options = PublishOptions(request_timeout=0.5, retry_seconds=0)
    publisher = Publisher(api.base_url, TOKEN, options)
    with pytest.raises(TemporaryPublishError, match=r"took longer than 0\.5 s"):
        publisher.post(Toot(text="Hello"), "key-1")


def test_a_huge_declared_answer_is_refused_without_reading_it(api):
    api.fail_next("GET", "/api/v2/instance", "huge", size=400_000_000)
    session, _ = api_session(total=30)
    with pytest.raises(UnreadableAnswer, match=f"larger than the {API_MAX_BYTES}-byte limit"):
        session.get(api.base_url + "/api/v2/instance")


def test_a_2xx_answer_that_cannot_be_read_leaves_the_post_pending(api):
    api.fail_next("POST", "/api/v1/statuses", "garbled")
    publisher = Publisher(api.base_url, TOKEN, PublishOptions(retry_seconds=0))
    with pytest.raises(TemporaryPublishError, match="not JSON"):
        publisher.post(Toot(text="Hello"), "key-1")


def test_limits_an_instance_declares_are_clamped():
    limits = limits_from_documents(
        v2={
            "configuration": {
                "statuses": {"max_characters": 10**12, "characters_reserved_per_url": 10**9},
                "media_attachments": {"image_size_limit": 10**15, "description_limit": 10**9},
            }
        }
    )
    assert limits.max_characters == MAX_CHARACTERS
    assert limits.image_size_limit == MAX_IMAGE_BYTES
    assert limits.characters_reserved_per_url <= 1000


# -- instances -------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "check"])
def test_a_plain_http_instance_elsewhere_than_loopback_is_a_configuration_error(
    tmp_path, api, command, token
):
    config = write_config(tmp_path, api, "- {name: blog, url: feed.xml}")
    text = Path(config).read_text().replace(api.base_url, "http://mastodon.example")
    Path(config).write_text(text)
    assert main([command, "--config", config]) == 2


def test_a_plain_http_instance_from_the_environment_is_refused(tmp_path, api, monkeypatch, token):
    config = write_config(tmp_path, api, "- {name: blog, url: feed.xml}")
    monkeypatch.setenv("CROSSPOSTER_INSTANCE", "http://mastodon.example")
    assert main(["run", "--config", config]) == 2


def test_an_accounts_instance_over_plain_http_is_refused(tmp_path, api, token):
    config = write_config(
        tmp_path,
        api,
        "- {name: blog, url: feed.xml, account: other}",
        accounts={"other": {"instance": "http://other.example", "access_token_env": "X"}},
    )
    assert main(["run", "--config", config]) == 2


# -- stopping --------------------------------------------------------------------------


def crossposter(config: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.environ["PYTHONPATH"], *sys.path])}
    return subprocess.Popen(
        [sys.executable, "-m", "crossposter", "run", "--config", config],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the process never got that far"
        time.sleep(0.02)


def test_sigterm_during_a_slow_fetch_ends_the_run(tmp_path, api, feeds, token):
    feeds.set_feed("/feed", "<rss>" + " " * 10_000 + "</rss>")
    feeds.set_drip("/feed", interval=1)
    config = write_config(tmp_path, api, f"- {{name: blog, url: '{feeds.url('/feed')}'}}")
    process = crossposter(config)
    wait_for(lambda: feeds.count("GET", "/feed") == 1)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == 75, stderr


def test_sigterm_during_a_slow_post_leaves_it_pending(tmp_path, api, feeds, token):
    feeds.set_feed("/feed", media_rss(""))
    config = write_config(
        tmp_path, api, f"- {{name: blog, url: '{feeds.url('/feed')}', backfill: 1}}"
    )
    api.fail_next("POST", "/api/v1/statuses", "delay", seconds=60, times=5)
    process = crossposter(config)
    wait_for(lambda: api.count("POST", "/api/v1/statuses") == 1)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == 75, stderr
    with sqlite3.connect(tmp_path / "state.sqlite3") as db:
        [(status,)] = db.execute("SELECT status FROM entries")
    assert status == "pending"
    assert api.count("POST", "/api/v1/statuses") == 1


def test_sigterm_while_the_instance_is_slow_to_tell_its_limits_ends_the_run(
    tmp_path, api, feeds, token
):
    feeds.set_feed("/feed", media_rss(""))
    config = write_config(
        tmp_path, api, f"- {{name: blog, url: '{feeds.url('/feed')}', backfill: 1}}"
    )
    api.fail_next("GET", "/api/v2/instance", "delay", seconds=60)
    process = crossposter(config)
    wait_for(lambda: api.count("GET", "/api/v2/instance") == 1)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == 75, stderr
    assert api.count("POST", "/api/v1/statuses") == 0


def test_a_stop_abandons_a_connection_still_being_made():
    # A listener whose backlog is full never completes another handshake.
    with socket.create_server(("127.0.0.1", 0), backlog=0) as listener:
        host, port = listener.getsockname()
        with socket.create_connection((host, port)):
            stop = threading.Event()
            threading.Timer(0.2, stop.set).start()
            started = time.monotonic()
            limits = fetch_limits(f"http://{host}:{port}", timeout=60, stop=stop)
    assert limits == InstanceLimits()
    assert time.monotonic() - started < 30  # not the 60 s connect timeout


def test_a_connection_that_never_completes_is_cut_off_at_the_deadline():
    with socket.create_server(("127.0.0.1", 0), backlog=0) as listener:
        host, port = listener.getsockname()
        with socket.create_connection((host, port)):
            started = time.monotonic()
            with pytest.raises(TemporaryFeedError, match=r"took longer than 0\.5 s"):
                fetch_one(
                    FetchRequest("blog", f"http://{host}:{port}/feed"),
                    FetchOptions(timeout=60, deadline=0.5),
                )
    assert time.monotonic() - started < 10  # not the 60 s connect timeout


@pytest.fixture
def hanging_dns(monkeypatch):
    """Looking up a name under .hang.example never answers (until the test ends)."""
    real_getaddrinfo = socket.getaddrinfo
    released = threading.Event()

    def getaddrinfo(host, *args, **kwargs):
        if str(host).endswith(".hang.example"):
            released.wait(60)
            raise socket.gaierror(socket.EAI_AGAIN, "released")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield
    released.set()


@pytest.mark.parametrize("ended_by", ["deadline", "stop"])
def test_a_name_that_never_resolves_is_abandoned(hanging_dns, ended_by):
    stop = threading.Event()
    deadline = 0.5 if ended_by == "deadline" else 60
    if ended_by == "stop":
        threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    with pytest.raises(TemporaryFeedError, match=r"took longer than 0\.5 s|stopped"):
        fetch_one(
            FetchRequest("blog", "http://feed.hang.example/feed"),
            FetchOptions(timeout=60, deadline=deadline),
            stop=stop,
        )
    assert time.monotonic() - started < 10


def test_an_image_whose_name_never_resolves_is_abandoned_on_a_stop(hanging_dns):
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    with pytest.raises(ImageUnavailable, match="stopped"):
        download_image(
            ImageRef("http://images.hang.example/cat.png"), LIMITS, timeout=60, stop=stop
        )
    assert time.monotonic() - started < 10


class _Exchange:
    """Stands for a Cutoff: due at `deadline`, `fire` records it (or fails)."""

    stoppable = False

    def __init__(self, seconds: float, fails: bool = False) -> None:
        self.deadline = time.monotonic() + seconds
        self.fails = fails
        self.fired = threading.Event()

    def due(self) -> bool:
        return time.monotonic() >= self.deadline

    def fire(self) -> None:
        self.fired.set()
        if self.fails:
            raise RuntimeError("a bug while ending an exchange")


def test_the_deadline_watcher_fires_each_in_order_and_survives_a_failing_one():
    watcher = DeadlineWatcher(name="a test's deadlines")
    failing, later, forgotten = _Exchange(0.05, fails=True), _Exchange(0.2), _Exchange(0.1)
    for exchange in (later, forgotten, failing):
        watcher.watch(exchange)
    watcher.forget(forgotten)
    assert later.fired.wait(5) and failing.fired.is_set()
    assert not forgotten.fired.is_set()


def test_fetches_in_flight_share_one_thread(feeds):
    """Six feeds in flight at once are six sockets of one event loop: one thread for them
    all, their deadlines included, however many there are."""
    feeds.set_feed("/feed", "<rss></rss>")
    in_flight: list[list[str]] = []
    all_in_flight = threading.Barrier(6, timeout=20)
    before = {thread.ident for thread in threading.enumerate()}

    def started_since() -> list[str]:
        # The test server answers each connection in an unnamed thread: not the client's.
        return sorted(
            thread.name
            for thread in threading.enumerate()
            if thread.ident not in before and not thread.name.startswith("Thread-")
        )

    def hold() -> None:
        all_in_flight.wait()
        in_flight.append(started_since())

    probe = InFlight(feeds, hold=hold)
    requests = [FetchRequest(f"f{i}", feeds.url("/feed")) for i in range(6)]
    results = fetch_all(requests, FetchOptions(workers=6, per_host=6))
    assert all(result.error is None for result in results)
    assert probe.peak == 6
    assert in_flight and all(names == ["feeds"] for names in in_flight)


@pytest.mark.parametrize(("written", "seconds"), [("30s", 30), ("2m", 120), ("45", 45), (7, 7)])
def test_fetch_deadline_takes_a_duration(tmp_path, api, written, seconds):
    config = write_config(tmp_path, api, "- {name: blog, url: feed.xml}", fetch_deadline=written)
    assert load_settings(config).fetch_deadline == seconds
