"""What a run loads when every feed answers 304: most runs, from cron, see nothing new, and
start-up is most of their time. Module lists, never timings (those are in BENCHMARKS.md)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from crossposter.cli import COMMANDS, main
from crossposter.state import SqliteState

from support.blog import feed_of, write_config

# Loaded only when a feed changed, a toot is posted or composed, or a reply is read.
NOT_FOR_AN_UNCHANGED_FEED = (
    "bs4",
    "feedparser",
    "regex",
    "nh3",
    "mastodon",
    "py3langid",
    "numpy",
    "babel",
    "jinja2",
    "cheroot",
    "prometheus_client",
    "crossposter.feeds.parse",
    "crossposter.compose.text",
    "crossposter.compose.toot",
    "crossposter.after_posting.replies",
    # A feed's GET is net.http1's; requests serves images, pages and the instance.
    "requests",
    "urllib3",
)

WHAT_A_RUN_LOADED = """
import json, sys
from crossposter.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def loaded_by(*args: str) -> tuple[int, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", WHAT_A_RUN_LOADED, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    return report["code"], set(report["modules"])


def test_a_run_whose_feeds_all_answer_304_loads_only_what_it_needs(tmp_path, api, feeds, token):
    feeds.set_feed("/feed", feed_of(1, 2))
    # The site's files are written after every run: they need no HTML cleaning either.
    config = write_config(
        tmp_path,
        api,
        f"- {{name: blog, url: '{feeds.url('/feed')}'}}",
        links_file="links.json",
        replies_file="replies.json",
    )
    assert main(["run", "--config", config, "-q"]) == 0

    code, modules = loaded_by("run", "--config", config, "-q")

    assert code == 0
    with SqliteState.open(tmp_path / "state.sqlite3") as state:
        assert state.feed("blog").last_result == "not modified"
    assert sorted(modules.intersection(NOT_FOR_AN_UNCHANGED_FEED)) == []
    other_commands = {module for module, _ in COMMANDS.values()} - {"crossposter.cli.run"}
    assert sorted(modules & other_commands) == []


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_commands_arguments_come_from_its_module_when_it_is_given(name, capsys):
    with pytest.raises(SystemExit) as exited:
        main([name, "--help"])
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    assert shown.startswith(f"usage: crossposter {name} [-h]")
    # The command's own description, which only its module knows.
    assert len(shown.split("\n\n")[1]) > 20
