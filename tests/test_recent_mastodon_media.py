"""Uploads and deletions as Mastodon 4.4 does them (issue 20): a deleted toot takes its media
along (`delete_media`), an upload no toot will use is deleted (DELETE /api/v1/media/:id),
an upload of a post still pending is kept; a 4.2 server is asked none of it."""

from __future__ import annotations

import pytest

from crossposter.cli import main

from support.blog import write_config
from support.feed_server import FeedServer
from support.feeds import rss
from support.mastodon_api import MastodonAPI

# No validators: every run reads the feed whole, as test_lifecycle's blog does.
FRESH = {"etag": False, "last_modified": False}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(200)


@pytest.fixture(params=["4.2", "4.4", "4.5"])
def server(request):
    with MastodonAPI(release=request.param) as api:
        yield api


@pytest.fixture
def site():
    with FeedServer() as server:
        server.set_feed("/img/1.png", PNG, content_type="image/png")
        yield server


def with_image(site, n: int = 1) -> dict:
    image = {"url": site.url("/img/1.png"), "type": "image/png"}
    return {"title": f"Article {n}", "link": f"https://blog.example.org/{n}/", "enclosure": image}


def blog(tmp_path, api, site) -> str:
    """A feed with `image: true`, already seen once (nothing to announce yet)."""
    site.set_feed("/blog", rss([{"title": "Old", "link": "https://blog.example.org/old/"}]))
    feed = f"- {{name: blog, url: '{site.url('/blog')}', image: true}}"
    config = write_config(
        tmp_path, api, feed, allow_private_urls_in_feeds=True, post_retry_seconds=0.2
    )
    assert main(["run", "--config", config]) == 0
    return config


def test_a_retracted_toot_takes_its_media_along_where_the_server_can(
    tmp_path, server, site, token
):
    config = blog(tmp_path, server, site)
    site.set_feed("/blog", rss([with_image(site)]))
    assert main(["run", "--config", config]) == 0
    [status] = server.statuses
    [media_id] = status["media_ids"]

    assert main(["retract", "--config", config, "blog", "https://blog.example.org/1/"]) == 0

    assert server.deleted and not server.statuses
    if server.release == "4.2":
        assert server.ignored_params == [], "delete_media is never sent before 4.4"
        assert media_id in server.media
    else:
        assert server.deleted_media == [media_id]


def test_an_upload_of_a_toot_refused_with_it_is_deleted(tmp_path, server, site, token):
    config = blog(tmp_path, server, site)
    server.fail_next("POST", "/api/v1/statuses", 422, message="Validation failed: media gone")
    site.set_feed("/blog", rss([with_image(site)]))
    assert main(["run", "--config", config]) == 0
    [status] = server.statuses
    assert status["media_ids"] == []
    [media_id] = server.media if server.release == "4.2" else [*server.deleted_media]
    if server.release == "4.2":
        assert server.count("DELETE", f"/api/v1/media/{media_id}") == 0
    else:
        assert server.deleted_media == [media_id] and media_id not in server.media


def test_the_upload_of_a_post_still_pending_is_kept_for_its_retry(tmp_path, site, token):
    with MastodonAPI(release="4.5") as api:
        config = blog(tmp_path, api, site)
        api.fail_next("POST", "/api/v1/statuses", 503, times=1000)
        site.set_feed("/blog", rss([with_image(site)]))
        assert main(["run", "--config", config]) == 75
        [media_id] = api.media
        assert api.deleted_media == [] and api.count("DELETE") == 0

        api.clear_faults()
        assert main(["run", "--config", config]) == 0
        [status] = api.statuses
        assert status["media_ids"] == [media_id]


def test_an_upload_that_could_not_be_deleted_is_deleted_by_a_later_run(tmp_path, site, token):
    with MastodonAPI(release="4.4") as api:
        config = blog(tmp_path, api, site)
        api.fail_next("POST", "/api/v1/statuses", 422, message="Validation failed: media gone")
        api.fail_next("DELETE", "/api/v1/media/*", 503, times=2)  # now, and at the run's end
        site.set_feed("/blog", rss([with_image(site)]))
        assert main(["run", "--config", config]) == 0
        [media_id] = api.media
        assert api.deleted_media == [], "the instance failed: recorded for later"

        assert main(["run", "--config", config]) == 0
        assert api.deleted_media == [media_id]
        assert main(["run", "--config", config]) == 0
        assert api.count("DELETE", f"/api/v1/media/{media_id}") == 3, "once deleted, forgotten"


def test_a_removed_articles_toot_goes_with_its_media_where_the_server_can(
    tmp_path, server, site, token
):
    from datetime import timedelta

    from crossposter.config import load_settings
    from crossposter.pipeline import run
    from crossposter.state import now_utc

    site.set_feed("/blog", rss([{"title": "Old", "link": site.url("/old/")}]), **FRESH)
    feed = f"- {{name: blog, url: '{site.url('/blog')}', on_remove: delete}}"
    config = write_config(tmp_path, server, feed, allow_private_urls_in_feeds=True)
    assert main(["run", "--config", config]) == 0
    old = {"title": "Old", "link": site.url("/old/")}
    site.set_feed("/blog", rss([{"title": "One", "link": site.url("/1/")}, old]), **FRESH)
    assert main(["run", "--config", config]) == 0
    [toot] = server.statuses

    site.set_feed("/blog", rss([old]), **FRESH)  # its page at /1/ answers 404
    start = now_utc()
    for minutes in (1, 70):  # gone on two checks an hour apart
        settings = load_settings(config)
        assert run(settings, clock=lambda m=minutes: start + timedelta(minutes=m)).exit_code == 0
    assert server.statuses == []
    expected = [] if server.release == "4.2" else [toot["id"]]
    assert server.deleted_with_media == expected
    assert server.ignored_params == []
