"""The install hints a user is given work as written, in the installation they use.

The routes from a fresh checkout (pipx and a virtual environment, with Debian's Python)
are run by `.ci/install-as-written`; here, the hint given where the driver is missing.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

from conftest import EXAMPLES


def _without_the_driver(tmp_path) -> dict[str, str]:
    # An installation without the postgres extra: importing psycopg fails as it would there.
    shadow = tmp_path / "no-driver" / "psycopg"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 'psycopg'\")\n")
    # Before the rest of PYTHONPATH (the tests' child guard, conftest's no_internet).
    paths = [str(shadow.parent), os.environ["PYTHONPATH"]]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def test_a_state_url_without_the_driver_gives_the_command_that_adds_it(tmp_path):
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "instance: http://127.0.0.1:9\n"
        "state_url: postgresql://crossposter@127.0.0.1:9/crossposter\n"
        f"feeds: [{{name: demo, url: {EXAMPLES / 'demo-feed.xml'}}}]\n"
    )
    env = _without_the_driver(tmp_path)
    outputs = []
    for command, code in ((["state", "feeds"], 2), (["run", "--dry-run"], 2), (["check"], 1)):
        done = subprocess.run(
            [sys.executable, "-m", "crossposter", *command, "--config", str(config)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert done.returncode == code, done.stderr
        outputs.append(done.stdout + done.stderr)
        assert "Traceback" not in done.stderr
    for output in outputs:
        assert "needs the PostgreSQL driver" in output
        # This test's interpreter is a virtual environment's: its own pip, by its path.
        assert f"`{shlex.quote(sys.executable)} -m pip install 'psycopg[binary]" in output
        assert "crossposter[postgres]" not in output
    hint = re.search(r"`([^`]+)`", outputs[0]).group(1)
    # As written, it runs (here the driver is in fact installed: pip finds it so).
    done = subprocess.run(shlex.split(hint), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "psycopg" in done.stdout


def test_no_requirement_names_the_other_projects_distribution():
    import tomllib

    from conftest import EXAMPLES

    project = tomllib.loads((EXAMPLES.parent / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        requirements += extra
    # `crossposter` on PyPI is an unrelated project: pip would install it.
    assert not [r for r in requirements if re.match(r"crossposter\b(?!-)", r)]
