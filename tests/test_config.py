"""The configuration: YAML, defaults for every feed, the environment winning, clear refusals."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from crossposter.config import FeedConfig, load_settings
from crossposter.errors import ConfigError

from support.builders import write_config_text as write

MINIMAL = """
instance: https://mastodon.example
feeds:
  - name: blog
    url: https://blog.example/feed/
"""


def test_minimal_config_gets_the_documented_defaults(tmp_path):
    settings = load_settings(write(tmp_path, MINIMAL))
    feed = settings.feeds[0]
    assert settings.instance_url == "https://mastodon.example"
    assert (feed.backfill, feed.max_posts_per_run, feed.enabled) == (0, 3, True)
    assert feed.template == "{title}\n\n{summary}\n\n{url}\n\n{hashtags}"
    assert settings.state_file == tmp_path / "home/.local/state/crossposter/state.sqlite3"


def test_defaults_apply_to_every_feed_unless_the_feed_sets_its_own(tmp_path):
    settings = load_settings(
        write(
            tmp_path,
            """
instance: https://mastodon.example
defaults: {visibility: unlisted, max_posts_per_run: 1, hashtags: [blog]}
feeds:
  - {name: a, url: https://a.example/feed}
  - {name: b, url: https://b.example/feed, visibility: public}
""",
        )
    )
    a, b = settings.feeds
    assert (a.visibility, a.max_posts_per_run, a.hashtags) == ("unlisted", 1, ["blog"])
    assert (b.visibility, b.max_posts_per_run) == ("public", 1)


def test_environment_overrides_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("CROSSPOSTER_INSTANCE", "https://other.example")
    monkeypatch.setenv("CROSSPOSTER_STATE_FILE", "/var/lib/crossposter/state.sqlite3")
    monkeypatch.setenv("CROSSPOSTER_ACCESS_TOKEN", "sekret")
    settings = load_settings(write(tmp_path, MINIMAL))
    assert settings.instance_url == "https://other.example"
    assert str(settings.state_file) == "/var/lib/crossposter/state.sqlite3"
    assert settings.access_token.get_secret_value() == "sekret"
    assert "sekret" not in repr(settings) and "sekret" not in str(settings.model_dump())


def test_relative_paths_are_read_next_to_the_config_file(tmp_path):
    folder = tmp_path / "conf"
    folder.mkdir()
    path = folder / "feeds.yaml"
    path.write_text(
        "instance: https://m.example\nstate_file: s.sqlite3\n"
        "feeds: [{name: a, url: feed.xml}, {name: b, url: 'file:///srv/feed.xml'}]\n"
    )
    settings = load_settings(path)
    assert settings.state_file == folder / "s.sqlite3"
    assert settings.feeds[0].url == str(folder / "feed.xml")
    assert settings.feeds[1].url == "file:///srv/feed.xml"


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (
            MINIMAL.replace("url:", "bakfill: 2\n    url:"),
            "feeds[0] (blog): unknown key bakfill; did you mean backfill?",
        ),
        (MINIMAL + "colour: blue\n", "feeds.yaml:6:1: unknown key colour"),
        (MINIMAL.replace("url:", "backfill: -1\n    url:"), "feeds[0] (blog).backfill"),
        (MINIMAL.replace("url:", "visibility: everyone\n    url:"), "feeds[0] (blog).visibility"),
        (MINIMAL.replace("https://mastodon.example", "not a url"), "instance"),
        ("feeds: []\n", "instance: required"),
        (MINIMAL.replace("url:", "template: '{title} {nope}'\n    url:"), "unknown template field"),
        (MINIMAL.replace("url:", "template: '{title'\n    url:"), "malformed template"),
        (
            MINIMAL.replace("url:", "template: '{published:%-d %Q} {url}'\n    url:"),
            "template field {published:%-d %Q}: %Q is not a date directive",
        ),
        (MINIMAL + "  - {name: blog, url: https://x.example}\n", "two feeds are named 'blog'"),
        ("instance: [unclosed\n", "not valid YAML"),
        (MINIMAL + "access_token: abc\n", "must not be written in the configuration file"),
    ],
)
def test_bad_configuration_is_refused_naming_the_key_and_the_file(tmp_path, yaml_text, expected):
    path = write(tmp_path, yaml_text)
    with pytest.raises(ConfigError) as refused:
        load_settings(path)
    assert expected in str(refused.value)
    assert str(path) in str(refused.value)


def test_a_missing_file_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "absent.yaml")


def test_the_token_is_never_shown_in_a_refusal(tmp_path, monkeypatch):
    monkeypatch.setenv("CROSSPOSTER_ACCESS_TOKEN", "sekret-token")
    with pytest.raises(ConfigError) as refused:
        load_settings(write(tmp_path, MINIMAL + "colour: blue\n"))
    assert "sekret-token" not in str(refused.value)


def test_shipped_examples_are_valid(monkeypatch):
    from conftest import EXAMPLES

    for path in [EXAMPLES / "demo.yaml", EXAMPLES.parent / "feeds.yaml"]:
        settings = load_settings(path)
        assert settings.feeds


def _fingerprint_in_a_new_process(config, hash_seed: str) -> str:
    code = (
        "import sys\n"
        "from crossposter.config import load_settings\n"
        "print(load_settings(sys.argv[1]).feeds[0].settings_fingerprint)"
    )
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-c", code, str(config)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return done.stdout.strip()


def test_a_feeds_settings_fingerprint_is_the_same_in_every_process(tmp_path):
    # Were it not, every run would think the settings changed and retry refused toots forever.
    config = write(tmp_path, MINIMAL)
    first = _fingerprint_in_a_new_process(config, "1")
    assert first
    assert _fingerprint_in_a_new_process(config, "2") == first


def test_a_feeds_settings_fingerprint_changes_with_its_settings(tmp_path):
    feed = load_settings(write(tmp_path, MINIMAL)).feeds[0]
    fewer_tags = feed.model_copy(update={"max_hashtags": 2})
    assert feed.settings_fingerprint == feed.model_copy().settings_fingerprint
    assert feed.settings_fingerprint != fewer_tags.settings_fingerprint


def test_a_feed_setting_added_by_an_upgrade_leaves_the_fingerprint_as_it_was():
    # Otherwise every upgrade that adds a key would retry every failed entry once.
    class Upgraded(FeedConfig):
        a_new_setting: bool = False

    written = {"name": "blog", "url": "https://blog.example.org/feed", "max_hashtags": 2}
    assert Upgraded(**written).settings_fingerprint == FeedConfig(**written).settings_fingerprint
    assert (
        Upgraded(**written, a_new_setting=True).settings_fingerprint
        != FeedConfig(**written).settings_fingerprint
    )


def test_language_detection_can_be_turned_off_for_all_feeds_or_one(tmp_path):
    text = MINIMAL.replace("feeds:", "defaults:\n  detect_language: false\nfeeds:") + (
        "  - name: other\n    url: https://other.example/feed/\n    detect_language: true\n"
    )
    blog, other = load_settings(write(tmp_path, text)).feeds

    assert blog.detect_language is False
    assert other.detect_language is True
    assert load_settings(write(tmp_path, MINIMAL)).feeds[0].detect_language


def test_the_webhook_secret_itself_is_refused_in_the_configuration_file(tmp_path):
    path = write(tmp_path, "instance: https://m.example\nwebhook_secret: s3cret\n")
    with pytest.raises(ConfigError, match="webhook_secret must not be written") as refused:
        load_settings(path)
    assert "s3cret" not in str(refused.value)


def test_the_webhook_secret_file_is_read_next_to_the_configuration(tmp_path):
    from crossposter.listen.service import webhook_secret

    (tmp_path / "secret").write_text("s3cret\n")
    settings = load_settings(
        write(tmp_path, "instance: https://m.example\nwebhook_secret_file: secret\n")
    )
    assert settings.webhook_secret_file == tmp_path / "secret"
    assert webhook_secret(settings) == b"s3cret"


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://crossposter.example.org/", True),
        ("http://127.0.0.1:8080/", True),
        ("http://localhost:8080/", True),
        ("http://crossposter.example.org/", False),
    ],
)
def test_the_websub_callback_is_https_unless_on_this_machine(tmp_path, url, accepted):
    path = write(tmp_path, f"instance: https://m.example\nwebsub_callback: '{url}'\n")
    if accepted:
        assert str(load_settings(path).websub_callback) == url
    else:
        with pytest.raises(ConfigError, match="websub_callback must be https://"):
            load_settings(path)
