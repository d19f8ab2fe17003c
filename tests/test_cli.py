"""The command line as a user types it: the installed script, help, logging modes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib

import pytest

from crossposter.cli import build_parser, main

from conftest import EXAMPLES

DEMO = str(EXAMPLES / "demo.yaml")


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "crossposter", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def test_the_demo_preview_runs_as_a_separate_process_with_no_token():
    done = run_cli("run", "--dry-run", "--config", DEMO)
    assert done.returncode == 0, done.stderr
    assert "3 toots would be posted" in done.stdout
    assert "Traceback" not in done.stderr


SCRIPT = shutil.which("crossposter", path=os.path.dirname(sys.executable))


@pytest.mark.skipif(SCRIPT is None, reason="the crossposter script is not installed")
def test_the_installed_console_script_works():
    done = subprocess.run([SCRIPT, "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == f"crossposter {PYPROJECT['version']}\n"


ROOT = EXAMPLES.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_the_version_is_pyprojects_read_from_the_installed_distribution():
    done = run_cli("--version")
    assert done.stdout == f"crossposter {PYPROJECT['version']}\n"
    # The source holds no second copy of the number.
    sources = list(ROOT.joinpath("crossposter").rglob("*.py"))
    assert sources
    assert not [p for p in sources if PYPROJECT["version"] in p.read_text(encoding="utf-8")]


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["run", "--confg", "feeds.yaml"])
    assert exited.value.code == 2
    assert "unrecognized arguments: --confg" in capsys.readouterr().err


def test_json_logs_are_one_object_per_line():
    done = run_cli("run", "--dry-run", "--config", DEMO, "--log-format", "json")
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    summary = [line for line in lines if line.get("feed") == "demo"]
    assert summary and summary[0]["level"] == "info" and summary[0]["new"] == 3


def test_quiet_logs_errors_only():
    done = run_cli("run", "--dry-run", "--config", DEMO, "-q")
    assert done.returncode == 0 and done.stderr == ""


GLOBAL_OPTIONS = [
    ["-c", "f.yaml"],
    ["--config", "f.yaml"],
    ["-v"],
    ["-q"],
    ["--log-format", "json"],
]


@pytest.mark.parametrize("option", GLOBAL_OPTIONS, ids=lambda o: o[0])
@pytest.mark.parametrize("command", [["check"], ["run", "--dry-run"], ["state", "feeds"]])
def test_every_global_option_works_before_or_after_the_command(option, command):
    before = build_parser().parse_args([*option, *command])
    after = build_parser().parse_args([*command, *option])
    assert vars(before) == vars(after)
    assert (before.config == "f.yaml") == (option[0] in ("-c", "--config"))


def test_the_configuration_given_before_the_command_is_the_one_read():
    done = run_cli("-c", DEMO, "-q", "run", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "3 toots would be posted" in done.stdout


def test_a_missing_config_file_exits_2_with_one_clear_line(tmp_path):
    done = run_cli("run", "--config", str(tmp_path / "nope.yaml"))
    assert done.returncode == 2
    assert "cannot read the configuration" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_feed_that_cannot_be_read_is_one_line_with_just_the_reason(tmp_path):
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "instance: https://mastodon.example\nstate_file: s.sqlite3\n"
        "feeds: [{name: blog, url: missing.xml, backfill: 1}]\n"
    )
    done = run_cli("run", "--dry-run", "--config", str(config))
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith("ERROR feed blog: cannot read ") and "missing.xml" in line
    assert "new=" not in line
