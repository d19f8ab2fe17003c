"""Several accounts in one configuration: each feed posts to its own account, with
that account's token, limits and rate limit."""

from __future__ import annotations

import sqlite3

import pytest

from crossposter.cli import main
from crossposter.mastodon.publish import idempotency_key

from support import blog
from support.blog import write_config
from support.builders import write_config_text as write
from support.feeds import rss
from support.mastodon_api import MastodonAPI


@pytest.fixture
def home():
    with MastodonAPI(valid_tokens={"home-token"}) as api:
        yield api


@pytest.fixture
def work():
    with MastodonAPI(valid_tokens={"work-token"}, max_characters=1000) as api:
        yield api


def article(n: int, **fields) -> dict:
    """A title, a link and a guid: no summary, no date; `fields` as blog.article takes them."""
    return blog.article(n, description=None, pubDate=None, **fields)


@pytest.fixture
def two_blogs(tmp_path, feeds, home, work, monkeypatch):
    """`personal` posts with the default account (home), `company` with `work`; seen once."""
    monkeypatch.setenv("CROSSPOSTER_ACCESS_TOKEN", "home-token")
    monkeypatch.setenv("WORK_TOKEN", "work-token")
    monkeypatch.setenv("CROSSPOSTER_POST_RETRY_SECONDS", "0.2")
    feeds.set_feed("/personal", rss([article(1)]))
    feeds.set_feed("/company", rss([article(1)]))
    config = write_config(
        tmp_path,
        home,
        f"""
        - {{name: personal, url: '{feeds.url("/personal")}'}}
        - {{name: company, url: '{feeds.url("/company")}', account: work}}
        """,
        accounts=f"{{work: {{instance: '{work.base_url}', access_token_env: WORK_TOKEN}}}}",
    )
    assert main(["run", "--config", config]) == 0
    feeds.set_feed("/personal", rss([article(2), article(1)]))
    feeds.set_feed("/company", rss([article(2), article(1)]))
    return config


def test_each_feed_posts_to_its_own_account_with_its_own_token(two_blogs, home, work):
    assert main(["run", "--config", two_blogs]) == 0
    [personal] = home.statuses
    [company] = work.statuses
    assert (personal["token"], company["token"]) == ("home-token", "work-token")


def test_idempotency_keys_belong_to_the_account(two_blogs, home, work):
    assert main(["run", "--config", two_blogs]) == 0
    assert home.statuses[0]["idempotency_key"] == idempotency_key(
        home.base_url, "default", "personal", "https://blog.example.org/?p=2"
    )
    assert work.statuses[0]["idempotency_key"] == idempotency_key(
        work.base_url, "work", "company", "https://blog.example.org/?p=2"
    )


def test_limits_are_asked_of_each_instance(two_blogs, home, work):
    assert main(["run", "--config", two_blogs]) == 0
    assert home.count("GET", "/api/v2/instance") == 1
    assert work.count("GET", "/api/v2/instance") == 1


def test_a_rate_limit_on_one_account_does_not_stop_the_other(
    two_blogs, home, work, caplog, tmp_path
):
    home.fail_next("POST", "/api/v1/statuses", "rate_limit", reset_in=3600, times=10)
    assert main(["run", "--config", two_blogs]) == 75
    assert home.statuses == []
    assert len(work.statuses) == 1
    assert "rate limited" in caplog.text

    home.clear_faults()
    # As if the reset recorded in the state had passed.
    with sqlite3.connect(tmp_path / "state.sqlite3") as db:
        db.execute("DELETE FROM account_limits")
    assert main(["run", "--config", two_blogs]) == 0
    assert len(home.statuses) == 1 and len(work.statuses) == 1


def test_a_rate_limited_account_stops_all_its_feeds(tmp_path, feeds, home, work, monkeypatch):
    monkeypatch.setenv("WORK_TOKEN", "work-token")
    for name in ("a", "b"):
        feeds.set_feed(f"/{name}", rss([article(1)]))
    config = write(
        tmp_path,
        f"""
        instance: {home.base_url}
        accounts:
          work: {{instance: '{work.base_url}', access_token_env: WORK_TOKEN}}
        defaults: {{account: work, backfill: 1}}
        feeds:
          - {{name: a, url: '{feeds.url("/a")}'}}
          - {{name: b, url: '{feeds.url("/b")}'}}
        """,
    )
    work.fail_next("POST", "/api/v1/statuses", "rate_limit", reset_in=3600, times=10)
    assert main(["run", "--config", config]) == 75
    assert work.count("POST", "/api/v1/statuses") == 1
    # Every feed posts to `work`: the top-level account's token is not needed.
    assert home.requests == []


