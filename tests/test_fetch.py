"""Fetching: conditional, identified, decompressed, bounded, concurrent.

Failures come back as results or as FeedError, never as a traceback."""

from __future__ import annotations

import contextlib
import gzip
import time
import zlib

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from crossposter import distribution
from crossposter.errors import FeedError, TemporaryFeedError
from crossposter.feeds.fetch import FetchOptions, FetchRequest, fetch_all, fetch_one
from crossposter.models import Validators
from crossposter.net.addresses import AddressPolicy
from crossposter.net.following import NotFetchable, prepared_url

from support.feed_server import FeedServer, InFlight
from support.feeds import rss

FEED = rss([{"title": "Hello", "link": "https://blog.example.org/hello"}])


@pytest.fixture
def server():
    with FeedServer() as feeds:
        feeds.set_feed("/feed", FEED)
        yield feeds


def test_a_fetch_identifies_itself_and_asks_for_gzip(server):
    result = fetch_one(FetchRequest("blog", server.url("/feed")))
    assert result.content.decode() == FEED
    _, _, headers = server.requests[-1]
    # The distribution's own page: on PyPI, `crossposter` is another project.
    assert headers["User-Agent"] == (
        f"crossposter/{distribution.version()} (+https://pypi.org/project/blog-crossposter/)"
    )
    assert "gzip" in headers["Accept-Encoding"]


def test_the_validators_come_back_and_a_conditional_get_answers_not_modified(server):
    first = fetch_one(FetchRequest("blog", server.url("/feed")))
    assert first.validators.etag == server.etag("/feed")
    again = fetch_one(FetchRequest("blog", server.url("/feed"), first.validators))
    assert again.not_modified and again.content == b""
    assert again.validators == first.validators


def test_a_permanent_redirect_is_followed_and_reported(server):
    server.set_redirect("/old", server.url("/feed"), code=301)
    result = fetch_one(FetchRequest("blog", server.url("/old")))
    assert result.content.decode() == FEED
    assert result.moved_permanently_to == server.url("/feed")


def test_a_temporary_redirect_is_followed_silently(server):
    server.set_redirect("/tmp", server.url("/feed"), code=302)
    result = fetch_one(FetchRequest("blog", server.url("/tmp")))
    assert result.content.decode() == FEED and result.moved_permanently_to is None


def test_a_redirect_chain_keeps_its_cookies_and_its_relative_and_percent_encoded_targets(
    server,
):
    # A blog's cookie check: the first answer sets a cookie and sends the bot on; each hop
    # resolves against the one before, and a target with a space is percent-encoded.
    server.set_status(
        "/check", 302, headers=[("Location", "/dir/a b"), ("Set-Cookie", "seen=1; Path=/")]
    )
    server.set_redirect("/dir/a%20b", "../feed", code=307, relative=True)
    result = fetch_one(FetchRequest("blog", server.url("/check")))
    assert result.content.decode() == FEED and result.final_url == server.url("/feed")
    asked = [(path, headers.get("Cookie")) for _, path, headers in server.requests]
    assert asked == [("/check", None), ("/dir/a%20b", "seen=1"), ("/feed", "seen=1")]


def test_a_redirect_loop_stops_at_max_redirects(server):
    server.set_redirect_loop("/loop")
    with pytest.raises(FeedError, match="too many redirects"):
        fetch_one(FetchRequest("blog", server.url("/loop")), FetchOptions(max_redirects=3))
    assert len(server.requests) == 4, "the first request and three redirects followed"


def test_a_body_over_the_cap_is_refused(server):
    server.set_large("/big", 2 * 1024 * 1024, declare_length=False)
    with pytest.raises(FeedError, match="larger than"):
        fetch_one(FetchRequest("blog", server.url("/big")), FetchOptions(max_bytes=1024 * 1024))


def test_a_gzip_bomb_is_refused_by_its_decompressed_size(server):
    server.set_gzip_bomb("/bomb", decompressed_size=50 * 1024 * 1024)
    with pytest.raises(FeedError, match="larger than"):
        fetch_one(FetchRequest("blog", server.url("/bomb")), FetchOptions(max_bytes=1024 * 1024))


@pytest.mark.parametrize(
    ("code", "error", "words"),
    [
        (404, FeedError, "HTTP 404"),
        (410, FeedError, "gone for good"),
        (500, TemporaryFeedError, "HTTP 500"),
        (503, TemporaryFeedError, "HTTP 503"),
        (429, TemporaryFeedError, "HTTP 429"),
    ],
)
def test_http_errors_say_whether_a_later_run_may_succeed(server, code, error, words):
    server.set_status("/feed", code)
    with pytest.raises(error, match=words) as raised:
        fetch_one(FetchRequest("blog", server.url("/feed")))
    assert raised.value.temporary is (error is TemporaryFeedError)


def test_a_timeout_is_temporary(server):
    server.set_slow("/feed", 2.0)
    with pytest.raises(TemporaryFeedError, match="timed out"):
        fetch_one(FetchRequest("blog", server.url("/feed")), FetchOptions(timeout=0.3))


