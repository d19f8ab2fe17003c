"""Where the token comes from: the environment, else a file (a Docker or Kubernetes
secret, or what `crossposter login` saved); never the configuration file itself."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from crossposter.accounts import default_account, default_token_file, with_token
from crossposter.cli import main
from crossposter.config import load_settings
from crossposter.errors import ConfigError
from crossposter.health import record_pass
from crossposter.state.sqlite import SqliteState

from support.builders import write_config_text

BLOG = "instance: https://mastodon.example\nfeeds:\n  - {name: blog, url: blog.xml}\n"


def write_config(tmp_path, extra: str = "") -> str:
    return write_config_text(tmp_path, BLOG + extra)


def account_of(settings):
    """The top-level account with its token, read the way a run reads it."""
    return with_token(settings, default_account(settings))


def token_of(settings) -> str | None:
    return account_of(settings).token


def test_access_token_file_is_read_when_the_variable_is_absent(tmp_path):
    (tmp_path / "secret").write_text("file-token\n")
    settings = load_settings(write_config(tmp_path, "access_token_file: secret\n"))
    assert token_of(settings) == "file-token"
    assert account_of(settings).token_source == f"file {tmp_path / 'secret'}"


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
    assert account_of(settings).token_source == "CROSSPOSTER_ACCESS_TOKEN"


def test_the_file_login_saved_for_this_instance_is_the_last_resort(tmp_path):
    saved = default_token_file("https://mastodon.example")
    saved.parent.mkdir(parents=True)
    saved.write_text("login-token\n")
    assert token_of(load_settings(write_config(tmp_path))) == "login-token"


def test_without_any_token_reading_it_says_where_to_put_one(tmp_path):
    settings = load_settings(write_config(tmp_path))
    assert settings.access_token is None
    with pytest.raises(ConfigError, match="no access token: export CROSSPOSTER_ACCESS_TOKEN"):
        token_of(settings)


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
    # Loading the configuration reads no token: only the commands that send one fail.
    settings = load_settings(write_config(tmp_path, "access_token_file: secret\n"))
    with pytest.raises(ConfigError) as refused:
        token_of(settings)
    assert expected in str(refused.value)
    assert str(tmp_path / "secret") in str(refused.value)
    assert "two words" not in str(refused.value)


def test_the_token_from_a_file_is_never_shown(tmp_path):
    (tmp_path / "secret").write_text("sekret-from-file")
    settings = load_settings(write_config(tmp_path, "access_token_file: secret\n"))
    account = account_of(settings)
    assert account.token == "sekret-from-file"
    assert "sekret-from-file" not in repr(settings) + repr(account)
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


# -- commands that send nothing need no token ---------------------------------


@pytest.fixture
def missing_token_file(tmp_path) -> str:
    """A configuration whose access_token_file does not exist, with a readable local feed."""
    from conftest import EXAMPLES

    shutil.copy(EXAMPLES / "demo-feed.xml", tmp_path / "blog.xml")
    return write_config(
        tmp_path, "access_token_file: missing.token\nstate_file: state.sqlite3\n"
    )


def test_a_preview_needs_no_token_even_when_its_file_is_missing(missing_token_file, capsys):
    assert main(["run", "--dry-run", "--config", missing_token_file]) == 0
    assert "nothing was changed" in capsys.readouterr().out


def test_health_needs_no_token_even_when_its_file_is_missing(missing_token_file, tmp_path):
    record_pass(tmp_path / "state.sqlite3.heartbeat", interval_seconds=900, exit_code=0)
    assert main(["health", "--config", missing_token_file]) == 0


def test_the_state_commands_need_no_token_even_when_its_file_is_missing(
    missing_token_file, tmp_path, capsys
):
    with SqliteState.open(tmp_path / "state.sqlite3"):
        pass
    assert main(["state", "feeds", "--config", missing_token_file]) == 0
    assert "never fetched" in capsys.readouterr().out
    assert main(["state", "export", "--config", missing_token_file]) == 0
    assert json.loads(capsys.readouterr().out)


def test_a_real_run_with_a_missing_token_file_stops_before_anything_naming_it(
    missing_token_file, tmp_path, caplog
):
    assert main(["run", "--config", missing_token_file]) == 2
    assert (
        f"configuration error: access_token_file {tmp_path / 'missing.token'}: "
        "cannot read the token: No such file or directory"
    ) in caplog.text
    assert not (tmp_path / "state.sqlite3").exists()