def test_a_token_file_is_read_next_to_the_configuration(tmp_path, feeds, work):
    (tmp_path / "work.token").write_text("work-token\n", encoding="utf-8")
    feeds.set_feed("/a", rss([article(1)]))
    config = write(
        tmp_path,
        f"""
        instance: https://unused.example
        accounts:
          work: {{instance: '{work.base_url}', access_token_file: work.token}}
        feeds:
          - {{name: a, url: '{feeds.url("/a")}', account: work, backfill: 1}}
        """,
    )
    assert main(["run", "--config", config]) == 0
    assert work.statuses[0]["token"] == "work-token"


@pytest.mark.parametrize(
    ("accounts", "feed", "message"),
    [
        ("{}", "account: work", "unknown account 'work'"),
        (
            "{work: {instance: 'https://w.example'}}",
            "account: work",
            "exactly one of access_token_env and access_token_file",
        ),
        (
            "{work: {instance: 'https://w.example', access_token_env: A, access_token_file: b}}",
            "account: work",
            "exactly one of access_token_env and access_token_file",
        ),
        (
            "{default: {instance: 'https://w.example', access_token_env: A}}",
            "backfill: 0",
            "'default' is the top-level instance's account",
        ),
    ],
)
def test_account_mistakes_are_configuration_errors(tmp_path, caplog, accounts, feed, message):
    config = write(
        tmp_path,
        f"""
        instance: https://mastodon.example
        accounts: {accounts}
        feeds: [{{name: a, url: feed.xml, {feed}}}]
        """,
    )
    assert main(["run", "--dry-run", "--config", config]) == 2
    assert message in caplog.text


def test_a_missing_account_token_is_a_configuration_error(tmp_path, feeds, caplog):
    feeds.set_feed("/a", rss([article(1)]))
    config = write(
        tmp_path,
        f"""
        instance: https://mastodon.example
        accounts:
          work: {{instance: 'https://w.example', access_token_env: WORK_TOKEN}}
        feeds:
          - {{name: a, url: '{feeds.url("/a")}', account: work}}
        """,
    )
    assert main(["run", "--config", config]) == 2
    assert "account 'work': no access token: export WORK_TOKEN" in caplog.text
    # A preview needs no token.
    assert main(["run", "--dry-run", "--config", config]) == 0


def test_the_top_level_instance_is_not_needed_when_every_feed_names_its_account(
    tmp_path, feeds, work, monkeypatch
):
    monkeypatch.setenv("WORK_TOKEN", "work-token")
    feeds.set_feed("/a", rss([article(1, link=feeds.url("/{n}/"))]))
    config = write(
        tmp_path,
        f"""
        accounts:
          work: {{instance: '{work.base_url}', access_token_env: WORK_TOKEN}}
        defaults: {{account: work}}
        feeds:
          - {{name: a, url: '{feeds.url("/a")}', backfill: 1}}
        """,
    )
    assert main(["run", "--config", config]) == 0
    assert work.statuses[0]["token"] == "work-token"
    assert main(["check", "--config", config]) == 0


def test_a_feed_on_the_top_level_account_needs_the_top_level_instance(tmp_path, caplog):
    config = write(
        tmp_path,
        """
        accounts:
          work: {instance: 'https://w.example', access_token_env: WORK_TOKEN}
        feeds:
          - {name: company, url: feed.xml, account: work}
          - {name: personal, url: feed.xml}
        """,
    )
    assert main(["run", "--dry-run", "--config", config]) == 2
    assert "instance: required by feed 'personal'" in caplog.text


def test_a_refused_token_names_the_variable_it_came_from(two_blogs, home, work, caplog):
    work.valid_tokens.clear()
    assert main(["run", "--config", two_blogs]) == 1
    assert len(home.statuses) == 1
    refused = [r.getMessage() for r in caplog.records if "HTTP 401" in r.getMessage()]
    assert refused and all("WORK_TOKEN" in message for message in refused)
    assert all("CROSSPOSTER_ACCESS_TOKEN" not in message for message in refused)


