"""crossposter as an installed distribution: its name, version and page, read from the
installed metadata (pyproject.toml is their only source), and how to add an extra to the
environment the command runs in.

The command and the import package are `crossposter`; the distribution pip and pipx
install is `blog-crossposter` (on PyPI, `crossposter` is an unrelated project).
"""

from __future__ import annotations

import re
import shlex
import sys
from email.message import Message
from functools import cache
from importlib import metadata
from pathlib import Path

NAME = "blog-crossposter"

_EXTRA_MARKER = re.compile(r"""\bextra\s*==\s*["']([^"']+)["']""")


@cache
def _metadata() -> Message | None:
    try:
        return metadata.metadata(NAME)
    except metadata.PackageNotFoundError:
        # Imported from a checkout nobody installed: nothing to read.
        return None


def version() -> str:
    found = _metadata()
    return found["Version"] if found else "unknown (not installed)"


def homepage() -> str | None:
    """The `Homepage` entry of pyproject.toml's `project.urls`."""
    for entry in (_metadata() or Message()).get_all("Project-URL") or ():
        label, _, url = entry.partition(",")
        if label.strip().lower() == "homepage":
            return url.strip()
    return None


def extra_requirements(extra: str) -> list[str]:
    """What pyproject.toml's `extra` adds, as pip takes it: ["psycopg[binary]<4,>=3.2"]."""
    found = []
    for requirement in (_metadata() or Message()).get_all("Requires-Dist") or ():
        spec, _, marker = requirement.partition(";")
        if (match := _EXTRA_MARKER.search(marker)) and match.group(1) == extra:
            found.append(spec.strip())
    return found


def install_extra_hint(extra: str) -> str:
    """A command that adds `extra` to the installation this process runs from, as written.

    pipx marks each environment it makes with a pipx_metadata.json; any other virtual
    environment has its own pip. Elsewhere (or uninstalled), the README's two routes.
    """
    from_checkout = (
        f"from crossposter's checkout, `pipx install --force '.[{extra}]'` (pipx) "
        f"or `pip install '.[{extra}]'` (in a virtual environment)"
    )
    requirements = " ".join(shlex.quote(r) for r in extra_requirements(extra))
    if not requirements:
        return from_checkout
    if (Path(sys.prefix) / "pipx_metadata.json").is_file():
        return f"`pipx inject {NAME} {requirements}`, or {from_checkout}"
    if sys.prefix != sys.base_prefix:
        python = shlex.quote(sys.executable)
        return f"`{python} -m pip install {requirements}`, or {from_checkout}"
    return from_checkout
