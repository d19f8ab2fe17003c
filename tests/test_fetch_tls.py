"""Feeds over HTTPS: the certificate checked for the URL's name, at the address checked,
with the CA bundle requests would trust; through the environment's proxy, a CONNECT
tunnel. A throw-away CA (trustme) signs the loopback server's certificate."""

from __future__ import annotations

import contextlib
import socket
import threading

import pytest
import trustme

from crossposter.errors import TemporaryFeedError
from crossposter.feeds.fetch import FetchOptions, FetchRequest, fetch_all, fetch_one
from crossposter.net.addresses import AddressPolicy

from support.feed_server import FeedServer
from support.feeds import rss

FEED = rss([{"title": "Bonjour", "link": "https://blog.example.org/bonjour"}])


@pytest.fixture(scope="module")
def authority():
    return trustme.CA()


@pytest.fixture
def tls_feeds(authority):
    server = FeedServer()
    context = authority.issue_cert("localhost", "127.0.0.1").configure_cert
    server.tls = _server_context(context)
    with server:
        server.set_feed("/feed", FEED)
        yield server


@pytest.fixture
def trusted(authority, tmp_path, monkeypatch):
    """The environment names a CA bundle holding the test CA, as REQUESTS_CA_BUNDLE does."""
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    return bundle


def _server_context(configure):
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    configure(context)
    return context


def test_an_https_feed_is_fetched_trusting_the_bundle_the_environment_names(tls_feeds, trusted):
    first = fetch_one(FetchRequest("blog", tls_feeds.url("/feed")))
    assert first.content.decode() == FEED
    again = fetch_one(FetchRequest("blog", tls_feeds.url("/feed"), first.validators))
    assert again.not_modified


def test_a_certificate_no_trusted_authority_signed_is_a_temporary_failure(
    tls_feeds, monkeypatch
):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with pytest.raises(TemporaryFeedError, match=r"connection failed: .*certificate verify"):
        fetch_one(FetchRequest("blog", tls_feeds.url("/feed")))


def test_the_certificate_must_be_for_the_urls_name_not_for_the_address_connected_to(
    tls_feeds, trusted
):
    # The name is pinned to the server's address, whose certificate is for other names.
    pinned = AddressPolicy(allow_private=True, resolve=lambda host, port: ["127.0.0.1"])
    url = f"https://blog.other.test:{tls_feeds.port}/feed"
    with pytest.raises(TemporaryFeedError, match=r"connection failed: .*certificate verify"):
        fetch_one(FetchRequest("blog", url), FetchOptions(addresses=pinned))


def test_feeds_on_one_https_host_reuse_their_connection(tls_feeds, trusted):
    accepted = []
    original = tls_feeds._httpd.get_request

    def counted():
        accepted.append(1)
        return original()

    tls_feeds._httpd.get_request = counted
    requests = [FetchRequest(f"f{i}", tls_feeds.url("/feed")) for i in range(6)]
    results = fetch_all(requests, FetchOptions(per_host=1))
    assert all(result.error is None for result in results)
    assert len(accepted) == 1, "one TLS handshake for six feeds of one host"


class ConnectProxy:
    """An HTTP proxy that only tunnels (CONNECT), to loopback, recording what it was asked."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.asked: list[str] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += client.recv(4096)
        line = head.split(b"\r\n", 1)[0].decode()
        self.asked.append(line)
        port = int(line.split(" ")[1].rsplit(":", 1)[1])
        upstream = socket.create_connection(("127.0.0.1", port))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
        back.start()
        _pipe(client, upstream)
        back.join(5)
        client.close()
        upstream.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() waiting on it
        self.listener.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def test_an_https_feed_goes_through_the_environments_proxy_in_a_tunnel(
    tls_feeds, trusted, monkeypatch
):
    proxy = ConnectProxy()
    for name in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    url = f"https://localhost:{tls_feeds.port}/feed"
    try:
        result = fetch_one(FetchRequest("blog", url))
    finally:
        proxy.close()
    assert result.content.decode() == FEED
    assert proxy.asked == [f"CONNECT localhost:{tls_feeds.port} HTTP/1.1"]
    # Through the tunnel, the server heard the feed's own request.
    assert tls_feeds.requests[-1][1] == "/feed"
