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


def headings(markdown: str) -> list[str]:
    """The `##` and `###` headings, outside code blocks."""
    found, in_code = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and re.match(r"#{2,3} ", line):
            found.append(line.split(" ", 1)[1])
    return found


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def test_the_contents_link_every_section_of_the_manual():
    contents = README.split("## Contents\n", 1)[1].split("\n## ", 1)[0]
    linked = re.findall(r"\]\(#([^)]+)\)", contents)
    sections = [anchor(heading) for heading in headings(README) if heading != "Contents"]
    assert linked == sections


CONTRIBUTING = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")


def test_contributing_opens_with_the_readmes_test_commands():
    first_block = CONTRIBUTING.split("```sh\n", 1)[1].split("```", 1)[0]
    readme_test = README.split("\n## Test\n", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    assert first_block == readme_test
    second_section = CONTRIBUTING.index("\n## ", CONTRIBUTING.index("\n## ") + 1)
    assert CONTRIBUTING.index("```sh") < second_section


def contributing_section(title: str) -> str:
    return CONTRIBUTING.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize(
    "module",
    sorted(
        path.relative_to(ROOT / "crossposter").as_posix()
        for path in (ROOT / "crossposter").rglob("*.py")
        if path.name != "__init__.py"
    ),
)
def test_the_code_map_names_every_module(module):
    code_map = " ".join(contributing_section("How the code is laid out").split())
    # A module is named by its path, or by its file name in its folder's sentence.
    assert f"`{module}`" in code_map or f"`{module.rsplit('/', 1)[-1]}`" in code_map


def test_the_test_map_names_every_test_file_and_only_those():
    test_map = contributing_section("How the tests are laid out")
    named = set(re.findall(r"`(test_\w+\.py)`", test_map))
    assert named == {path.name for path in (ROOT / "tests").glob("test_*.py")}
