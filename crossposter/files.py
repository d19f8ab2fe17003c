"""Files other programs read while crossposter rewrites them: they appear whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: str | os.PathLike[str], text: str, mode: int = 0o600) -> Path:
    """Write `text` beside `path` and rename it over: a reader sees the old file or the new one.

    mkstemp creates the file 0600 before a byte is written; `mode` is set before the rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def replace_if_changed(path: str | os.PathLike[str], text: str, mode: int = 0o644) -> bool:
    """Write `text` to `path` unless it holds it already; whether it was written."""
    try:
        if Path(path).read_text(encoding="utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    write_atomically(path, text, mode)
    return True
