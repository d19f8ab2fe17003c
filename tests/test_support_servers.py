"""The loopback test servers behave like the real thing, through real clients over real HTTP."""

from __future__ import annotations

import gzip
import socket
import threading
import time
import xml.etree.ElementTree as ET
import zlib
from datetime import UTC, datetime

import feedparser
import pytest
import requests
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonBadGatewayError,
    MastodonInternalServerError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServiceUnavailableError,
    MastodonUnauthorizedError,
)

from support import feeds
from support.feed_server import FeedServer
from support.mastodon_api import MastodonAPI


def client(api: MastodonAPI, token: str = "test-token", timeout: float = 5) -> Mastodon:
    return Mastodon(
        access_token=token,
        api_base_url=api.base_url,
        version_check_mode="none",
        ratelimit_method="throw",
        request_timeout=timeout,
    )


@pytest.fixture
def api():
    with MastodonAPI() as server:
        yield server
        assert server.errors == [], "the fake server itself crashed"


@pytest.fixture
def m(api):
    return client(api)


# -- Mastodon API: statuses ------------------------------------------------------------------
def test_status_post_returns_a_parsed_status(api, m):
    s = m.status_post(
        "Hello #World https://example.com/post",
        visibility="unlisted",
        language="fr-FR",
        spoiler_text="cw",
        idempotency_key="k1",
    )
    assert s.url == f"{api.base_url}/@bot/{s.id}"
    assert isinstance(s.created_at, datetime)
    assert s.account.acct == "bot"
    assert s.language == "fr"  # region stripped, like Mastodon
    assert s.visibility == "unlisted"
    assert s.sensitive is False  # Mastodon.py sends sensitive=0
    assert [t.name for t in s.tags] == ["world"]
    assert 'href="https://example.com/post"' in s.content
    (stored,) = api.statuses
    assert stored["text"] == "Hello #World https://example.com/post"
    assert stored["idempotency_key"] == "k1"
    assert stored["spoiler_text"] == "cw"
    assert stored["id"] == str(s.id)


def test_ids_increase_and_json_body_is_accepted(api, m):
    first = m.status_post("one")
    r = requests.post(
        api.base_url + "/api/v1/statuses",
        json={"status": "two", "sensitive": True, "language": "xx"},
        headers={"Authorization": "Bearer test-token"},
        timeout=5,
    )
    assert r.status_code == 200
    assert int(r.json()["id"]) > int(first.id)
    assert r.json()["sensitive"] is True
    assert r.json()["language"] == "en"  # invalid language silently replaced by the default


def test_idempotency_key_repeat_returns_the_original(api, m):
    a = m.status_post("hello", idempotency_key="same")
    b = m.status_post("a different body", idempotency_key="same")
    assert a.id == b.id
    assert len(api.statuses) == 1
    assert api.count("POST", "/api/v1/statuses") == 2


def test_idempotency_key_expires_after_the_window(api, m):
    m.status_post("hello", idempotency_key="k")
    api.advance(3599)
    m.status_post("hello", idempotency_key="k")
    assert len(api.statuses) == 1
    api.advance(2)
    m.status_post("hello", idempotency_key="k")
    assert len(api.statuses) == 2


def test_failed_post_does_not_remember_the_key(api, m):
    api.fail_next("POST", "/api/v1/statuses", 503)
    with pytest.raises(MastodonServiceUnavailableError):
        m.status_post("hello", idempotency_key="k")
    assert api.statuses == []
    m.status_post("hello", idempotency_key="k")
    assert len(api.statuses) == 1


def test_forget_idempotency_fault_duplicates(api, m):
    m.status_post("hello", idempotency_key="k")
    api.fail_next("POST", "/api/v1/statuses", "forget_idempotency")
    m.status_post("hello", idempotency_key="k")
    assert len(api.statuses) == 2


