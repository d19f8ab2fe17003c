"""The state a configuration names, opened for a run, a view or a preview.

Everything above the state opens it through these, so it never names a backend;
the state package below knows nothing of the configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from crossposter.config import Settings, default_state_file
from crossposter.distribution import install_extra_hint
from crossposter.errors import StateError
from crossposter.state import SqliteState, State
from crossposter.state import postgres_backend as _postgres_backend

if TYPE_CHECKING:
    from crossposter.state.postgres import PostgresState


def open_state(settings: Settings) -> State:
    """The state for a run that writes, held for this process alone until closed."""
    if settings.state_url:
        backend = postgres_backend(settings.state_url)
        return backend.open(settings.state_url, lock_timeout=settings.lock_timeout)
    problem = missing_folder(settings.state_file)
    if problem:
        raise StateError(problem)
    return SqliteState.open(settings.state_file, lock_timeout=settings.lock_timeout)


def postgres_backend(url: str) -> type[PostgresState]:
    """The PostgreSQL backend; without its driver, the command that adds it here."""
    try:
        return _postgres_backend(url)
    except StateError as error:
        raise StateError(f"{error}, the postgres extra: {install_extra_hint('postgres')}") from None


def missing_folder(path: Path) -> str | None:
    """Why the state file cannot be made where configured: its folder is missing.

    The default folder (under XDG_STATE_HOME) is crossposter's to create; any
    other was chosen by a person, and a missing one is more likely a typo or an
    unmounted volume than a wish for a new folder.
    """
    path = Path(path)
    if path == default_state_file():
        return None
    try:
        path.parent.stat()
    except FileNotFoundError:
        pass
    except OSError:
        return None  # there, but not usable: opening the state says why (not a folder...)
    else:
        return None
    return (
        f"state_file {path}: the folder {path.parent} does not exist; "
        "create it (or mount it) or change state_file"
    )


def open_read_only(settings: Settings) -> State:
    """A view that cannot write and takes no lock; an absent state reads as empty."""
    if settings.state_url:
        return postgres_backend(settings.state_url).open_read_only(settings.state_url)
    return SqliteState.open_read_only(settings.state_file)


def open_preview(settings: Settings) -> State:
    """A throw-away writable copy of the state, for a preview: nothing reaches the real one."""
    problem = None if settings.state_url else missing_folder(settings.state_file)
    if problem:
        # The real run would stop here; its preview must not look fine.
        raise StateError(problem)
    with open_read_only(settings) as view:
        return view.preview_copy()
