"""What a person reads when the instance is away, the token is refused or the state's
folder is missing: one plain sentence each, once, and the right exit code."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from crossposter.cli import main

from support.blog import feed_of, write_config


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def away(tmp_path, feeds, token, closed_port):
    """A blog with two new articles whose instance refuses connections."""
    feeds.set_feed("/feed", feed_of(1, 2))
    instance = f"http://127.0.0.1:{closed_port}"

    class Away:
        base_url = instance

    feed = f"- {{name: blog, url: '{feeds.url('/feed')}', backfill: 2}}"
    config = write_config(tmp_path, Away, feed)
    return config, instance


def test_run_against_a_refusing_instance_says_so_at_once_and_leaves_the_posts_pending(away):
    config, instance = away
    done = subprocess.run(
        [sys.executable, "-m", "crossposter", "run", "--config", config],
        capture_output=True,
        text=True,
        timeout=50,  # a hang guard only: sixty seconds of retries would trip it
    )
    assert done.returncode == 75
    lines = done.stderr.splitlines()
    refused = f"cannot connect to {instance}: connection refused"
    assert f"WARNING {refused}; posts wait for the next run" in lines
    assert (
        "WARNING feed blog: new=2 posted=0 skipped=0 deferred=2 errors=1: instance unreachable"
        in lines
    )
    assert "Max retries" not in done.stderr and "NewConnectionError" not in done.stderr


def test_check_against_a_refusing_instance_names_it_plainly(away, capsys):
    config, instance = away
    assert main(["check", "--config", config]) == 1
    out = capsys.readouterr().out
    refused = f"cannot connect to {instance}: connection refused"
    assert (
        f"token: PROBLEM: the token from CROSSPOSTER_ACCESS_TOKEN cannot be verified: {refused}"
        in out
    )
    assert f"instance: PROBLEM: {refused}" in out
    assert "was not asked" not in out and "HTTPConnectionPool" not in out


def test_a_refused_token_is_told_once_with_where_it_came_from(
    tmp_path, api, feeds, monkeypatch, caplog
):
    monkeypatch.setenv("CROSSPOSTER_ACCESS_TOKEN", "revoked-token")
    feeds.set_feed("/feed", feed_of(1, 2))
    feed = f"- {{name: blog, url: '{feeds.url('/feed')}', backfill: 2}}"
    config = write_config(tmp_path, api, feed)
    assert main(["run", "--config", config]) == 1
    assert caplog.text.count("the access token was refused (HTTP 401)") == 1
    assert "CROSSPOSTER_ACCESS_TOKEN" in caplog.text
    assert "deferred=2" in caplog.text


# A preview that passes where the real run stops would be no preview of it.
@pytest.mark.parametrize("preview", [[], ["--dry-run"]], ids=["run", "preview"])
def test_a_state_file_in_a_missing_folder_is_an_error_naming_the_folder(
    tmp_path, api, feeds, token, caplog, preview
):
    feeds.set_feed("/feed", feed_of(1))
    missing = tmp_path / "volume"
    config = write_config(
        tmp_path,
        api,
        f"- {{name: blog, url: '{feeds.url('/feed')}'}}",
        state_file=str(missing / "state.sqlite3"),
    )
    assert main(["run", "--config", config, *preview]) == 2
    assert f"the folder {missing} does not exist" in caplog.text
    assert not missing.exists()


def test_the_default_state_folder_is_created(tmp_path, api, feeds, token):
    feeds.set_feed("/feed", feed_of(1))
    config = write_config(
        tmp_path, api, f"- {{name: blog, url: '{feeds.url('/feed')}'}}", state_file=None
    )
    assert main(["run", "--config", config]) == 0
    assert (tmp_path / "home" / ".local" / "state" / "crossposter").is_dir()
