"""Files other programs read while crossposter rewrites them: they appear whole or not at all."""

from __future__ import annotations

import errno
import os
import stat
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
    """Write `text` to `path` unless it holds it already; whether it was written.

    Only a regular file (or none) is read or replaced: a named pipe would hold the run
    until someone writes to it, and a folder, a device or a symbolic link is not ours to
    replace. Anything else raises OSError, the file untouched."""
    if _regular_file_bytes(path) == text.encode("utf-8"):
        return False
    write_atomically(path, text, mode)
    return True


def _regular_file_bytes(path: str | os.PathLike[str]) -> bytes | None:
    """What the regular file at `path` holds; None when there is none, or it cannot be
    read (writing it will say why)."""
    try:
        # Opening a named pipe without O_NONBLOCK waits for a writer; O_NOFOLLOW refuses a
        # symbolic link. Either is checked on the file opened, so nothing can swap it.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise _not_regular(path, "a symbolic link") from None
        return None
    try:
        kind = os.fstat(descriptor).st_mode
        if stat.S_ISREG(kind):
            with os.fdopen(descriptor, "rb", closefd=False) as file:
                return file.read()
    finally:
        os.close(descriptor)
    raise _not_regular(path, _KINDS.get(stat.S_IFMT(kind), "a special file"))


_KINDS = {
    stat.S_IFIFO: "a named pipe",
    stat.S_IFDIR: "a folder",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
    stat.S_IFSOCK: "a socket",
}


def _not_regular(path: str | os.PathLike[str], kind: str) -> OSError:
    return OSError(errno.EINVAL, f"not a regular file but {kind}; it was left as it is", str(path))