def test_bad_token_is_401(api):
    bad = client(api, token="nope")
    with pytest.raises(MastodonUnauthorizedError) as exc:
        bad.status_post("x")
    assert exc.value.args[1] == 401
    assert exc.value.args[3] == "The access token is invalid"
    with pytest.raises(MastodonUnauthorizedError):
        bad.account_verify_credentials()
    assert api.statuses == []


def test_too_long_is_422_and_length_function_is_injectable(api, m):
    with pytest.raises(MastodonAPIError) as exc:
        m.status_post("x" * 501)
    assert type(exc.value) is MastodonAPIError
    assert exc.value.args[1] == 422
    assert exc.value.args[3] == "Validation failed: Text character limit of 500 exceeded"
    # a URL counts as 23 whatever its length
    m.status_post("x" * 470 + " https://example.com/" + "p" * 100)
    api.length_of = lambda text, spoiler: 10_000
    with pytest.raises(MastodonAPIError):
        m.status_post("short")
    assert len(api.statuses) == 1


def test_spoiler_counts_toward_the_limit(api, m):
    with pytest.raises(MastodonAPIError):
        m.status_post("x" * 490, spoiler_text="y" * 11)
    m.status_post("x" * 490, spoiler_text="y" * 10)


def test_rate_limit_fault_raises_and_sends_headers(api, m):
    api.fail_next("POST", "/api/v1/statuses", "rate_limit", reset_in=120)
    with pytest.raises(MastodonRatelimitError):
        m.status_post("hello")
    assert api.statuses == []
    r = requests.get(api.base_url + "/api/v1/instance", timeout=5)
    assert int(r.headers["X-RateLimit-Remaining"]) < int(r.headers["X-RateLimit-Limit"])
    datetime.fromisoformat(r.headers["X-RateLimit-Reset"].replace("Z", "+00:00"))
    api.fail_next("GET", "/api/v1/instance", "rate_limit", reset_in=60)
    r = requests.get(api.base_url + "/api/v1/instance", timeout=5)
    assert r.status_code == 429
    assert r.json() == {"error": "Too many requests"}
    assert r.headers["X-RateLimit-Remaining"] == "0"
    reset = datetime.fromisoformat(r.headers["X-RateLimit-Reset"].replace("Z", "+00:00"))
    assert 50 < (reset - datetime.now(UTC)).total_seconds() < 70
    assert "Retry-After" not in r.headers


def test_status_limit_per_three_hours(api, m):
    api.status_limit = 2
    m.status_post("1")
    m.status_post("2")
    with pytest.raises(MastodonRatelimitError):
        m.status_post("3")
    api.advance(3 * 3600)
    m.status_post("3")
    assert api.status_texts() == ["1", "2", "3"]


def test_status_limit_counts_each_account_apart(api, m):
    api.status_limit = 1
    api.grant_token("other-token")
    other = Mastodon(
        access_token="other-token", api_base_url=api.base_url, version_check_mode="none",
        ratelimit_method="throw", request_timeout=5,
    )
    m.status_post("mine")
    other.status_post("theirs")
    with pytest.raises(MastodonRatelimitError):
        m.status_post("mine again")
    assert api.status_texts() == ["mine", "theirs"]


@pytest.mark.parametrize(
    ("code", "exc_type"),
    [
        (500, MastodonInternalServerError),
        (502, MastodonBadGatewayError),
        (503, MastodonServiceUnavailableError),
    ],
)
def test_server_error_faults(api, m, code, exc_type):
    api.fail_next("POST", "/api/v1/statuses", code)
    with pytest.raises(exc_type):
        m.status_post("hello")
    assert api.statuses == []
    m.status_post("hello")  # the fault was used up
    assert len(api.statuses) == 1


@pytest.mark.parametrize("code", [403, 422])
def test_client_error_faults_with_message(api, m, code):
    api.fail_next("POST", "/api/v1/statuses", "status", code=code, message="Nope")
    with pytest.raises(MastodonAPIError) as exc:
        m.status_post("hello")
    assert exc.value.args[1] == code
    assert exc.value.args[3] == "Nope"
    assert api.statuses == []


