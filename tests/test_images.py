"""An entry's image: where it comes from, its alt text, and getting it onto the
instance — or, when anything about it fails, a reason and no image."""

from __future__ import annotations

import sqlite3
import time

import pytest
from mastodon import Mastodon

from crossposter.accounts import Account
from crossposter.cli import main
from crossposter.compose.images import choose_image, cut_description
from crossposter.config import load_settings
from crossposter.errors import ImageUnavailable
from crossposter.feeds.parse import parse_feed
from crossposter.mastodon.instance import limits_from_documents
from crossposter.mastodon.media import ImageFile, download_image, sniff_type, upload_image
from crossposter.mastodon.publish import Publisher, PublishOptions
from crossposter.models import Entry, ImageRef, InstanceLimits
from crossposter.net.addresses import AddressPolicy
from crossposter.pipeline import run

from support.blog import TOKEN, write_config
from support.feeds import rss
from support.mastodon_api import MastodonAPI

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(200)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(200)
FEED_URL = "https://blog.example.org/feed/"
LIMITS = InstanceLimits()
# The test servers are on loopback, where a feed's URLs may not lead by default.
LAN = AddressPolicy(allow_private=True)


def media_rss(item_body: str) -> bytes:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"
     xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Blog</title><link>https://blog.example.org/</link>