def moved_blog(
    tmp_path, feeds, home, work, monkeypatch, *, keep_home: bool, **settings: object
) -> str:
    """`blog` announced article 2 as `home`, then moved to the account `work`; `settings`
    as write_config takes them."""
    monkeypatch.setenv("HOME_TOKEN", "home-token")
    monkeypatch.setenv("WORK_TOKEN", "work-token")
    monkeypatch.setenv("CROSSPOSTER_POST_RETRY_SECONDS", "0.2")
    feeds.set_feed("/feed", rss([article(1)]))
    accounts = {
        "home": f"{{instance: '{home.base_url}', access_token_env: HOME_TOKEN}}",
        "work": f"{{instance: '{work.base_url}', access_token_env: WORK_TOKEN}}",
    }

    def configured(account: str, accounts: dict) -> str:
        return write_config(
            tmp_path,
            home,
            f"- {{name: blog, url: '{feeds.url('/feed')}', account: {account}, "
            "on_change: edit, on_remove: delete}",
            accounts="{" + ", ".join(f"{k}: {v}" for k, v in accounts.items()) + "}",
            allow_private_urls_in_feeds=True,
            **settings,
        )

    configured("home", accounts)
    config = str(tmp_path / "feeds.yaml")
    assert main(["run", "--config", config]) == 0
    feeds.set_feed("/feed", rss([blog.article(2, description=None, pubDate=None), article(1)]))
    assert main(["run", "--config", config]) == 0
    assert len(home.statuses) == 1
    if not keep_home:
        accounts.pop("home")
    return configured("work", accounts)


def test_an_edit_after_the_feed_moved_goes_to_the_toots_own_account(
    tmp_path, feeds, home, work, monkeypatch
):
    config = moved_blog(tmp_path, feeds, home, work, monkeypatch, keep_home=True)
    feeds.set_feed(
        "/feed", rss([blog.article(2, title="Fixed", description=None, pubDate=None), article(1)])
    )

    assert main(["run", "--config", config]) == 0

    [status] = home.statuses
    assert status["text"].startswith("Fixed")
    assert work.count("PUT") == 0 and work.statuses == []


def test_a_toot_whose_account_is_gone_is_left_alone_with_a_warning(
    tmp_path, feeds, home, work, monkeypatch, caplog
):
    config = moved_blog(tmp_path, feeds, home, work, monkeypatch, keep_home=False)
    feeds.set_feed(
        "/feed", rss([blog.article(2, title="Fixed", description=None, pubDate=None), article(1)])
    )

    assert main(["run", "--config", config]) == 0

    assert work.count("PUT") == 0 and work.count("DELETE") == 0
    assert home.statuses[0]["text"].startswith("Article 2")
    assert "account 'home'" in caplog.text and "no longer" in caplog.text
    with sqlite3.connect(tmp_path / "state.sqlite3") as db:
        statuses = {row[0] for row in db.execute("SELECT status FROM entries")}
    assert "posted" in statuses and "deleted" not in statuses


def test_replies_and_cards_of_a_toot_whose_account_is_gone_are_left_alone_with_a_warning(
    tmp_path, feeds, home, work, monkeypatch, caplog
):
    from datetime import timedelta

    from crossposter.config import load_settings
    from crossposter.pipeline import run
    from crossposter.state import now_utc

    config = moved_blog(
        tmp_path, feeds, home, work, monkeypatch, keep_home=False, replies_file="replies.json"
    )
    home.requests.clear()
    caplog.clear()

    # Late enough for the toot's card to be looked at; its replies are due too.
    later = now_utc() + timedelta(minutes=11)
    assert run(load_settings(config), clock=lambda: later).exit_code == 0

    asked = [path for _, path, _ in home.requests + work.requests if "/statuses/" in path]
    assert asked == []
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    about_home = [w for w in warnings if "account 'home'" in w and "no longer" in w]
    assert len(about_home) == 1, warnings


@pytest.mark.parametrize("home_now", ["gone", "on another instance"])
def test_retract_refuses_a_toot_whose_account_is_not_where_it_posted(
    tmp_path, feeds, home, work, monkeypatch, caplog, home_now
):
    config = moved_blog(tmp_path, feeds, home, work, monkeypatch, keep_home=False)
    if home_now == "on another instance":
        # The blog back on an account named `home`, now on `work`'s instance: the toot id
        # means nothing there.
        text = (tmp_path / "feeds.yaml").read_text().replace("account: work", "account: home")
        text = text.replace(
            "accounts: {",
            f"accounts: {{home: {{instance: '{work.base_url}', access_token_env: HOME_TOKEN}}, ",
        )
        config = write(tmp_path, text)
        work.valid_tokens.add("home-token")

    assert main(["retract", "--config", config, "blog", "https://blog.example.org/2/"]) == 2

    assert home.count("DELETE") == 0 and work.count("DELETE") == 0
    assert "account 'home'" in caplog.text and "no longer" in caplog.text
    with sqlite3.connect(tmp_path / "state.sqlite3") as db:
        statuses = {row[0] for row in db.execute("SELECT status FROM entries")}
    assert "posted" in statuses and "deleted" not in statuses
