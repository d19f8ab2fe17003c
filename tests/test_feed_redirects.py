"""A configured feed URL is trusted for itself only: when it reaches a public address, its
redirects must too, so a public blog cannot lead the bot into the network it runs in. No
request reads ~/.netrc; the environment's proxies serve the configured URLs and the
instance, never URLs found inside feeds.

"Public" on loopback: the policy's injectable resolver and classifier (net.public) say
which loopback address stands for a public one. The "internal" server, on 127.0.0.2,
stands for an admin page or a metadata endpoint.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crossposter.cli import main
from crossposter.errors import TemporaryFeedError
from crossposter.feeds.fetch import FetchOptions, FetchRequest, fetch_all
from crossposter.mastodon.media import download_image
from crossposter.models import ImageRef, InstanceLimits
from crossposter.net.addresses import AddressPolicy

from conftest import PNG
from support.blog import feed_of, write_config

FEED = feed_of(1)


def public_127_0_0_1(*, allow_private: bool = False) -> AddressPolicy:
    """Every name resolves to 127.0.0.1, which stands for a public address."""
    return AddressPolicy(
        allow_private=allow_private,
        resolve=lambda host, port: ["127.0.0.1"],
        is_public=lambda address: str(address) == "127.0.0.1",
    )


def fetched(url: str, policy: AddressPolicy):
    [result] = fetch_all([FetchRequest("blog", url)], FetchOptions(addresses=policy))
    return result


def test_a_public_feed_redirecting_to_a_private_address_fails_naming_it(feeds, internal):
    feeds.set_redirect("/feed", internal.url("/feed"), code=302)
    result = fetched(f"http://blog.test:{feeds.port}/feed", public_127_0_0_1())
    assert result.error is not None and not result.error.temporary
    assert "127.0.0.2" in result.error.reason
    assert internal.count() == 0


def test_every_hop_of_a_public_feed_is_checked_not_only_the_first(feeds, internal):
    feeds.set_redirect("/feed", f"http://blog.test:{feeds.port}/moved", code=301)
    feeds.set_redirect("/moved", internal.url("/feed"), code=302)
    result = fetched(f"http://blog.test:{feeds.port}/feed", public_127_0_0_1())
    assert result.error is not None and "127.0.0.2" in result.error.reason
    assert feeds.count("GET", "/moved") == 1
    assert internal.count() == 0


def test_a_public_feed_may_redirect_to_another_public_address(feeds):
    feeds.set_redirect("/feed", f"http://www.blog.test:{feeds.port}/new-feed", code=301)
    feeds.set_feed("/new-feed", FEED)
    result = fetched(f"http://blog.test:{feeds.port}/feed", public_127_0_0_1())
    assert result.error is None and result.content.decode() == FEED


def test_a_lan_feed_may_redirect_within_private_space(feeds, internal):
    """The configured URL is the user's word: a blog on the LAN, moved to another LAN host."""
    feeds.set_redirect("/feed", internal.url("/feed"), code=302)
    result = fetched(feeds.url("/feed"), AddressPolicy())
    assert result.error is None and internal.count("GET", "/feed") == 1


def test_allow_private_urls_in_feeds_lets_a_public_feed_redirect_inside(feeds, internal):
    feeds.set_redirect("/feed", internal.url("/feed"), code=302)
    result = fetched(f"http://blog.test:{feeds.port}/feed", public_127_0_0_1(allow_private=True))
    assert result.error is None and internal.count("GET", "/feed") == 1


def test_a_redirect_hop_connects_to_the_address_it_checked(feeds, internal):
    """DNS rebinding on a hop: a second lookup of the hop's name would answer 127.0.0.2."""
    answers = {"blog.test": iter([["127.0.0.1"]]), "cdn.test": iter([["127.0.0.1"]])}
    policy = AddressPolicy(
        resolve=lambda host, port: next(answers[host], ["127.0.0.2"]),
        is_public=lambda address: str(address) == "127.0.0.1",
    )
    feeds.set_redirect("/feed", f"http://cdn.test:{feeds.port}/feed.xml", code=302)
    feeds.set_feed("/feed.xml", FEED)
    result = fetched(f"http://blog.test:{feeds.port}/feed", policy)
    assert result.error is None and result.content.decode() == FEED
    assert internal.count() == 0


def test_a_refused_redirect_is_one_error_naming_the_feed_and_exits_1(
    tmp_path, api, feeds, internal, token, caplog, monkeypatch
):
    """The run as cron sees it: the refused address and the feed's name in one ERROR."""
    feeds.set_redirect("/feed", internal.url("/feed"), code=302)
    monkeypatch.setattr("crossposter.config.models.AddressPolicy", public_127_0_0_1)
    config = write_config(
        tmp_path, api, f"- {{name: blog, url: 'http://blog.test:{feeds.port}/feed'}}"
    )
    assert main(["run", "--config", config]) == 1
    errors = [record for record in caplog.records if record.levelname == "ERROR"]
    assert len(errors) == 1
    assert "blog" in errors[0].getMessage() and "127.0.0.2" in errors[0].getMessage()
    assert internal.count() == 0


# -- ~/.netrc is never read -------------------------------------------------------------


@pytest.fixture
def netrc_for_loopback(monkeypatch):
    netrc = Path(os.environ["HOME"]) / ".netrc"
    netrc.write_text("machine 127.0.0.1 login admin password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))


def test_no_request_of_a_run_carries_netrc_credentials(
    tmp_path, api, feeds, token, netrc_for_loopback
):
    feeds.set_feed("/feed", feed_of(1))
    config = write_config(
        tmp_path, api, f"- {{name: blog, url: '{feeds.url('/feed')}', backfill: 1}}"
    )
    assert main(["run", "--config", config]) == 0
    assert len(api.statuses) == 1
    for _, path, headers in [*feeds.requests, *api.requests]:
        assert not headers.get("Authorization", "").startswith("Basic"), path


def test_a_redirected_feed_carries_no_netrc_credentials(feeds, netrc_for_loopback):
    feeds.set_redirect("/feed", feeds.url("/feed.xml"), code=302)
    feeds.set_feed("/feed.xml", FEED)
    assert fetched(feeds.url("/feed"), AddressPolicy()).error is None
    assert all("Authorization" not in headers for _, _, headers in feeds.requests)


# -- proxies: for the configured URLs, never for URLs found in feeds ----------------------


def test_the_environments_proxy_serves_a_configured_feed(feeds, monkeypatch):
    """The feed server stands for the proxy: it is asked for the absolute URL."""
    monkeypatch.setenv("HTTP_PROXY", feeds.url("/"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    feeds.set_feed("http://blog.test/feed", FEED)
    result = fetched("http://blog.test/feed", AddressPolicy())
    assert result.error is None and result.content.decode() == FEED


def test_no_proxy_leaves_a_configured_feed_to_go_direct(feeds, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    feeds.set_feed("/feed", FEED)
    assert fetched(feeds.url("/feed"), AddressPolicy()).error is None


def test_an_image_url_from_a_feed_never_goes_through_the_proxy(feeds, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    feeds.set_feed("/cat.png", PNG, content_type="image/png")
    image = download_image(
        ImageRef(feeds.url("/cat.png")), InstanceLimits(), policy=AddressPolicy(True)
    )
    assert image.data == PNG


def test_a_feed_proxy_that_cannot_be_reached_is_a_temporary_failure(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    result = fetched("http://blog.test/feed", AddressPolicy())
    assert isinstance(result.error, TemporaryFeedError)
