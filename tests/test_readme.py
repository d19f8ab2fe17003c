"""The README is the user's manual: the shell blocks marked `<!-- test -->` run as
written, and every command, configuration key and example it should describe, it does."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from crossposter.cli import build_parser, main
from crossposter.config import ENVIRONMENT_ONLY, FeedConfig, Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
TESTED_BLOCK = re.compile(r"<!-- test -->\n```sh\n(.*?)```", re.DOTALL)


def commands_marked_to_run() -> list[str]:
    commands = []
    for block in TESTED_BLOCK.findall(README):
        joined = block.replace("\\\n", " ")
        commands += [line.strip() for line in joined.splitlines() if line.strip()]
    return commands


def run_as_written(command: str, capsys) -> int:
    words = shlex.split(command)
    assert words[0] == "crossposter", f"only crossposter commands are run: {command}"
    output = None
    if ">" in words:
        at = words.index(">")
        words, output = words[:at], words[at + 1]
    try:
        exit_code = main(words[1:])
    except SystemExit as exited:  # --help
        exit_code = exited.code
    if output:
        Path(output).write_text(capsys.readouterr().out)
    return exit_code


def test_the_readme_marks_commands_to_run():
    assert len(commands_marked_to_run()) >= 5


@pytest.mark.parametrize("command", commands_marked_to_run())
def test_marked_readme_commands_work_as_written(command, tmp_path, monkeypatch, capsys):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    assert run_as_written(command, capsys) == 0
    assert not (tmp_path / "examples" / "demo-state.sqlite3").exists()


def subcommands() -> list[str]:
    parser = build_parser()
    (commands,) = (action for action in parser._actions if action.dest == "command")
    return sorted(commands.choices)


@pytest.mark.parametrize("name", subcommands())
def test_every_command_is_in_the_manual(name):
    assert f"crossposter {name}" in README


@pytest.mark.parametrize(
    "key",
    sorted(set(Settings.model_fields) - set(ENVIRONMENT_ONLY) | set(FeedConfig.model_fields)),
)
def test_every_configuration_key_is_described(key):
    assert f"| `{key}` |" in README, f"README's key tables lack `{key}`"


def examples() -> list[Path]:
    return sorted(
        path.relative_to(ROOT)
        for path in (ROOT / "examples").rglob("*")
        if path.is_file() and path.suffix != ".xml"
    )


@pytest.mark.parametrize("example", examples(), ids=str)
def test_every_example_is_linked_from_the_manual(example):
    linked = {f"]({example.as_posix()})", f"]({example.parent.as_posix()})"}
    assert any(link in README for link in linked), f"README does not link {example}"