def test_an_unreachable_server_is_temporary_and_said_plainly():
    with pytest.raises(TemporaryFeedError, match="connection failed") as raised:
        fetch_one(FetchRequest("blog", "http://127.0.0.1:9/feed"), FetchOptions(timeout=2))
    assert raised.value.reason == "connection failed: connection refused"


def test_local_files_and_file_urls_are_read(tmp_path):
    path = tmp_path / "feed.xml"
    path.write_text(FEED, encoding="utf-8")
    assert fetch_one(FetchRequest("a", str(path))).content.decode() == FEED
    assert fetch_one(FetchRequest("b", path.as_uri())).content.decode() == FEED
    with pytest.raises(FeedError, match="cannot read"):
        fetch_one(FetchRequest("c", str(tmp_path / "absent.xml")))


def test_fetch_all_returns_failures_as_results_in_request_order(server):
    results = fetch_all(
        [
            FetchRequest("missing", server.url("/missing")),
            FetchRequest("good", server.url("/feed")),
        ]
    )
    assert [r.name for r in results] == ["missing", "good"]
    assert "404" in results[0].error.reason
    assert results[1].error is None and results[1].content


def test_feeds_are_fetched_at_the_same_time(server):
    """With 8 workers, 4 feeds are all in flight together (the server sees them overlap)."""

    def until_all_four_arrive():
        deadline = time.monotonic() + 5
        while probe.peak < 4 and time.monotonic() < deadline:
            time.sleep(0.01)

    probe = InFlight(server, hold=until_all_four_arrive)
    requests = [FetchRequest(f"f{i}", server.url("/feed")) for i in range(4)]
    results = fetch_all(requests, FetchOptions(workers=8))
    assert all(r.error is None for r in results)
    assert probe.peak >= 4


def test_fetch_each_gives_a_result_while_later_feeds_are_still_on_the_network(server):
    import threading

    from crossposter.feeds.fetch import fetch_each

    released, answered = threading.Event(), threading.Event()
    answer = server.dispatch

    def held_back_slow_feed(handler):
        if handler.path == "/slow":
            released.wait(10)
            answered.set()
        answer(handler)

    server.dispatch = held_back_slow_feed
    server.set_feed("/slow", FEED)
    requests = [
        FetchRequest("fast", server.url("/feed")),
        FetchRequest("slow", server.url("/slow")),
    ]
    results = fetch_each(requests, FetchOptions(workers=2))

    first = next(results)
    assert first.name == "fast" and not answered.is_set(), "given before the slow one answered"
    released.set()
    assert [r.name for r in results] == ["slow"]


def test_closing_fetch_each_early_cancels_the_fetches_not_started(server):
    from crossposter.feeds.fetch import fetch_each

    requests = [FetchRequest(f"f{i}", server.url("/feed")) for i in range(20)]
    with contextlib.closing(fetch_each(requests, FetchOptions(workers=1))) as results:
        next(results)
    assert len(server.requests) < 20


def test_a_proxy_named_by_the_environment_carries_the_fetch(server, monkeypatch):
    for name in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.url(""))
    server.set_feed("http://blog.proxied.example/feed", FEED)
    result = fetch_one(FetchRequest("blog", "http://blog.proxied.example/feed"))
    assert result.content.decode() == FEED
    assert server.requests[-1][1] == "http://blog.proxied.example/feed"


def test_validators_are_sent_only_when_known(server):
    fetch_one(FetchRequest("blog", server.url("/feed"), Validators()))
    _, _, headers = server.requests[-1]
    assert "If-None-Match" not in headers and "If-Modified-Since" not in headers


def _deflated(data: bytes, wbits: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("deflate", _deflated(FEED.encode(), zlib.MAX_WBITS)),
        # Without its zlib header, as some servers send it: urllib3 takes it too.
        ("deflate", _deflated(FEED.encode(), -zlib.MAX_WBITS)),
        # Two gzip members one after the other are one body.
        ("gzip", gzip.compress(FEED[:40].encode()) + gzip.compress(FEED[40:].encode())),
        ("identity", FEED.encode()),
    ],
)
def test_each_content_encoding_a_feed_may_come_in_is_undone(server, encoding, body):
    server.set_status("/coded", 200, body, headers=[("Content-Encoding", encoding)])
    assert fetch_one(FetchRequest("blog", server.url("/coded"))).content.decode() == FEED


def test_a_corrupt_compressed_body_is_refused_for_good(server):
    corrupt = gzip.compress(FEED.encode())[:12] + b"not deflate at all"
    server.set_status("/corrupt", 200, corrupt, headers=[("Content-Encoding", "gzip")])
    with pytest.raises(FeedError, match="compressed body is corrupt") as raised:
        fetch_one(FetchRequest("blog", server.url("/corrupt")))
    assert not raised.value.temporary