def test_fault_times_and_patterns(api, m):
    api.fail_next("*", "/api/v1/statuses/*", 500, times=2)
    s = m.status_post("hello")
    for _ in range(2):
        with pytest.raises(MastodonInternalServerError):
            m.status(s.id)
    assert m.status(s.id).id == s.id


def test_drop_after_create_loses_the_answer_only(api, m):
    api.fail_next("POST", "/api/v1/statuses", "drop_after_create")
    with pytest.raises(MastodonNetworkError):
        m.status_post("hello", idempotency_key="k")
    assert len(api.statuses) == 1
    again = m.status_post("hello", idempotency_key="k")
    assert str(again.id) == api.statuses[0]["id"]
    assert len(api.statuses) == 1


@pytest.mark.parametrize("create", [True, False])
def test_delay_beyond_the_client_timeout(api, create):
    impatient = client(api, timeout=0.2)
    api.fail_next("POST", "/api/v1/statuses", "delay", seconds=0.6, create=create)
    with pytest.raises(MastodonNetworkError):
        impatient.status_post("hello")
    assert len(api.statuses) == (1 if create else 0)


def test_drop_and_reset_faults(api, m):
    api.fail_next("GET", "/api/v1/accounts/verify_credentials", "drop")
    api.fail_next("GET", "/api/v1/accounts/verify_credentials", "reset")
    for _ in range(2):
        with pytest.raises(MastodonNetworkError):
            m.account_verify_credentials()
    assert m.account_verify_credentials().username == "bot"


def test_unknown_fault_kind_is_refused(api):
    with pytest.raises(ValueError):
        api.fail_next("POST", "/api/v1/statuses", "explode")


def test_account_statuses_newest_first_with_limit(api, m):
    for i in range(5):
        m.status_post(f"post {i}")
    m.status_post("secret", visibility="private")
    me = m.account_verify_credentials()
    assert me.source.language == "en"
    got = m.account_statuses(me.id, limit=3)
    assert [s.content for s in got] == ["<p>secret</p>", "<p>post 4</p>", "<p>post 3</p>"]
    older = m.fetch_next(got)
    assert [s.content for s in older] == ["<p>post 2</p>", "<p>post 1</p>", "<p>post 0</p>"]
    anonymous = requests.get(f"{api.base_url}/api/v1/accounts/{me.id}/statuses", timeout=5).json()
    assert len(anonymous) == 5  # private ones only for the owner
    assert m.status(got[0].id).visibility == "private"
    with pytest.raises(MastodonNotFoundError):
        m.status("999")


def test_add_status_seeds_history(api, m):
    api.add_status("from an earlier run https://blog.example/1")
    me = m.account_verify_credentials()
    (s,) = m.account_statuses(me.id)
    assert 'href="https://blog.example/1"' in s.content


def test_scopes_are_enforced(api):
    api.grant_token("read-only", "read")
    ro = client(api, token="read-only")
    assert ro.account_verify_credentials().acct == "bot"
    with pytest.raises(MastodonAPIError) as exc:
        ro.status_post("x")
    assert exc.value.args[1] == 403


# -- Mastodon API: instance -------------------------------------------------------------------
def test_instance_v2_parses(api, m):
    info = m.instance_v2()
    assert info.configuration.statuses.max_characters == 500
    assert info.configuration.statuses.characters_reserved_per_url == 23
    assert info.api_versions.mastodon == 2


