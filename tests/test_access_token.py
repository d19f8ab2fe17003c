"""Where the token comes from: the environment, else a file (a Docker or Kubernetes
secret, or what `crossposter login` saved); never the configuration file itself."""

from __future__ import annotations

import os

import pytest

from crossposter.config import default_token_file, load_settings
from crossposter.errors import ConfigError

from support.builders import write_config_text

BLOG = "instance: https://mastodon.example\nfeeds:\n  - {name: blog, url: blog.xml}\n"


def write_config(tmp_path, extra: str = "") -> str:
    return write_config_text(tmp_path, BLOG + extra)


def token_of(settings) -> str | None:
    return settings.access_token.get_secret_value() if settings.access_token else None


def test_access_token_file_is_read_when_the_variable_is_absent(tmp_path):
    (tmp_path / "secret").write_text("file-token\n")
    settings = load_settings(write_config(tmp_path, "access_token_file: secret\n"))
    assert token_of(settings) == "file-token"
    assert settings.token_source == f"file {tmp_path / 'secret'}"


def test_the_file_can_be_named_by_the_environment_like_a_docker_secret(tmp_path, monkeypatch):
    secrets = tmp_path / "run" / "secrets"
    secrets.mkdir(parents=True)
    (secrets / "mastodon_token").write_text("secret-token")
    monkeypatch.setenv("CROSSPOSTER_ACCESS_TOKEN_FILE", str(secrets / "mastodon_token"))
    assert token_of(load_settings(write_config(tmp_path))) == "secret-token"


def test_the_variable_wins_over_any_file(tmp_path, monkeypatch):
    monkeypatch.setenv("CROSSPOSTER_ACCESS_TOKEN", "env-token")
    settings = load_settings(write_config(tmp_path, "access_token_file: /nonexistent/token\n"))
    assert token_of(settings) == "env-token"
    assert settings.token_source == "CROSSPOSTER_ACCESS_TOKEN"


def test_the_file_login_saved_for_this_instance_is_the_last_resort(tmp_path):
    saved = default_token_file("https://mastodon.example")
    saved.parent.mkdir(parents=True)
    saved.write_text("login-token\n")
    assert token_of(load_settings(write_config(tmp_path))) == "login-token"


def test_without_any_token_the_settings_have_none(tmp_path):
    assert load_settings(write_config(tmp_path)).access_token is None


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read the token: No such file or directory"),
        ("", "must hold the access token alone"),
        ("two words\n", "must hold the access token alone"),
    ],
)
def test_an_unusable_token_file_is_a_configuration_error_naming_it(tmp_path, content, expected):
    if content is not None:
        (tmp_path / "secret").write_text(content)
    with pytest.raises(ConfigError) as refused:
        load_settings(write_config(tmp_path, "access_token_file: secret\n"))
    assert expected in str(refused.value)
    assert str(tmp_path / "secret") in str(refused.value)
    assert "two words" not in str(refused.value)


def test_the_token_from_a_file_is_never_shown(tmp_path):
    (tmp_path / "secret").write_text("sekret-from-file")
    settings = load_settings(write_config(tmp_path, "access_token_file: secret\n"))
    assert "sekret-from-file" not in repr(settings)
    assert "sekret-from-file" not in str(settings.model_dump())


def test_the_token_itself_is_still_refused_in_the_configuration_file(tmp_path):
    with pytest.raises(ConfigError, match="must not be written in the configuration file"):
        load_settings(write_config(tmp_path, "access_token: abc\n"))


def test_default_token_files_differ_per_instance():
    first = default_token_file("https://mastodon.example")
    second = default_token_file("http://127.0.0.1:8080")
    assert first.name == "mastodon.example.token"
    assert second.name == "127.0.0.1_8080.token"
    assert first.parent == second.parent
    assert str(first.parent).startswith(os.environ["XDG_CONFIG_HOME"])
