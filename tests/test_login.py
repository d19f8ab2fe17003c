"""`crossposter login`: register the app, the person authorizes it in a browser and
pastes the code, the token is saved 0600 where `run` finds it (or printed)."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import socket
import stat
import sys
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from crossposter.accounts import app_file, default_account, default_token_file, with_token
from crossposter.cli import main
from crossposter.config import load_settings
from crossposter.errors import ConfigError, LoginFailed
from crossposter.mastodon.login import SCOPES, instance_base_url

from support.mastodon_api import MastodonAPI


@pytest.fixture
def api():
    with MastodonAPI() as server:
        yield server


class Person:
    """Stands at the terminal: opens the address crossposter shows, pastes the code."""

    def __init__(self, capsys, api, code: str | None = None):
        self.capsys = capsys
        self.api = api
        self.code = code
        self.shown = ""
        self.page = ""

    def readline(self) -> str:
        self.shown += self.capsys.readouterr().err
        address = re.search(r"^\s+(http\S+)$", self.shown, re.MULTILINE).group(1)
        self.page = requests.get(address, timeout=5).text
        code = self.code or re.search(r'<code id="code">([^<]+)</code>', self.page).group(1)
        return code + "\n"


def log_in(monkeypatch, capsys, api, *args: str, code: str | None = None):
    person = Person(capsys, api, code)
    monkeypatch.setattr(sys, "stdin", person)
    exit_code = main(["login", "--instance", api.base_url, *args])
    captured = capsys.readouterr()
    person.shown += captured.err
    return exit_code, person, captured.out


def test_login_saves_a_working_token_readable_only_by_its_owner(monkeypatch, capsys, api):
    exit_code, person, out = log_in(monkeypatch, capsys, api)

    assert exit_code == 0
    path = default_token_file(api.base_url)
    token = path.read_text().strip()
    assert token in api.valid_tokens
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert f"saved to {path}" in person.shown
    assert "@bot@127.0.0.1" in person.shown
    assert token not in person.shown + out


def test_the_app_asks_for_the_smallest_scopes_a_poster_needs(monkeypatch, capsys, api):
    log_in(monkeypatch, capsys, api)
    (app,) = api.apps.values()
    assert app["name"] == "crossposter"
    assert set(SCOPES) == {"write:statuses", "write:media", "read:accounts", "read:statuses"}
    assert set(app["scopes"]) == set(SCOPES)
    assert app["redirect_uris"] == ["urn:ietf:wg:oauth:2.0:oob"]
    token = default_token_file(api.base_url).read_text().strip()
    assert api.token_scopes[token] == set(SCOPES)


def test_a_run_finds_the_saved_token_without_being_told(monkeypatch, capsys, api, tmp_path):
    log_in(monkeypatch, capsys, api)
    config = tmp_path / "feeds.yaml"
    config.write_text(f"instance: {api.base_url}\nfeeds: []\n")
    settings = load_settings(config)
    assert with_token(settings, default_account(settings)).token in api.valid_tokens


def test_token_file_puts_it_where_asked_creating_folders(monkeypatch, capsys, api, tmp_path):
    target = tmp_path / "secrets" / "mastodon_token"
    exit_code, person, _ = log_in(monkeypatch, capsys, api, "--token-file", str(target))
    assert exit_code == 0
    assert target.read_text().strip() in api.valid_tokens
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert "access_token_file:" in person.shown


def test_logging_in_again_replaces_the_old_token_file(monkeypatch, capsys, api, tmp_path):
    target = tmp_path / "token"
    target.write_text("old-token\n")
    target.chmod(0o644)
    api.auth_code_single_use = False
    assert log_in(monkeypatch, capsys, api, "--token-file", str(target))[0] == 0
    assert target.read_text().strip() != "old-token"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_print_writes_the_token_alone_on_stdout_and_saves_nothing(monkeypatch, capsys, api):
    exit_code, _, out = log_in(monkeypatch, capsys, api, "--print")
    assert exit_code == 0
    assert out.strip() in api.valid_tokens
    assert out.count("\n") == 1
    assert not default_token_file(api.base_url).exists()


def test_print_keeps_the_app_for_the_next_login_where_it_can(monkeypatch, capsys, api):
    api.auth_code_single_use = False
    assert log_in(monkeypatch, capsys, api, "--print")[0] == 0
    assert log_in(monkeypatch, capsys, api, "--print")[0] == 0
    assert api.count("POST", "/api/v1/apps") == 1
    assert app_file(default_token_file(api.base_url), api.base_url).exists()


def test_print_with_a_config_folder_it_cannot_write_still_prints_the_token(
    monkeypatch, capsys, api, tmp_path
):
    # A file where the folder should be: no user, root included, can create it.
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(blocked))
    exit_code, person, out = log_in(monkeypatch, capsys, api, "--print")
    assert exit_code == 0
    assert out.strip() in api.valid_tokens
    assert "Traceback" not in person.shown
    (note,) = [line for line in person.shown.splitlines() if "could not be kept" in line]
    # One line, naming the file that could not be written.
    assert note.startswith("note: the app registered on the instance could not be kept in ")
    assert str(blocked) in note


def test_a_token_that_cannot_be_saved_says_so_without_a_traceback(
    monkeypatch, capsys, api, tmp_path
):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    exit_code, person, out = log_in(
        monkeypatch, capsys, api, "--token-file", str(blocked / "token")
    )
    assert exit_code == 1
    assert f"ERROR cannot save the token to {blocked / 'token'}:" in person.shown
    assert "--print" in person.shown and "Traceback" not in person.shown
    assert out == ""


def test_the_account_is_named_by_the_instances_own_domain(monkeypatch, capsys, api):
    # Reached at 127.0.0.1, the instance calls itself twin.example, as `check` shows it.
    api.domain = "twin.example"
    _, person, _ = log_in(monkeypatch, capsys, api)
    assert "Access token for @bot@twin.example saved" in person.shown


def test_a_wrong_code_fails_precisely_and_saves_nothing(monkeypatch, capsys, api):
    exit_code, person, _ = log_in(monkeypatch, capsys, api, code="not-the-code")
    assert exit_code == 1
    assert "the instance refused the code" in person.shown
    assert not default_token_file(api.base_url).exists()


def test_no_code_pasted_is_a_usage_error(monkeypatch, capsys, api):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["login", "--instance", api.base_url]) == 2
    assert "no code given" in capsys.readouterr().err
    assert not default_token_file(api.base_url).exists()


def test_an_instance_that_cannot_register_apps_fails_for_good(monkeypatch, capsys, api):
    api.fail_next("POST", "/api/v1/apps", 403, message="Registrations are closed")
    monkeypatch.setattr(sys, "stdin", io.StringIO("good-code\n"))
    assert main(["login", "--instance", api.base_url]) == 1
    assert "refused to register the app" in capsys.readouterr().err


def test_an_unreachable_instance_is_a_temporary_failure(monkeypatch, capsys, api):
    api.fail_next("POST", "/api/v1/apps", "reset")
    monkeypatch.setattr(sys, "stdin", io.StringIO("good-code\n"))
    assert main(["login", "--instance", api.base_url]) == 75
    assert "ERROR login failed: no answer from http://127.0.0.1:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("mastodon.social", "https://mastodon.social"),
        ("https://mastodon.social/", "https://mastodon.social"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost:3000/", "http://localhost:3000"),
        # A bare loopback host means plain http, as in the configuration's `instance`.
        ("127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("localhost:3000", "http://localhost:3000"),
        ("[::1]:3000", "http://[::1]:3000"),
    ],
)
def test_the_instance_may_be_given_the_way_people_write_it(given, expected):
    assert instance_base_url(given) == expected


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("http://mastodon.social", "never sent over plain http"),
        ("https://mastodon.social/@me", "give the instance's address alone"),
        ("ftp://mastodon.social", "not the address of a Mastodon instance"),
    ],
)
def test_addresses_that_would_leak_or_miss_the_token_are_refused(given, reason):
    with pytest.raises(ConfigError, match=reason):
        instance_base_url(given)


def test_plain_http_to_a_real_server_is_refused_before_any_request(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("good-code\n"))
    assert main(["login", "--instance", "http://mastodon.example"]) == 2
    assert "never sent over plain http" in capsys.readouterr().err


def test_a_web_site_that_is_not_mastodon_is_named_so_and_fails_for_good(
    monkeypatch, capsys, feeds
):
    feeds.set_html("/api/v1/apps")
    monkeypatch.setattr(sys, "stdin", io.StringIO("good-code\n"))
    site = feeds.url("").rstrip("/")
    assert main(["login", "--instance", site]) == 1
    assert capsys.readouterr().err == (
        f"ERROR login failed: {site} is not a Mastodon instance: it answers with a web page\n"
    )


def test_a_refusing_instance_is_told_plainly_and_is_temporary(monkeypatch, capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        instance = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setattr(sys, "stdin", io.StringIO("good-code\n"))
    assert main(["login", "--instance", instance]) == 75
    assert capsys.readouterr().err == (
        f"ERROR login failed: cannot connect to {instance}: connection refused\n"
    )


def test_a_bare_loopback_instance_is_logged_in_to_over_http(monkeypatch, capsys, api):
    person = Person(capsys, api)
    monkeypatch.setattr(sys, "stdin", person)
    assert main(["login", "--instance", f"127.0.0.1:{api.port}"]) == 0
    assert default_token_file(api.base_url).read_text().strip() in api.valid_tokens


def test_the_authorize_address_carries_only_what_oauth_needs(monkeypatch, capsys):
    with MastodonAPI(release="4.2") as api:
        _, person, _ = log_in(monkeypatch, capsys, api)
    address = re.search(r"^\s+(http\S+)$", person.shown, re.MULTILINE).group(1)
    query = parse_qs(urlsplit(address).query)
    assert sorted(query) == ["client_id", "redirect_uri", "response_type", "scope"]
    assert "None" not in address and "force_login" not in address


@pytest.mark.parametrize("release", ["4.3", "4.5"])
def test_login_uses_pkce_where_the_server_advertises_it(monkeypatch, capsys, release):
    with MastodonAPI(release=release) as api:
        exit_code, person, _ = log_in(monkeypatch, capsys, api)
        address = re.search(r"^\s+(http\S+)$", person.shown, re.MULTILINE).group(1)
        query = parse_qs(urlsplit(address).query)
        assert exit_code == 0
        assert query["code_challenge_method"] == ["S256"]
        assert len(query["code_challenge"][0]) == 43
        assert api.pkce_checked == 1, "the server checked the verifier against the challenge"
        assert default_token_file(api.base_url).read_text().strip() in api.valid_tokens


def test_a_code_without_its_verifier_is_refused_by_a_pkce_server(monkeypatch, capsys, api):
    from crossposter.mastodon.login import finish_login, start_login

    authorization = start_login(api.base_url)
    assert authorization.code_verifier
    requests.get(authorization.url, timeout=5).raise_for_status()  # the person authorizes
    stolen = dataclasses.replace(authorization, code_verifier="someone-elses-verifier" * 3)
    with pytest.raises(LoginFailed, match="refused the code"):
        finish_login(stolen, api.valid_auth_code)
    assert api.pkce_checked == 1


def test_a_server_without_pkce_still_logs_in(monkeypatch, capsys):
    with MastodonAPI(release="4.2") as api:
        exit_code, _, _ = log_in(monkeypatch, capsys, api)
        assert exit_code == 0
        assert api.count("GET", "/.well-known/oauth-authorization-server") == 1
        assert api.pkce_checked == 0
        assert default_token_file(api.base_url).read_text().strip() in api.valid_tokens


def test_scope_attribution_adds_write_accounts_and_only_it(monkeypatch, capsys, api):
    assert log_in(monkeypatch, capsys, api, "--scope", "attribution")[0] == 0
    (app,) = api.apps.values()
    assert app["scopes"] == [*SCOPES, "write:accounts"]
    token = default_token_file(api.base_url).read_text().strip()
    assert api.token_scopes[token] == {*SCOPES, "write:accounts"}


def test_logout_revokes_the_token_and_deletes_both_files(monkeypatch, capsys, api):
    assert log_in(monkeypatch, capsys, api)[0] == 0
    token_path = default_token_file(api.base_url)
    token = token_path.read_text().strip()
    saved_app = app_file(token_path, api.base_url)

    assert main(["logout", "--instance", api.base_url]) == 0

    assert api.revoked == [token] and token not in api.valid_tokens
    assert not token_path.exists() and not saved_app.exists()
    assert "revoked" in capsys.readouterr().err


def test_logout_of_a_token_already_refused_still_deletes_it_here(monkeypatch, capsys, api):
    assert log_in(monkeypatch, capsys, api)[0] == 0
    token_path = default_token_file(api.base_url)
    api.apps.clear()  # the person removed crossposter from the authorized apps

    assert main(["logout", "--instance", api.base_url]) == 0

    assert not token_path.exists()
    assert not app_file(token_path, api.base_url).exists()
    assert "no longer accepts the token" in capsys.readouterr().err


def test_logout_keeps_the_token_while_the_instance_cannot_be_reached(monkeypatch, capsys, api):
    assert log_in(monkeypatch, capsys, api)[0] == 0
    token_path = default_token_file(api.base_url)
    api.fail_next("POST", "/oauth/revoke", "reset")

    assert main(["logout", "--instance", api.base_url]) == 75

    assert token_path.exists(), "the token may still work there: not forgotten here"


def test_the_app_is_registered_once_and_kept_beside_the_token(monkeypatch, capsys, api):
    api.auth_code_single_use = False
    assert log_in(monkeypatch, capsys, api)[0] == 0
    assert log_in(monkeypatch, capsys, api)[0] == 0

    assert api.count("POST", "/api/v1/apps") == 1
    saved = app_file(default_token_file(api.base_url), api.base_url)
    assert saved.parent == default_token_file(api.base_url).parent
    assert saved.name == "127.0.0.1_" + str(api.port) + ".app.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    (client_id,) = api.apps
    assert json.loads(saved.read_text())["client_id"] == client_id
    assert default_token_file(api.base_url).read_text().strip() in api.valid_tokens


def test_an_app_the_instance_forgot_is_registered_again(monkeypatch, capsys, api):
    api.auth_code_single_use = False
    assert log_in(monkeypatch, capsys, api)[0] == 0
    api.apps.clear()
    assert log_in(monkeypatch, capsys, api)[0] == 0
    assert api.count("POST", "/api/v1/apps") == 2