@pytest.mark.parametrize("mode", ["v2", "v1", "max_toot_chars", "none"])
def test_instance_modes(mode):
    with MastodonAPI(instance_api=mode, max_characters=5000) as api:
        v2 = requests.get(api.base_url + "/api/v2/instance", timeout=5)
        v1 = requests.get(api.base_url + "/api/v1/instance/", timeout=5)
        assert v2.status_code == (200 if mode == "v2" else 404)
        assert v1.status_code == (404 if mode == "none" else 200)
        if mode in ("v2", "v1"):
            assert v1.json()["configuration"]["statuses"]["max_characters"] == 5000
        if mode == "max_toot_chars":
            assert v1.json()["max_toot_chars"] == 5000
            assert "configuration" not in v1.json()
        if mode != "none":
            # Mastodon.py 2.3.3 reads the version from /api/v1/instance; with no instance
            # endpoint at all, retrieve_mastodon_version() (and so media_post) recurses
            # until RecursionError: do not call it against a server without one.
            client(api).retrieve_mastodon_version()
        assert api.errors == []


# -- Mastodon API: media ----------------------------------------------------------------------
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def test_media_post_image_is_ready(api, m):
    media = m.media_post(PNG, mime_type="image/png", description="alt")
    assert media.url.endswith(".png")
    assert media.description == "alt"
    s = m.status_post("with media", media_ids=[media])
    assert [a.id for a in s.media_attachments] == [media.id]
    assert api.statuses[0]["media_ids"] == [str(media.id)]


def test_media_processing_then_poll(api, m, monkeypatch):
    api.media_processing_polls = 2
    media = m.media_post(PNG, mime_type="image/png")
    assert media.url is None
    assert api.requests[-1][1] == "/api/v2/media"
    with pytest.raises(MastodonAPIError):  # unprocessed media cannot be attached
        m.status_post("too soon", media_ids=[media])
    r = requests.get(
        f"{api.base_url}/api/v1/media/{media.id}",
        headers={"Authorization": "Bearer test-token"},
        timeout=5,
    )
    assert r.status_code == 206
    assert m.media(media).url is not None  # second poll: 200
    # Mastodon.py's own synchronous polling (it sleeps 5 s per poll: skip the sleeping)
    api.media_processing_polls = 1
    monkeypatch.setattr("mastodon.media.time.sleep", lambda s: None)
    done = m.media_post(PNG, mime_type="image/png", synchronous=True)
    assert done.url is not None


def test_media_description_limit(api, m):
    with pytest.raises(MastodonAPIError):
        m.media_post(PNG, mime_type="image/png", description="d" * 1501)


# -- Mastodon API: OAuth ----------------------------------------------------------------------
def test_oauth_code_flow(api):
    scopes = ["write:statuses", "write:media", "read:accounts"]
    client_id, client_secret = Mastodon.create_app(
        "crossposter", scopes=scopes, api_base_url=api.base_url
    )
    app = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=api.base_url)
    url = app.auth_request_url(scopes=scopes, allow_http=True)
    assert url.startswith(api.base_url + "/oauth/authorize?")
    page = requests.get(url, timeout=5)
    assert page.status_code == 200 and "good-code" in page.text
    with pytest.raises(Exception, match="invalid_grant"):
        app.log_in(code="bad-code", scopes=scopes, allow_http=True)
    token = app.log_in(code="good-code", scopes=scopes, allow_http=True)
    assert token in api.valid_tokens
    assert client(api, token=token).account_verify_credentials().acct == "bot"
    client(api, token=token).status_post("hello")
    assert api.statuses[0]["token"] == token


def test_oauth_refuses_http_without_allow_http(api):
    client_id, client_secret = Mastodon.create_app("x", scopes=["read"], api_base_url=api.base_url)
    app = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=api.base_url)
    with pytest.raises(Exception, match="http"):
        app.auth_request_url(scopes=["read"])


def test_two_servers_at_once():
    with MastodonAPI() as a, MastodonAPI(valid_tokens={"other"}) as b:
        assert a.base_url != b.base_url
        client(a).status_post("on a")
        client(b, token="other").status_post("on b")
        assert a.status_texts() == ["on a"]
        assert b.status_texts() == ["on b"]


def test_concurrent_posts_with_one_key_create_one_status(api):
    results = []

    def post():
        try:
            results.append(client(api).status_post("race", idempotency_key="same").id)
        except MastodonServiceUnavailableError:
            results.append("503")

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(api.statuses) == 1
    assert len(results) == 4