def test_a_body_without_a_declared_length_is_read_whole(server):
    server.set_large("/chunked", 300 * 1024, declare_length=False)
    result = fetch_one(FetchRequest("blog", server.url("/chunked")))
    assert len(result.content) == 300 * 1024


# Characters a configured feed URL may hold, requests' tricky ones among them.
_URL_PARTS = st.lists(
    st.sampled_from([*"aZ09-._~/?#%:@!$&'()*+,;=[] \"<>{}|\\^`é", "%20", "%7e", "/../", "/./"]),
    max_size=30,
).map("".join)
_HOSTS = ["blog.example.org", "Blog.Example.org", "127.0.0.1:8080", "bl\u00f6g.fr"]
_HOSTS += ["blog.example.org:0", "blog.example.org:65536", "blog.example.org:12345", "[::1]:80"]


@given(
    scheme=st.sampled_from(["http", "https", "HTTP"]),
    host=st.sampled_from(_HOSTS),
    rest=_URL_PARTS,
)
def test_a_feed_url_is_sent_as_requests_would_send_it(scheme, host, rest):
    url = f"{scheme}://{host}/{rest}"
    prepared = requests.PreparedRequest()
    try:
        prepared.prepare_url(url, None)
    except requests.RequestException:
        with pytest.raises(NotFetchable):
            prepared_url(url)
        return
    assert prepared_url(url) == prepared.url


def test_a_validator_in_latin_1_goes_back_byte_for_byte(server):
    server.set_status("/latin", 200, FEED, headers=[("ETag", '"caf\xe9"')])
    first = fetch_one(FetchRequest("blog", server.url("/latin")))
    assert first.validators.etag == '"caf\xe9"'
    fetch_one(FetchRequest("blog", server.url("/latin"), first.validators))
    assert server.requests[-1][2]["If-None-Match"] == '"caf\xe9"'


def test_a_server_that_closes_without_answering_is_said_plainly(server):
    server.set_drop("/feed")
    with pytest.raises(TemporaryFeedError) as raised:
        fetch_one(FetchRequest("blog", server.url("/feed")))
    assert raised.value.reason == "connection failed: the server closed the connection, no answer"


def test_a_feed_handled_slowly_holds_back_none_of_the_fetches_still_in_flight(server):
    """Posting one feed's articles may take a minute: the others' fetches go on meanwhile,
    within their own deadline, and the servers are not left waiting for their requests."""
    from crossposter.feeds.fetch import fetch_each

    server.set_slow("/slow", 0.3)
    server.set_feed("/slow", FEED)
    requests_ = [FetchRequest(name, server.url(f"/{name}")) for name in ("feed", "slow")]
    with contextlib.closing(fetch_each(requests_, FetchOptions(deadline=1.0))) as results:
        assert next(results).name == "feed"
        time.sleep(1.5)  # the caller posts the fast feed's articles, slowly
        slow = next(results)
    assert slow.error is None and slow.content.decode() == FEED


def test_a_proxy_that_is_not_plain_http_fails_the_feed_saying_so(server, monkeypatch):
    for name in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "socks5://127.0.0.1:9")
    with pytest.raises(FeedError, match="only http:// proxies carry feeds") as raised:
        fetch_one(FetchRequest("blog", "http://blog.proxied.example/feed"))
    assert not raised.value.temporary


def test_a_redirect_keeps_only_the_cookies_set_for_its_own_site(server):
    # 127.0.0.1 may not set a cookie for other.example, where it sends the bot next.
    elsewhere = f"http://blog.other.example:{server.port}/feed"
    server.set_status(
        "/check",
        302,
        headers=[
            ("Location", elsewhere),
            ("Set-Cookie", "foreign=1; Domain=other.example; Path=/"),
        ],
    )
    loopback = AddressPolicy(allow_private=True, resolve=lambda host, port: ["127.0.0.1"])
    fetch_one(FetchRequest("blog", server.url("/check")), FetchOptions(addresses=loopback))
    assert server.requests[-1][1] == "/feed"
    assert "Cookie" not in server.requests[-1][2]


FETCH_UNDER_A_LOW_FILE_LIMIT = """
import json, resource, sys
from crossposter.feeds.fetch import FetchOptions, FetchRequest, fetch_all
resource.setrlimit(resource.RLIMIT_NOFILE, (96, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
url = sys.argv[1]
results = fetch_all(
    [FetchRequest(f"f{i}", url) for i in range(150)], FetchOptions(workers=256, per_host=256)
)
print(json.dumps(sorted({r.error.reason if r.error else "ok" for r in results})))
"""


def test_fetches_in_flight_stay_within_the_files_the_process_may_open(server):
    """A process may open 256 files on macOS by default, 1,024 on many Linux systems:
    256 fetches at once must not run it out of sockets (each would fail, 'too many open
    files')."""
    import json
    import subprocess
    import sys

    server.delay = 0.2  # all in flight together
    done = subprocess.run(
        [sys.executable, "-c", FETCH_UNDER_A_LOW_FILE_LIMIT, server.url("/feed")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["ok"]