<item><title>A cat</title><link>https://blog.example.org/cat/</link>{item_body}</item>
</channel></rss>""".encode()


def only_entry(document: bytes | str) -> Entry:
    if isinstance(document, str):
        document = document.encode()
    (entry,) = parse_feed(document, url=FEED_URL).entries
    return entry


def chosen(document: bytes | str, limits: InstanceLimits = LIMITS) -> ImageRef | None:
    return choose_image(only_entry(document), limits)


# -- where the image comes from --------------------------------------------------------


def test_media_content_with_its_description_comes_first():
    image = chosen(
        media_rss(
            '<media:content url="/img/cat.jpg" medium="image">'
            "<media:description>A ginger cat asleep on a keyboard</media:description>"
            "</media:content>"
            '<enclosure url="https://cdn.example/other.png" type="image/png" length="1"/>'
        )
    )
    assert image == ImageRef(
        "https://blog.example.org/img/cat.jpg", "A ginger cat asleep on a keyboard", "image/jpeg"
    )


def test_a_description_of_the_group_or_the_item_applies_to_its_media():
    grouped = chosen(
        media_rss(
            '<media:group><media:content url="https://cdn.example/a.webp" type="image/webp"/>'
            "<media:description>Described by its group</media:description></media:group>"
        )
    )
    item_level = chosen(
        media_rss(
            '<media:thumbnail url="https://cdn.example/t.png"/>'
            "<media:description>Described by its item</media:description>"
        )
    )
    assert (grouped.alt, grouped.type) == ("Described by its group", "image/webp")
    assert (item_level.url, item_level.alt) == (
        "https://cdn.example/t.png",
        "Described by its item",
    )


def test_a_media_thumbnail_is_an_image_even_without_a_type():
    image = chosen(media_rss('<media:thumbnail url="https://cdn.example/thumb?id=3"/>'))
    assert image == ImageRef("https://cdn.example/thumb?id=3", "A cat", None)


def test_a_video_or_sound_is_passed_over_for_its_thumbnail():
    image = chosen(
        media_rss(
            '<media:content url="https://cdn.example/talk.mp4" type="video/mp4">'
            '<media:thumbnail url="https://cdn.example/talk.jpg"/></media:content>'
        )
    )
    assert image.url == "https://cdn.example/talk.jpg"


def test_an_image_enclosure_is_used_and_a_podcast_episode_is_not():
    picture = rss(
        [{"title": "Photo", "link": "https://b.example/1", "enclosure": {"url": "/p/1.png"}}]
    )
    episode = rss(
        [
            {
                "title": "Episode 1",
                "link": "https://b.example/1",
                "enclosure": {"url": "https://b.example/1.mp3", "type": "audio/mpeg"},
            }
        ]
    )
    assert chosen(picture) == ImageRef("https://blog.example.org/p/1.png", "Photo", "image/png")
    assert chosen(episode) is None


def test_the_first_picture_of_the_content_with_its_alt():
    document = rss(
        [
            {
                "title": "Holiday",
                "link": "https://blog.example.org/holiday/",
                "content": '<p><img src="https://s.w.org/images/core/emoji/smile.png" '
                'class="wp-smiley" alt="🙂"> <img src="https://stats.example/pixel.gif" '
                'width="1" height="1"> Day one.</p><img src="photos/beach.jpg" '
                'alt="A  beach\nat dawn"><img src="photos/second.jpg" alt="Second">',
            }
        ]
    )
    assert chosen(document) == ImageRef(
        "https://blog.example.org/feed/photos/beach.jpg", "A beach at dawn", "image/jpeg"
    )


def test_a_declared_image_takes_the_alt_the_article_gives_the_same_picture():
    image = chosen(
        media_rss(
            '<media:content url="https://cdn.example/cat.jpg" medium="image"/>'
            "<content:encoded><![CDATA[<img src='https://cdn.example/cat.jpg' alt='Tom'>]]>"
            "</content:encoded>"
        )
    )
    assert image.alt == "Tom"


def test_an_image_type_the_instance_refuses_is_passed_over():
    document = rss(
        [
            {
                "title": "Logo",
                "link": "https://b.example/1",
                "content": '<img src="/logo.svg" alt="logo"><img src="/shot.png" alt="shot">',
            }
        ]
    )
    assert chosen(document).alt == "shot"


def test_no_image_at_all():
    assert chosen(rss([{"title": "Words only", "link": "https://b.example/1"}])) is None


def test_a_feed_only_feedparser_can_read_still_gives_its_media_without_descriptions():
    document = media_rss('<media:content url="https://cdn.example/a.png" medium="image"/>')
    for damaged in (
        document.replace(b'encoding="utf-8"', b'encoding="no-such-encoding"'),
        document.replace(b"</channel>", b"<unclosed></channel>"),
    ):
        assert [image.url for image in only_entry(damaged).images] == ["https://cdn.example/a.png"]


def test_relative_urls_in_a_local_feed_are_read_against_the_blogs_address():
    document = media_rss('<media:content url="/img/cat.jpg" medium="image"/>')
    (entry,) = parse_feed(document, url="/home/me/feed.xml").entries
    assert [image.url for image in entry.images] == ["https://blog.example.org/img/cat.jpg"]


def test_relative_urls_with_no_web_address_to_read_them_against_are_no_image():
    document = (
        media_rss('<media:content url="/img/cat.jpg" medium="image"/>')
        .replace(b"<link>https://blog.example.org/</link>", b"")
        .replace(b"<link>https://blog.example.org/cat/</link>", b"")
    )
    (entry,) = parse_feed(document, url="/home/me/feed.xml").entries
    assert entry.images == ()


# -- alt text length ---------------------------------------------------------------------


def test_the_alt_text_is_cut_to_the_instance_limit_between_words():
    long_alt = "word " * 400
    image = chosen(
        media_rss(
            '<media:content url="https://cdn.example/a.png" medium="image">'
            f"<media:description>{long_alt}</media:description></media:content>"
        ),
        InstanceLimits(description_limit=100),
    )
    assert len(image.alt) <= 100
    assert image.alt.endswith("word…")


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("exactly ten", 11, "exactly ten"),
        ("café crème brûlée", 12, "café crème…"),
        # e + combining accent is one grapheme but two code points; Mastodon counts code points.
        ("e\u0301" * 10, 6, "e\u0301" * 2 + "…"),
        ("👨‍👩‍👧" * 3, 9, "👨‍👩‍👧…"),
        ("anything", 1, ""),
    ],
)
def test_a_description_is_cut_on_grapheme_boundaries_within_code_points(text, limit, expected):
    cut = cut_description(text, limit)
    assert cut == expected
    assert len(cut) <= limit


# -- what the instance accepts -----------------------------------------------------------


def test_media_limits_are_read_from_the_instance_document():
    limits = limits_from_documents(
        v2={
            "configuration": {
                "statuses": {"max_characters": 500},
                "media_attachments": {
                    "supported_mime_types": ["image/png", "video/mp4"],
                    "image_size_limit": 8_000_000,
                    "description_limit": 10_000,
                },
            }
        }
    )
    assert limits.supported_mime_types == ("image/png", "video/mp4")
    assert (limits.image_size_limit, limits.description_limit) == (8_000_000, 10_000)


def test_a_server_that_does_not_say_gets_mastodons_media_defaults():
    limits = limits_from_documents(v1={"max_toot_chars": 5000})
    assert "image/jpeg" in limits.supported_mime_types
    assert (limits.image_size_limit, limits.description_limit) == (16 * 1024 * 1024, 1500)


def test_limits_cached_as_json_keep_a_tuple_of_types():
    assert InstanceLimits(supported_mime_types=["image/png"]).supported_mime_types == ("image/png",)


# -- download ---------------------------------------------------------------------------


@pytest.fixture
def server(feeds):
    """The shared feed server, here serving images as well as feeds."""
    return feeds


def test_an_image_is_downloaded_with_its_type(server):
    server.set_feed("/cat.png", PNG, content_type="image/png")
    image = download_image(ImageRef(server.url("/cat.png")), LIMITS, timeout=5, policy=LAN)
    assert image == ImageFile(data=PNG, mime_type="image/png", file_name="cat.png")


def test_the_bytes_say_the_type_when_the_server_does_not(server):
    server.set_feed("/photo", JPEG, content_type="application/octet-stream")
    image = download_image(ImageRef(server.url("/photo")), LIMITS, policy=LAN)
    assert image.mime_type == "image/jpeg"


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"<!doctype html><p>Not found", "text/html", r"not an image \(labelled text/html\)"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml", r"labelled image/svg\+xml"),
        (b"????", "application/octet-stream", "not an image"),
        (b'{"secret": "metadata"}', "image/png", r"not an image \(labelled image/png\)"),
    ],
)
def test_what_is_not_an_image_the_instance_takes_is_refused(server, body, content_type, reason):
    server.set_feed("/image", body, content_type=content_type)
    with pytest.raises(ImageUnavailable, match=reason):
        download_image(ImageRef(server.url("/image")), LIMITS, policy=LAN)


def test_a_type_missing_from_the_instance_list_is_refused(server):
    server.set_feed("/cat.png", PNG, content_type="image/png")
    with pytest.raises(ImageUnavailable, match="image/png is not an image type"):
        download_image(
            ImageRef(server.url("/cat.png")),
            InstanceLimits(supported_mime_types=("image/jpeg",)),
            policy=LAN,
        )


@pytest.mark.parametrize("declare_length", [True, False])
def test_an_image_over_the_size_limit_is_refused(server, declare_length):
    server.set_large("/huge.png", 300_000, declare_length=declare_length, content_type="image/png")
    with pytest.raises(ImageUnavailable, match="larger than the instance's 100000 bytes limit"):
        download_image(
            ImageRef(server.url("/huge.png")), InstanceLimits(image_size_limit=100_000), policy=LAN
        )


def test_an_image_that_is_gone_is_refused_with_its_status(server):
    with pytest.raises(ImageUnavailable, match="HTTP 404"):
        download_image(ImageRef(server.url("/gone.png")), LIMITS, policy=LAN)


def test_an_image_server_that_does_not_answer_is_given_up_after_the_timeout(server):
    server.set_feed("/slow.png", PNG, content_type="image/png")
    server.set_slow("/slow.png", 5)
    started = time.monotonic()
    with pytest.raises(ImageUnavailable, match=r"image .*/slow\.png unreachable"):
        download_image(ImageRef(server.url("/slow.png")), LIMITS, timeout=0.5, policy=LAN)
    assert time.monotonic() - started < 3


def test_an_unreachable_image_is_refused():
    with pytest.raises(ImageUnavailable, match=r"image http://127\.0\.0\.1:9/a\.png unreachable"):
        download_image(ImageRef("http://127.0.0.1:9/a.png"), LIMITS, timeout=2, policy=LAN)


@pytest.mark.parametrize(
    ("data", "mime_type"),
    [
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (b"GIF89a" + bytes(10), "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\x00\x00\x00\x1cftypavif" + bytes(8), "image/avif"),
        (b"\x00\x00\x00\x18ftypheic" + bytes(8), "image/heic"),
        (b"<svg/>", None),
        (b"RIFF\x00\x00\x00\x00WAVE", None),
    ],
)
def test_image_formats_are_known_by_their_first_bytes(data, mime_type):
    assert sniff_type(data) == mime_type


# -- upload -----------------------------------------------------------------------------


def client(api: MastodonAPI) -> Mastodon:
    return Mastodon(
        access_token=TOKEN,
        api_base_url=api.base_url,
        version_check_mode="none",
        ratelimit_method="throw",
        request_timeout=5,
    )


CAT = ImageFile(data=PNG, mime_type="image/png", file_name="cat.png")


def test_an_image_processed_at_once_is_uploaded_with_its_alt_text(api):
    media_id = upload_image(client(api), CAT, "A cat", sleep=pytest.fail)
    media = api.media[media_id]
    assert (media["description"], media["_mime"], media["_bytes"]) == (
        "A cat",
        "image/png",
        len(PNG),
    )
    assert api.count("POST", "/api/v2/media") == 1
    # Mastodon.py's media_post asks the deprecated GET /api/v1/instance which endpoint to use
    # (a request, and a Deprecation warning, per image): every supported server has v2.
    assert api.count("GET", "/api/v1/instance") == 0


def test_an_image_still_processing_is_waited_for(api):
    api.media_processing_polls = 3
    naps = []
    media_id = upload_image(client(api), CAT, "A cat", sleep=naps.append, poll_interval=0)
    assert api.media[media_id]["url"] is not None
    assert api.count("GET", f"/api/v1/media/{media_id}") == 3
    assert len(naps) == 3


def test_processing_that_never_ends_is_given_up_after_the_timeout(api):
    api.media_processing_polls = 1000
    now = [0.0]

    def nap(seconds):
        now[0] += seconds

    with pytest.raises(ImageUnavailable, match="still processing the image after 10 s"):
        upload_image(
            client(api), CAT, "A cat", timeout=10, poll_interval=2, sleep=nap, clock=lambda: now[0]
        )
    assert [method for method, path, _ in api.requests if "/media/" in path] == ["GET"] * 5


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (422, "image upload failed: HTTP 422"),
        ("rate_limit", r"image upload failed: rate limited \(HTTP 429\)"),
        (503, "image upload failed: HTTP 503"),
        ("reset", "image upload failed"),
    ],
)
def test_a_refused_upload_is_an_unavailable_image(api, fault, reason):
    api.fail_next("POST", "/api/v2/media", fault)
    with pytest.raises(ImageUnavailable, match=reason):
        upload_image(client(api), CAT, "A cat", sleep=pytest.fail)


# -- a run with `image: true` -----------------------------------------------------------


@pytest.fixture
def blog(tmp_path, api, server, token, monkeypatch):
    """A feed with `image: true`, already seen once; `publish(*items)` adds entries."""
    monkeypatch.setenv("CROSSPOSTER_POST_RETRY_SECONDS", "0.2")
    items = [{"title": "Old", "link": "https://blog.example.org/old/"}]
    server.set_feed("/feed", rss(items))
    config = write_config(
        tmp_path,
        api,
        f"- {{name: blog, url: '{server.url('/feed')}', image: true}}",
        allow_private_urls_in_feeds=True,
    )
    assert main(["run", "--config", config]) == 0

    def publish(*new_items):
        items[:0] = new_items
        server.set_feed("/feed", rss(items))

    blog.publish = publish
    blog.config = config
    return blog


def article(n: int, **extra) -> dict:
    return {"title": f"Article {n}", "link": f"https://blog.example.org/{n}/", **extra}


def attached(api, status) -> list[tuple[str | None, str]]:
    return [(api.media[i]["description"], api.media[i]["type"]) for i in status["media_ids"]]


def test_the_image_goes_with_the_toot_described(blog, api, server):
    server.set_feed("/img/1.png", PNG, content_type="image/png")
    blog.publish(article(1, enclosure={"url": server.url("/img/1.png"), "type": "image/png"}))
    assert main(["run", "--config", blog.config]) == 0
    [status] = api.statuses
    assert attached(api, status) == [("Article 1", "image")]


def test_an_image_still_processing_is_waited_for_before_the_toot(blog, api, server):
    api.media_processing_polls = 2
    server.set_feed("/img/1.png", PNG, content_type="image/png")
    blog.publish(article(1, content=f'<p><img src="{server.url("/img/1.png")}" alt="Sunset"></p>'))

    def publisher(settings, account: Account) -> Publisher:
        return Publisher(account.instance_url, account.token, PublishOptions(), sleep=lambda _: 0)

    report = run(load_settings(blog.config), publisher_factory=publisher)
    assert report.exit_code == 0
    [status] = api.statuses
    assert attached(api, status) == [("Sunset", "image")]


@pytest.mark.parametrize(
    ("serve", "reason"),
    [
        (lambda s: s.set_large("/img/1.png", 17 * 1024 * 1024, content_type="image/png"), "larger"),
        (lambda s: s.set_feed("/img/1.png", b"<html>", content_type="text/html"), "text/html"),
        (lambda s: s.set_reset("/img/1.png"), "unreachable"),
        (lambda s: None, "HTTP 404"),
    ],
    ids=["too big", "wrong type", "unreachable", "gone"],
)
def test_an_image_that_fails_never_costs_the_post(blog, api, server, caplog, serve, reason):
    serve(server)
    blog.publish(article(1, enclosure={"url": server.url("/img/1.png"), "type": "image/png"}))
    assert main(["run", "--config", blog.config]) == 0
    [status] = api.statuses
    assert status["media_ids"] == []
    assert "goes out without its image" in caplog.text and reason in caplog.text


def test_a_refused_upload_never_costs_the_post(blog, api, server, caplog):
    server.set_feed("/img/1.png", PNG, content_type="image/png")
    api.fail_next("POST", "/api/v2/media", 422)
    blog.publish(article(1, enclosure={"url": server.url("/img/1.png"), "type": "image/png"}))
    assert main(["run", "--config", blog.config]) == 0
    [status] = api.statuses
    assert status["media_ids"] == []
    assert "image upload failed: HTTP 422" in caplog.text


def test_a_post_left_pending_keeps_its_uploaded_image(blog, api, server, tmp_path):
    server.set_feed("/img/1.png", PNG, content_type="image/png")
    api.fail_next("POST", "/api/v1/statuses", 503, times=1000)
    blog.publish(article(1, enclosure={"url": server.url("/img/1.png"), "type": "image/png"}))
    assert main(["run", "--config", blog.config]) == 75
    with sqlite3.connect(tmp_path / "state.sqlite3") as db:
        [(status, toot)] = db.execute("SELECT status, toot FROM entries WHERE title = 'Article 1'")
    [media_id] = api.media
    assert status == "pending" and media_id in toot

    api.clear_faults()
    assert main(["run", "--config", blog.config]) == 0
    [status] = api.statuses
    assert status["media_ids"] == [media_id]
    assert api.count("POST", "/api/v2/media") == 1


def test_a_toot_refused_with_its_image_goes_out_without_it(blog, api, server, caplog):
    server.set_feed("/img/1.png", PNG, content_type="image/png")
    # As a server answers an attachment it has since deleted (unattached media expire).
    api.fail_next("POST", "/api/v1/statuses", 422, message="Validation failed: media not found")
    blog.publish(article(1, enclosure={"url": server.url("/img/1.png"), "type": "image/png"}))
    assert main(["run", "--config", blog.config]) == 0
    [status] = api.statuses
    assert status["media_ids"] == []
    assert "refused with its image" in caplog.text


def test_without_image_true_no_image_is_fetched(tmp_path, api, server, token):
    server.set_feed("/img/1.png", PNG, content_type="image/png")
    enclosure = {"url": server.url("/img/1.png"), "type": "image/png"}
    server.set_feed("/feed", rss([article(1, enclosure=enclosure)]))
    config = write_config(
        tmp_path,
        api,
        f"- {{name: blog, url: '{server.url('/feed')}', backfill: 1}}",
        state_file="s.sqlite3",
    )
    assert main(["run", "--config", config]) == 0
    [status] = api.statuses
    assert status["media_ids"] == []
    assert server.count("GET", "/img/1.png") == 0


def test_the_preview_names_the_image_and_its_alt_text_without_fetching_it(
    blog, api, server, capsys
):
    picture = '<p><img src="https://blog.example.org/img/1.png" alt="Le lever du soleil"></p>'
    blog.publish(article(1, content=picture))
    before = len(server.requests)
    capsys.readouterr()
    assert main(["run", "--dry-run", "--config", blog.config]) == 0
    out = capsys.readouterr().out
    assert "--- image: https://blog.example.org/img/1.png · alt text: Le lever du soleil" in out
    assert [path for _, path, _ in server.requests[before:]] == ["/feed"]
    assert api.media == {}