# -- feed server ----------------------------------------------------------------------------
BODY = feeds.rss([{"title": "Hello", "link": "https://blog.example.org/hello", "guid": "1"}])


@pytest.fixture
def fs():
    with FeedServer() as server:
        server.set_feed("/feed.xml", BODY)
        yield server
        assert server.errors == []


def test_feed_is_served_with_validators_and_304(fs):
    r = requests.get(fs.url("/feed.xml"), timeout=5)
    assert r.status_code == 200
    assert r.text == BODY
    assert r.headers["Content-Type"].startswith("application/rss+xml")
    etag, last_modified = r.headers["ETag"], r.headers["Last-Modified"]
    assert etag.startswith('"') and not etag.startswith("W/")
    r2 = requests.get(fs.url("/feed.xml"), headers={"If-None-Match": etag}, timeout=5)
    assert r2.status_code == 304 and r2.content == b""
    assert r2.headers["ETag"] == etag
    r3 = requests.get(fs.url("/feed.xml"), headers={"If-Modified-Since": last_modified}, timeout=5)
    assert r3.status_code == 304
    fs.set_feed("/feed.xml", BODY.replace("Hello", "Changed"))
    r4 = requests.get(fs.url("/feed.xml"), headers={"If-None-Match": etag}, timeout=5)
    assert r4.status_code == 200 and r4.headers["ETag"] != etag
    assert fs.count("GET", "/feed.xml") == 4
    assert fs.requests[1][2]["If-None-Match"] == etag


def test_feed_gzip(fs):
    r = requests.get(fs.url("/feed.xml"), stream=True, timeout=5)
    raw = r.raw.read(decode_content=False)
    assert r.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(raw).decode() == BODY
    plain = requests.get(fs.url("/feed.xml"), headers={"Accept-Encoding": "identity"}, timeout=5)
    assert "Content-Encoding" not in plain.headers
    fs.gzip = False
    assert "Content-Encoding" not in requests.get(fs.url("/feed.xml"), timeout=5).headers


@pytest.mark.parametrize("code", [301, 302, 308])
def test_feed_redirects(fs, code):
    fs.set_redirect("/old", "/feed.xml", code)
    r = requests.get(fs.url("/old"), timeout=5)
    assert [h.status_code for h in r.history] == [code]
    assert r.url == fs.url("/feed.xml")
    assert r.text == BODY


def test_feed_redirect_loop(fs):
    fs.set_redirect_loop("/loop")
    with pytest.raises(requests.TooManyRedirects):
        requests.get(fs.url("/loop"), timeout=5)


@pytest.mark.parametrize("code", [404, 410, 500, 503])
def test_feed_status_faults(fs, code):
    fs.set_status("/feed.xml", code, times=1)
    assert requests.get(fs.url("/feed.xml"), timeout=5).status_code == code
    assert requests.get(fs.url("/feed.xml"), timeout=5).status_code == 200


def test_unknown_path_is_404(fs):
    assert requests.get(fs.url("/nope"), timeout=5).status_code == 404


@pytest.mark.parametrize("declare_length", [True, False])
def test_feed_large_body_is_streamed(fs, declare_length):
    size = 50 * 1024 * 1024
    fs.set_large("/big", size, declare_length=declare_length)
    with requests.get(fs.url("/big"), stream=True, timeout=5) as r:
        if declare_length:
            assert int(r.headers["Content-Length"]) == size
        else:
            assert r.headers["Transfer-Encoding"] == "chunked"
        got = 0
        for chunk in r.iter_content(65536):
            got += len(chunk)
            if got > 1024 * 1024:
                break
    assert got > 1024 * 1024
    small = 200_000
    fs.set_large("/medium", small, declare_length=declare_length)
    assert len(requests.get(fs.url("/medium"), timeout=5).content) == small


