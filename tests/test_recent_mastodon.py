"""What Mastodon 4.3-4.5 changed (issue 20), against the loopback API answering as a
4.2, 4.4 or 4.5 server: the API version decides, a Deprecation header is told once,
quote policies reach 4.5 only, the byline is checked, attribution domains are set, and
a /context still being completed is read again."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from crossposter.cli import main
from crossposter.mastodon.capabilities import Capabilities, api_version

from support.blog import feed_of, write_config
from support.mastodon_api import MastodonAPI


@pytest.fixture(params=["4.2", "4.4", "4.5"])
def server(request):
    with MastodonAPI(release=request.param) as api:
        yield api


def announce(tmp_path, api, feeds, *, extra: str = "", **settings) -> str:
    """A blog whose first run announces article 1 (backfill); its configuration."""
    feeds.set_feed("/feed", feed_of(1))
    feed = f"- {{name: blog, url: '{feeds.url('/feed')}', backfill: 1{extra}}}"
    config = write_config(tmp_path, api, feed, post_retry_seconds=0.2, **settings)
    assert main(["run", "--config", config]) == 0
    return config


# -- knowing the server ----------------------------------------------------------


@pytest.mark.parametrize(
    ("published", "version", "expected"),
    [
        (7, "4.5.0", 7),
        (9, "4.4.0", 9),  # what the instance publishes wins over its version string
        (None, "4.4.3", 5),
        (None, "4.3.0+glitch", 2),
        (None, "4.5.0-beta.1", 7),
        (None, "4.9.0", 10),  # a later release has at least what the last known one had
        (None, "4.2.10", 0),
        (None, "2.7.2 (compatible; Pleroma 2.5.0)", 0),
        (None, None, 0),
    ],
)
def test_the_api_version_comes_from_api_versions_else_the_version(published, version, expected):
    assert api_version(published, version) == expected


@pytest.mark.parametrize(
    ("number", "delete_media", "attribution", "quote"),
    [(0, False, False, False), (2, False, False, False), (3, False, True, False),
     (5, True, True, False), (7, True, True, True)],
)  # fmt: skip
def test_each_feature_from_its_api_version(number, delete_media, attribution, quote):
    capabilities = Capabilities(number)
    assert capabilities.delete_media is delete_media
    assert capabilities.attribution_domains is attribution
    assert capabilities.quote_approval_policy is quote


def test_the_instance_document_gives_the_api_version(tmp_path, server, feeds, token):
    from crossposter.mastodon.instance import look_up_instance

    limits = look_up_instance(server.base_url, timeout=5).limits
    assert limits.api_version == server.api_version
    assert Capabilities.of(limits).api_version == {"4.2": 0, "4.4": 5, "4.5": 7}[server.release]


def test_a_deprecated_endpoint_is_warned_about_once_per_run(
    tmp_path, api, feeds, token, caplog
):
    api.deprecated.add("/api/v1/statuses")
    feeds.set_feed("/feed", feed_of(1, 2))
    feed = f"- {{name: blog, url: '{feeds.url('/feed')}', backfill: 2}}"
    config = write_config(tmp_path, api, feed)
    with caplog.at_level(logging.WARNING, logger="crossposter"):
        assert main(["run", "--config", config]) == 0
    assert len(api.statuses) == 2
    warnings = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "POST /api/v1/statuses" in warnings[0]
    assert warnings[0].startswith("127.0.0.1:")


# -- quote policy --------------------------------------------------------------------


def test_the_quote_policy_is_sent_to_a_server_that_takes_it_only(
    tmp_path, server, feeds, token, caplog
):
    with caplog.at_level(logging.INFO, logger="crossposter"):
        announce(tmp_path, server, feeds, extra=", quote_approval_policy: followers")
    [status] = server.statuses
    told = [r for r in caplog.records if "quote_approval_policy left out" in r.getMessage()]
    if server.release == "4.5":
        assert status["quote_approval_policy"] == "followers"
        assert told == []
    else:
        assert status["quote_approval_policy"] is None, "never sent before API version 7"
        assert len(told) == 1 and told[0].levelno == logging.INFO


def test_the_quote_policy_under_defaults_and_its_absence(tmp_path, feeds, token):
    with MastodonAPI(release="4.5") as api:
        feeds.set_feed("/feed", feed_of(1))
        feeds.set_feed("/other", feed_of(2))
        config = write_config(
            tmp_path,
            api,
            f"- {{name: blog, url: '{feeds.url('/feed')}', backfill: 1}}\n"
            f"- {{name: other, url: '{feeds.url('/other')}', backfill: 1, "
            "quote_approval_policy: null}",
            defaults={"quote_approval_policy": "nobody"},
        )
        assert main(["run", "--config", config]) == 0
        policies = sorted(str(s["quote_approval_policy"]) for s in api.statuses)
    assert policies == ["None", "nobody"], "null leaves the account's default"


def test_check_says_an_older_server_leaves_the_quote_policy_out(tmp_path, feeds, token, capsys):
    with MastodonAPI(release="4.4") as api:
        feeds.set_feed("/feed", feed_of(1, link=feeds.url("/{n}/")))
        feed = f"- {{name: blog, url: '{feeds.url('/feed')}', quote_approval_policy: public}}"
        config = write_config(tmp_path, api, feed)
        assert main(["check", "--config", config]) == 0
    out = capsys.readouterr().out
    assert "instance: note: quote_approval_policy (blog) is left out" in out
    assert "API version 5" in out


# -- the byline ----------------------------------------------------------------------


def blog_with_pages(tmp_path, api, feeds, meta: str | None) -> str:
    """A blog whose article pages are served on loopback, carrying `meta` in their head."""
    head = meta or ""
    page = f"<html><head><meta name='generator' content='WordPress 6.7'>{head}</head></html>"
    feeds.set_html("/2026/article-1/", page)
    feeds.set_feed("/feed", feed_of(1, link=feeds.url("/2026/article-{n}/")))
    feed = f"- {{name: blog, url: '{feeds.url('/feed')}'}}"
    return write_config(tmp_path, api, feed, allow_private_urls_in_feeds=True)


def check_out(config: str, capsys) -> str:
    capsys.readouterr()
    assert main(["check", "--config", config]) == 0, "a missing byline is no problem"
    return capsys.readouterr().out


def test_check_finds_the_byline_complete(tmp_path, feeds, token, capsys):
    with MastodonAPI(release="4.4") as api:
        api.attribution_domains = ["127.0.0.1"]
        meta = f'<meta name="fediverse:creator" content="@bot@{api.host}">'
        out = check_out(blog_with_pages(tmp_path, api, feeds, meta), capsys)
    assert "byline blog: ok, " in out
    assert "127.0.0.1 is among its attribution domains" in out


def test_check_gives_the_meta_line_and_where_it_goes_when_the_page_lacks_it(
    tmp_path, feeds, token, capsys
):
    with MastodonAPI(release="4.4") as api:
        api.attribution_domains = ["127.0.0.1"]
        out = check_out(blog_with_pages(tmp_path, api, feeds, None), capsys)
    assert f'<meta name="fediverse:creator" content="@bot@{api.host}">' in out
    assert "WordPress: in the theme's header.php" in out
    assert "attribution domains; run" not in out


def test_check_gives_the_command_when_the_account_lacks_the_domain(
    tmp_path, feeds, token, capsys
):
    with MastodonAPI(release="4.4") as api:
        api.attribution_domains = ["other.example"]
        meta = f'<meta name="fediverse:creator" content="@bot@{api.host}">'
        config = blog_with_pages(tmp_path, api, feeds, meta)
        out = check_out(config, capsys)
    assert "127.0.0.1 is not among the account's attribution domains" in out
    assert f"crossposter attribution --config {config} --apply" in out
    assert "<meta" not in out


def test_check_of_a_server_that_does_not_tell_the_domains_says_so(tmp_path, feeds, token, capsys):
    with MastodonAPI(release="4.2") as api:
        out = check_out(blog_with_pages(tmp_path, api, feeds, None), capsys)
    assert "does not say the account's attribution domains" in out


def test_the_article_page_follows_the_public_address_rule(tmp_path, api, feeds, token, capsys):
    config = blog_with_pages(tmp_path, api, feeds, None)
    path = Path(config)
    path.write_text(path.read_text().replace("allow_private_urls_in_feeds: true\n", ""))
    out = check_out(config, capsys)
    assert "not a public address" in out
    assert feeds.count("GET", "/2026/article-1/") == 0


def test_attribution_lists_and_apply_adds_keeping_the_domains_already_there(
    tmp_path, feeds, token, capsys
):
    with MastodonAPI(release="4.4") as api:
        api.attribution_domains = ["example.com", "other.example"]
        config = blog_with_pages(tmp_path, api, feeds, None)

        assert main(["attribution", "--config", config]) == 0
        assert api.attribution_domains == ["example.com", "other.example"], "listing only"
        assert "missing: 127.0.0.1 (add them: --apply)" in capsys.readouterr().out

        assert main(["attribution", "--config", config, "--apply"]) == 0
        assert api.attribution_domains == ["example.com", "other.example", "127.0.0.1"]

        assert main(["attribution", "--config", config, "--apply"]) == 0
        assert "nothing to add" in capsys.readouterr().out


def test_attribution_shows_a_refusal_in_the_instances_own_words(tmp_path, feeds, token, caplog):
    with MastodonAPI(release="4.5") as api:
        config = blog_with_pages(tmp_path, api, feeds, None)
        message = "Validation failed: Attribution domains 127.0.0.1 is not a domain"
        api.fail_next("PATCH", "/api/v1/accounts/update_credentials", 422, message=message)
        assert main(["attribution", "--config", config, "--apply"]) == 1
        assert api.attribution_domains == []
    assert message in caplog.text


def test_attribution_without_write_accounts_says_how_to_get_it(
    tmp_path, feeds, caplog, monkeypatch
):
    with MastodonAPI(release="4.4") as api:
        api.grant_token("narrow", "write:statuses write:media read:accounts read:statuses")
        monkeypatch.setenv("CROSSPOSTER_ACCESS_TOKEN", "narrow")
        config = blog_with_pages(tmp_path, api, feeds, None)
        assert main(["attribution", "--config", config, "--apply"]) == 1
    assert "--scope attribution" in caplog.text


# -- replies still being fetched (4.5) ------------------------------------------------


def test_a_thread_still_being_fetched_is_read_again_on_the_next_run(tmp_path, feeds, token):
    with MastodonAPI(release="4.5") as api:
        config = announce(tmp_path, api, feeds)
        [toot] = api.statuses
        api.add_reply(toot["id"], "First!")
        api.still_fetching(toot["id"], retry=0)
        feed = f"- {{name: blog, url: '{feeds.url('/feed')}', backfill: 1}}"
        config = write_config(tmp_path, api, feed, replies_file="replies.json")
        assert main(["run", "--config", config]) == 0
        asked = api.count("GET", f"/api/v1/statuses/{toot['id']}/context")
        assert asked == 1

        api.add_reply(toot["id"], "Fetched from afar")
        api.done_fetching(toot["id"])
        assert main(["run", "--config", config]) == 0
        assert api.count("GET", f"/api/v1/statuses/{toot['id']}/context") == asked + 1
        assert main(["run", "--config", config]) == 0, "final now: read an interval later"
        assert api.count("GET", f"/api/v1/statuses/{toot['id']}/context") == asked + 1
    replies = json.loads((tmp_path / "replies.json").read_text())
    assert [r["text"] for r in replies["https://blog.example.org/1/"]] == [
        "First!",
        "Fetched from afar",
    ]


# -- link cards ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes_ago", "card", "due"),
    [(5, None, False), (10, None, True), (60 * 23, None, True), (60 * 24, None, False),
     (30, True, False), (30, False, False)],
)  # fmt: skip
def test_a_toot_is_looked_at_once_between_ten_minutes_and_a_day(minutes_ago, card, due):
    from datetime import UTC, datetime, timedelta

    from crossposter.after_posting.cards import card_check_due

    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    assert card_check_due(now - timedelta(minutes=minutes_ago), card, now) is due


@pytest.mark.parametrize(
    ("status", "expected"),
    [({"card": {"url": "https://blog.example.org/1/"}}, True), ({"card": None}, False),
     ({}, False), (None, False)],
)  # fmt: skip
def test_a_status_has_a_card_when_the_instance_built_one(status, expected):
    from crossposter.after_posting.cards import has_card

    assert has_card(status) is expected


def test_attribution_apply_on_a_server_before_4_4_says_where_to_set_them(
    tmp_path, feeds, token, capsys
):
    with MastodonAPI(release="4.2") as api:
        config = blog_with_pages(tmp_path, api, feeds, None)
        assert main(["attribution", "--config", config]) == 0
        assert main(["attribution", "--config", config, "--apply"]) == 1
        assert api.count("PATCH", "/api/v1/accounts/update_credentials") == 0
    assert "Preferences → Public profile → Verification" in capsys.readouterr().out


def run_at(config: str, moment) -> int:
    from crossposter.config import load_settings
    from crossposter.pipeline import run

    return run(load_settings(config), clock=lambda: moment).exit_code


def test_a_toot_without_a_card_is_warned_about_once_per_feed(tmp_path, feeds, token, caplog):
    from datetime import timedelta

    from crossposter.state import now_utc

    with MastodonAPI(release="4.4") as api:
        api.cardless = {"https://blog.example.org/1/", "https://blog.example.org/2/"}
        feeds.set_feed("/feed", feed_of(1, 2, 3))
        feed = f"- {{name: blog, url: '{feeds.url('/feed')}', backfill: 3}}"
        config = write_config(tmp_path, api, feed, post_retry_seconds=0.2)
        posted = now_utc()
        assert run_at(config, posted) == 0
        assert api.count("GET", f"/api/v1/statuses/{api.statuses[0]['id']}") == 0, "too soon"

        with caplog.at_level(logging.WARNING, logger="crossposter"):
            assert run_at(config, posted + timedelta(minutes=11)) == 0
            assert run_at(config, posted + timedelta(minutes=30)) == 0
        looks = sum(api.count("GET", f"/api/v1/statuses/{s['id']}") for s in api.statuses)
        assert looks == 3, "each toot looked at once"
        warnings = [r.getMessage() for r in caplog.records if "no link card" in r.getMessage()]
        assert len(warnings) == 1, warnings
        assert "https://blog.example.org/1/" in warnings[0] or "/2/" in warnings[0]
        assert "OpenGraph" in warnings[0] and "redirect" in warnings[0]



def test_links_say_whether_each_toot_got_its_card(tmp_path, feeds, token, capsys):
    from datetime import timedelta

    from crossposter.state import now_utc

    with MastodonAPI(release="4.4") as api:
        api.cardless = {"https://blog.example.org/1/"}
        feeds.set_feed("/feed", feed_of(1, 2))
        feed = f"- {{name: blog, url: '{feeds.url('/feed')}', backfill: 2}}"
        config = write_config(tmp_path, api, feed)
        posted = now_utc()
        assert run_at(config, posted) == 0
        capsys.readouterr()
        assert main(["links", "--config", config]) == 0
        before = json.loads(capsys.readouterr().out)
        assert run_at(config, posted + timedelta(minutes=15)) == 0
        assert main(["links", "--config", config]) == 0
        after = json.loads(capsys.readouterr().out)
    assert [before[u][0]["card"] for u in sorted(before)] == [None, None]
    assert [after[u][0]["card"] for u in sorted(after)] == [False, True]


def test_a_toot_past_a_day_is_never_looked_at(tmp_path, feeds, token):
    from datetime import timedelta

    from crossposter.state import now_utc

    with MastodonAPI(release="4.5") as api:
        config = announce(tmp_path, api, feeds)
        assert run_at(config, now_utc() + timedelta(hours=25)) == 0
        assert api.count("GET", f"/api/v1/statuses/{api.statuses[0]['id']}") == 0
