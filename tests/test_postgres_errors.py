"""PostgreSQL refusing crossposter, told by its cause, on the real test server (which checks
passwords): a wrong password, a missing database or role needs a person (exit 2, the
cause named, the password never shown); only a server out of reach is temporary (75)."""

from __future__ import annotations

import uuid

import pytest

from crossposter.cli import main

from support.postgres import PASSWORD, fresh_database

WRONG = "Wr0ng-pa55word"


@pytest.fixture
def server(postgres_server):
    return postgres_server


def config_with(tmp_path, url: str) -> str:
    config = tmp_path / "feeds.yaml"
    config.write_text(
        f"instance: http://127.0.0.1:9\nstate_url: '{url}'\nfeeds: []\n", encoding="utf-8"
    )
    return str(config)


def every_command(config: str, capsys, caplog) -> tuple[list[int], str]:
    """Exit codes of `state feeds`, a preview and `check`, and all they showed."""
    codes = [
        main(["state", "feeds", "--config", config]),
        main(["run", "--dry-run", "--config", config]),
        main(["check", "--config", config]),
    ]
    out = capsys.readouterr()
    return codes, out.out + out.err + caplog.text


def refused(server, database: str, user: str, password: str) -> str:
    return f"postgresql://{user}:{password}@{server.host}:{server.port}/{database}"


@pytest.mark.parametrize(
    ("case", "cause"),
    [
        ("wrong password", "the server refused the password of the user postgres"),
        ("missing database", 'there is no database "nowhere_'),
        ("missing role", "the server refused the password of the user ghost_"),
        ("missing role, trusted", 'there is no role (user) "ghost_'),
    ],
)
def test_a_login_the_server_refuses_exits_2_naming_why_never_the_password(
    tmp_path, server, capsys, caplog, case, cause
):
    name = f"t_{uuid.uuid4().hex[:12]}"
    fresh_database(server, name)
    suffix = uuid.uuid4().hex[:8]
    url = {
        "wrong password": refused(server, name, server.user, WRONG),
        "missing database": refused(server, f"nowhere_{suffix}", server.user, PASSWORD),
        # Under password authentication the server answers an unknown role as a wrong
        # password, so as not to tell which roles exist.
        "missing role": refused(server, name, f"ghost_{suffix}", PASSWORD),
        # Through its socket the server trusts whoever connects: it names the role.
        "missing role, trusted": (
            f"postgresql://ghost_{suffix}:{PASSWORD}@/{name}?host={server.folder}"
            f"&port={server.port}"
        ),
    }[case]
    codes, shown = every_command(config_with(tmp_path, url), capsys, caplog)
    assert codes == [2, 2, 1], shown
    assert cause in shown
    assert "next run carries on" not in shown
    assert WRONG not in shown and PASSWORD not in shown


def test_a_database_out_of_reach_is_still_temporary(tmp_path, capsys, caplog):
    from support.postgres import _free_loopback_port

    url = f"postgresql://u:{WRONG}@127.0.0.1:{_free_loopback_port()}/crossposter"
    codes, shown = every_command(config_with(tmp_path, url), capsys, caplog)
    assert codes == [75, 75, 1], shown
    assert "connection refused" in shown.lower() and WRONG not in shown
    # libpq's message spans lines: the log gives it on one.
    assert "\\n" not in shown and "\\t" not in shown