def test_feed_gzip_bomb(fs):
    fs.set_gzip_bomb("/bomb", decompressed_size=100 * 1024 * 1024)
    with requests.get(fs.url("/bomb"), stream=True, timeout=5) as r:
        assert r.headers["Content-Encoding"] == "gzip"
        assert int(r.headers["Content-Length"]) < 200_000
        inflated = 0
        for chunk in r.iter_content(65536):
            inflated += len(chunk)
            if inflated > 10 * 1024 * 1024:
                break
    assert inflated > 10 * 1024 * 1024
    raw = requests.get(fs.url("/bomb"), stream=True, timeout=5).raw.read(decode_content=False)
    d = zlib.decompressobj(31)
    assert len(d.decompress(raw, 1 << 20)) == 1 << 20


def test_feed_html_and_empty(fs):
    fs.set_html("/page")
    r = requests.get(fs.url("/page"), timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert "<html" in r.text
    fs.set_empty("/empty")
    r = requests.get(fs.url("/empty"), timeout=5)
    assert r.status_code == 200 and r.content == b""


def test_feed_reset_and_drop(fs):
    fs.set_reset("/feed.xml", times=1)
    with pytest.raises(requests.ConnectionError):
        requests.get(fs.url("/feed.xml"), timeout=5)
    fs.set_drop("/feed.xml", times=1)
    with pytest.raises(requests.ConnectionError):
        requests.get(fs.url("/feed.xml"), timeout=5)
    assert requests.get(fs.url("/feed.xml"), timeout=5).text == BODY


def test_feed_slow_and_delay(fs):
    fs.set_slow("/feed.xml", 0.5, times=1)
    with pytest.raises(requests.ReadTimeout):
        requests.get(fs.url("/feed.xml"), timeout=0.15)
    fs.delay = 0.05
    start = time.monotonic()
    assert requests.get(fs.url("/feed.xml"), timeout=5).status_code == 200
    assert time.monotonic() - start >= 0.05


def test_reset_is_a_real_rst(fs):
    fs.set_reset("/feed.xml")
    with socket.create_connection(("127.0.0.1", fs.port), timeout=5) as sock:
        sock.sendall(b"GET /feed.xml HTTP/1.1\r\nHost: x\r\n\r\n")
        with pytest.raises(ConnectionResetError):
            sock.recv(1024)


# -- fixture documents ------------------------------------------------------------------------
ITEMS = [
    {
        "title": "Café & crème",
        "link": "https://blog.example.org/cafe",
        "guid": "urn:post:1",
        "description": "<p>Some <b>HTML</b></p>",
        "categories": ["python", "Développement Web"],
        "pubDate": datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        "language": "fr",
    },
    {"title": "Second", "link": "https://blog.example.org/2"},
]


def test_rss_fixture_parses():
    doc = feeds.rss(ITEMS, title="Blog", link="https://blog.example.org/", language="fr")
    ET.fromstring(doc.encode())
    parsed = feedparser.parse(doc)
    assert not parsed.bozo
    assert parsed.feed.title == "Blog"
    assert parsed.feed.language == "fr"
    first = parsed.entries[0]
    assert first.title == "Café & crème"
    assert first.id == "urn:post:1"
    assert first.summary == "<p>Some <b>HTML</b></p>"
    assert [t.term for t in first.tags] == ["python", "Développement Web"]
    assert first.published_parsed[:3] == (2024, 5, 1)


def test_atom_fixture_parses():
    doc = feeds.atom(ITEMS, title="Blog", language="en")
    ET.fromstring(doc.encode())
    parsed = feedparser.parse(doc)
    assert not parsed.bozo
    first, second = parsed.entries
    assert first.link == "https://blog.example.org/cafe"
    assert first.id == "urn:post:1"
    assert first.summary == "<p>Some <b>HTML</b></p>"
    assert [t.term for t in first.tags] == ["python", "Développement Web"]
    assert second.id == "https://blog.example.org/2"
