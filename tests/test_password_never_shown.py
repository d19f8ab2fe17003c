"""A PostgreSQL password never shows: not in any command's output, log line (text or JSON)
or exception text, however the URL spells it, and whether or not the database answers.

The password is found as libpq finds it: `?password=` is one, and so is a userinfo holding
`#` or `?`, which a URL parser would split elsewhere than libpq does."""

from __future__ import annotations

import subprocess
import sys

import pytest

from crossposter.cli import main
from crossposter.redaction import host_and_database, redacted_url, without_password

from support.blog import write_config
from support.postgres import _free_loopback_port

# Pieces of each password: none may show, whatever the rest of the line.
SECRET_PIECES = ("hunter2", "xyzzy")


def spellings(port: int) -> dict[str, str]:
    return {
        "query": f"postgresql://crossposter@127.0.0.1:{port}/db?password=hunter2xyzzy",
        "hash in userinfo": f"postgresql://crossposter:hunter2#xyzzy@127.0.0.1:{port}/db",
        "question mark in userinfo": f"postgresql://crossposter:hunter2?xyzzy@127.0.0.1:{port}/db",
    }


def config_with_state_url(tmp_path, api, url: str) -> str:
    return write_config(
        tmp_path,
        api,
        "- {name: blog, url: 'http://127.0.0.1:9/feed'}",
        state_file=None,
        state_url=f"'{url}'",
    )


COMMANDS = [
    ["check"],
    ["run"],
    ["run", "--dry-run"],
    ["state", "feeds"],
    ["state", "entries"],
    ["state", "retry"],
    ["state", "forget", "blog", "https://blog.example.org/1/"],
    ["state", "mark-seen", "blog"],
    ["state", "export", "-"],
    ["state", "import", "backup.json"],
    ["health"],
    ["links"],
    ["retract", "blog", "https://blog.example.org/1/"],
]


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("spelling", ["query", "hash in userinfo", "question mark in userinfo"])
def test_no_command_shows_the_password_of_a_database_that_is_down(
    tmp_path, capsys, api, token, log_format, spelling
):
    url = spellings(_free_loopback_port())[spelling]
    (tmp_path / "backup.json").write_text("{}", encoding="utf-8")
    config = config_with_state_url(tmp_path, api, url)
    for command in COMMANDS:
        code = main(["-v", "--log-format", log_format, *command, "--config", config])
        shown = capsys.readouterr()
        output = shown.out + shown.err
        assert code != 0, command
        assert "127.0.0.1" in output, (command, output)
        for piece in SECRET_PIECES:
            assert piece not in output, (command, output)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:s3cret@db:5432/x", "postgresql://u:***@db:5432/x"),
        ("postgresql://u:p%40ss@db/x?sslmode=require", "postgresql://u:***@db/x?sslmode=require"),
        ("postgresql://u@db/x", "postgresql://u@db/x"),
        ("postgresql://u@db/x?password=s3cret", "postgresql://u:***@db/x"),
        ("postgresql://u:s3#cret@db/x", "postgresql://u:***@db/x"),
        ("postgresql://u:s3?cret@db:5432/x", "postgresql://u:***@db:5432/x"),
        ("postgres://db", "postgresql://db"),
        ("postgresql://h1:1,h2:2/x", "postgresql://h1:1,h2:2/x"),
        ("postgresql://u@[::1]:5432/x", "postgresql://u@[::1]:5432/x"),
        ("postgresql:///x?host=/run/pg", "postgresql:///x?host=%2Frun%2Fpg"),
    ],
)
def test_a_url_shows_what_libpq_reads_in_it_without_the_password(url, shown):
    assert redacted_url(url) == shown


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:s3cret@db:5432/x?password=s3cret", "postgresql://***@db:5432/x"),
        ("postgresql://u:s3#cret@db/x", "postgresql://***@db/x"),
        ("postgres://db", "postgresql://***@db/"),
    ],
)
def test_without_psycopg_a_url_shows_only_its_host_and_database(url, shown):
    assert host_and_database(url) == shown


def test_an_error_message_repeating_the_password_shows_stars_instead():
    url = "postgresql://u:hunter2#xyzzy@db/x"
    message = f"could not connect to {url} as u with hunter2#xyzzy"
    masked = without_password(message, url)
    assert "hunter2" not in masked and "xyzzy" not in masked
    assert "postgresql://u:***@db/x" in masked


def test_without_psycopg_the_install_message_shows_only_host_and_database(tmp_path, api, token):
    """The `postgres` extra not installed: the URL cannot be read as libpq reads it, so
    neither its userinfo nor its query string is shown."""
    url = spellings(_free_loopback_port())["hash in userinfo"]
    config = config_with_state_url(tmp_path, api, url)
    without_psycopg = (
        "import sys; sys.modules['psycopg'] = None; from crossposter.cli import main; "
        "sys.exit(main(sys.argv[1:]))"
    )
    for command in (["run"], ["check"], ["state", "feeds"]):
        done = subprocess.run(
            [sys.executable, "-c", without_psycopg, *command, "--config", config],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "'.[postgres]'" in done.stderr + done.stdout, done.stderr
        assert "postgresql://***@127.0.0.1:" in done.stderr + done.stdout
        for piece in (*SECRET_PIECES, "crossposter:"):
            assert piece not in done.stderr + done.stdout, (command, done.stderr)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("mysql://u:hunter2@db/x", "mysql://***@db/x"),
        ("mysql://u:hun#ter2@db/x", "mysql://***@db/x"),
        ("https://u:p/ss@blog.example/feed", "https://***@blog.example/feed"),
        ("https://blog.example/feed", "https://blog.example/feed"),
    ],
)
def test_any_other_url_loses_everything_before_its_last_at(url, shown):
    assert redacted_url(url) == shown
