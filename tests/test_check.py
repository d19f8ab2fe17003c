"""`crossposter check`: every part of a run tried — config, feeds, token, limits, state —
nothing posted, nothing written; each problem named, exit 1; a bad config, exit 2."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crossposter.cli import main

from support.blog import write_config
from support.feeds import rss
from support.mastodon_api import MastodonAPI


@pytest.fixture
def api():
    with MastodonAPI(max_characters=1000) as server:
        yield server


@pytest.fixture
def feeds(feeds):
    """The shared feed server, serving a French blog of two entries at /blog."""
    feeds.set_feed(
        "/blog",
        rss(
            [
                {
                    "title": "Le plus récent",
                    "link": feeds.url("/2/"),
                    "guid": "p2",
                    "pubDate": datetime(2026, 11, 3, tzinfo=UTC),
                    "description": "Un résumé.",
                },
                {
                    "title": "L'ancien",
                    "link": feeds.url("/1/"),
                    "guid": "p1",
                    "pubDate": datetime(2026, 11, 1, tzinfo=UTC),
                },
            ],
            language="fr-FR",
        ),
    )
    return feeds


@pytest.fixture
def config(tmp_path, api, feeds):
    return write_config(tmp_path, api, f"- {{name: blog, url: '{feeds.url('/blog')}'}}")


def test_all_good_reports_each_part_and_exits_0(config, api, token, capsys, tmp_path):
    assert main(["check", "--config", config]) == 0
    out = capsys.readouterr().out
    assert f"config: {config} is valid (1 feed, 1 enabled)" in out
    assert 'feed blog: ok, 2 entries, language fr-FR, newest "Le plus récent" (2026-11-03)' in out
    assert "/1000 characters" in out
    assert "token: ok, posts as @bot@127.0.0.1 (from CROSSPOSTER_ACCESS_TOKEN)" in out
    assert "(from CROSSPOSTER_ACCESS_TOKEN)" in out
    assert "instance: 1000 characters" in out
    assert "will be created by the first run" in out
    assert "check: all good" in out


def test_check_posts_nothing_and_writes_nothing(config, api, token, tmp_path):
    before = sorted(path.name for path in tmp_path.iterdir())
    assert main(["check", "--config", config]) == 0
    assert api.statuses == []
    assert api.count("POST", "/api/v1/statuses") == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == before


def test_an_existing_state_is_read_not_changed(config, api, token, tmp_path, capsys):
    assert main(["run", "--config", config]) == 0
    state = tmp_path / "state.sqlite3"
    written = state.read_bytes()
    capsys.readouterr()
    assert main(["check", "--config", config]) == 0
    assert "(1 feed known)" in capsys.readouterr().out
    assert state.read_bytes() == written


def test_a_missing_feed_is_named_with_its_reason(tmp_path, api, feeds, token, capsys):
    feeds.set_status("/gone", 404)
    config = write_config(
        tmp_path,
        api,
        f"""
        - {{name: blog, url: '{feeds.url("/blog")}'}}
        - {{name: old, url: '{feeds.url("/gone")}'}}
        """,
    )
    assert main(["check", "--config", config]) == 1
    captured = capsys.readouterr()
    assert "feed blog: ok" in captured.out
    assert "feed old: PROBLEM: " in captured.out and "404" in captured.out
    assert captured.out.endswith("check: 1 problem\n")
    assert (captured.out + captured.err).count("feed old:") == 1, "each problem said once"


def test_an_html_page_instead_of_a_feed_is_a_problem(tmp_path, api, feeds, token, capsys):
    feeds.set_html("/page")
    config = write_config(tmp_path, api, f"- {{name: site, url: '{feeds.url('/page')}'}}")
    assert main(["check", "--config", config]) == 1
    assert "HTML page, not a feed" in capsys.readouterr().out


def test_a_disabled_feed_is_not_fetched(tmp_path, api, feeds, token, capsys):
    config = write_config(
        tmp_path, api, f"- {{name: paused, url: '{feeds.url('/blog')}', enabled: false}}"
    )
    assert main(["check", "--config", config]) == 0
    assert "feed paused: disabled" in capsys.readouterr().out
    assert feeds.count() == 0


def test_no_token_is_a_problem_that_says_how_to_get_one(config, api, capsys):
    assert main(["check", "--config", config]) == 1
    out = capsys.readouterr().out
    assert "token: PROBLEM: no access token: export CROSSPOSTER_ACCESS_TOKEN" in out
    assert f"crossposter login --instance {api.base_url}" in out


def test_a_revoked_token_is_a_problem(config, monkeypatch, capsys):
    monkeypatch.setenv("CROSSPOSTER_ACCESS_TOKEN", "revoked-token")
    assert main(["check", "--config", config]) == 1
    assert (
        "token: PROBLEM: the token from CROSSPOSTER_ACCESS_TOKEN cannot be verified: "
        "the access token was refused (HTTP 401)"
    ) in capsys.readouterr().out


def test_a_token_without_read_accounts_is_a_problem(config, api, monkeypatch, capsys):
    api.grant_token("post-only", "write:statuses")
    monkeypatch.setenv("CROSSPOSTER_ACCESS_TOKEN", "post-only")
    assert main(["check", "--config", config]) == 1
    assert "HTTP 403" in capsys.readouterr().out


def test_the_token_file_in_use_is_named_never_its_content(config, tmp_path, monkeypatch, capsys):
    (tmp_path / "secret").write_text("test-token\n")
    monkeypatch.setenv("CROSSPOSTER_ACCESS_TOKEN_FILE", str(tmp_path / "secret"))
    assert main(["check", "--config", config]) == 0
    captured = capsys.readouterr()
    assert f"(from file {tmp_path / 'secret'})" in captured.out
    assert "test-token" not in captured.out + captured.err


def test_an_unreadable_state_is_a_problem(config, token, tmp_path, capsys):
    (tmp_path / "state.sqlite3").write_bytes(b"this is not a database, not at all" * 100)
    assert main(["check", "--config", config]) == 1
    assert "state: PROBLEM:" in capsys.readouterr().out


def test_a_bad_template_is_a_configuration_error(tmp_path, api, feeds, token, capsys):
    config = write_config(
        tmp_path, api, f"- {{name: blog, url: '{feeds.url('/blog')}', template: '{{titel}}'}}"
    )
    assert main(["check", "--config", config]) == 2
    assert "unknown template field" in capsys.readouterr().err


# -- several accounts ---------------------------------------------------------------------


@pytest.fixture
def work():
    with MastodonAPI(valid_tokens={"work-token"}, max_characters=700) as server:
        yield server


def test_every_account_in_use_is_verified_with_its_own_instance(
    tmp_path, api, work, feeds, token, monkeypatch, capsys
):
    monkeypatch.setenv("WORK_TOKEN", "work-token")
    config = write_config(
        tmp_path,
        api,
        f"""
        - {{name: blog, url: '{feeds.url("/blog")}'}}
        - {{name: company, url: '{feeds.url("/blog")}', account: work}}
        """,
        accounts=f"{{work: {{instance: '{work.base_url}', access_token_env: WORK_TOKEN}}}}",
    )
    work.domain = "work.example"
    assert main(["check", "--config", config]) == 0
    out = capsys.readouterr().out
    assert "token: ok, posts as @bot@127.0.0.1 (from CROSSPOSTER_ACCESS_TOKEN)" in out
    assert "token (account work): ok, posts as @bot@work.example" in out
    assert "(from WORK_TOKEN)" in out
    assert "instance (account work): 700 characters" in out
    # Each feed's sample toot is measured against the instance it posts to.
    assert "feed company: ok" in out and "/700 characters" in out
    assert work.count("GET", "/api/v1/accounts/verify_credentials") == 1


def test_a_missing_account_token_is_a_problem_naming_the_account(
    tmp_path, api, work, feeds, token, capsys
):
    config = write_config(
        tmp_path,
        api,
        f"- {{name: company, url: '{feeds.url('/blog')}', account: work}}",
        accounts=f"{{work: {{instance: '{work.base_url}', access_token_env: WORK_TOKEN}}}}",
    )
    assert main(["check", "--config", config]) == 1
    out = capsys.readouterr().out
    assert "token (account work): PROBLEM: " in out and "export WORK_TOKEN" in out


def test_the_top_level_account_is_not_asked_for_when_no_feed_uses_it(
    tmp_path, api, work, feeds, monkeypatch, capsys
):
    monkeypatch.setenv("WORK_TOKEN", "work-token")
    config = write_config(
        tmp_path,
        api,
        f"- {{name: company, url: '{feeds.url('/blog')}', account: work}}",
        accounts=f"{{work: {{instance: '{work.base_url}', access_token_env: WORK_TOKEN}}}}",
    )
    assert main(["check", "--config", config]) == 0
    assert "no access token" not in capsys.readouterr().out
    assert api.requests == []


def test_an_instance_that_fails_to_tell_its_limits_is_a_problem(config, api, token, capsys):
    api.fail_next("GET", "/api/v*/instance", 503, times=2)
    assert main(["check", "--config", config]) == 1
    out = capsys.readouterr().out
    assert (
        f"instance: PROBLEM: {api.base_url}/api/v2/instance answered HTTP 503; "
        f"{api.base_url}/api/v1/instance answered HTTP 503"
    ) in out
    assert "was not asked" not in out


def test_check_cuts_a_dripping_feed_off_at_the_configured_fetch_deadline(
    tmp_path, api, feeds, token, capsys
):
    feeds.set_feed("/slow", "<rss>" + " " * 2000 + "</rss>")
    feeds.set_drip("/slow", interval=0.05)  # 2,000 bytes at this pace: far past the deadline
    config = write_config(
        tmp_path, api, f"- {{name: slow, url: '{feeds.url('/slow')}'}}", fetch_deadline="1s"
    )
    assert main(["check", "--config", config]) == 1
    assert "took longer than 1 s" in capsys.readouterr().out
