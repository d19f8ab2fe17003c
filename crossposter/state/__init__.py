"""What the tool remembers between runs.

`base` says what a backend offers, `sqlite` is the embedded backend, `admin` the
repairs. Everything else opens a state through the functions here, so it never
names a backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from crossposter.distribution import install_extra_hint
from crossposter.errors import StateError
from crossposter.state.base import (
    AnnouncedPost,
    EntryRecord,
    FeedState,
    PendingPost,
    PostedEntry,
    State,
    now_utc,
)
from crossposter.state.sqlite import SCHEMA_VERSION, SqliteState

if TYPE_CHECKING:
    from crossposter.config import Settings
    from crossposter.state.postgres import PostgresState

__all__ = [
    "SCHEMA_VERSION",
    "AnnouncedPost",
    "EntryRecord",
    "FeedState",
    "PendingPost",
    "PostedEntry",
    "SqliteState",
    "State",
    "missing_folder",
    "now_utc",
    "open_preview",
    "open_read_only",
    "open_state",
    "postgres_backend",
    "state_location",
]


def open_state(settings: Settings) -> State:
    """The state for a run that writes, held for this process alone until closed."""
    if settings.state_url:
        return postgres_backend().open(settings.state_url, lock_timeout=settings.lock_timeout)
    problem = missing_folder(settings.state_file)
    if problem:
        raise StateError(problem)
    return SqliteState.open(settings.state_file, lock_timeout=settings.lock_timeout)


def missing_folder(path: Path) -> str | None:
    """Why the state file cannot be made where configured: its folder is missing.

    The default folder (under XDG_STATE_HOME) is crossposter's to create; any
    other was chosen by a person, and a missing one is more likely a typo or an
    unmounted volume than a wish for a new folder.
    """
    from crossposter.config import default_state_file

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
        return postgres_backend().open_read_only(settings.state_url)
    return SqliteState.open_read_only(settings.state_file)


def open_preview(settings: Settings) -> State:
    """A throw-away writable copy of the state, for a preview: nothing reaches the real one."""
    problem = None if settings.state_url else missing_folder(settings.state_file)
    if problem:
        # The real run would stop here; its preview must not look fine.
        raise StateError(problem)
    with open_read_only(settings) as view:
        return view.preview_copy()


def state_location(settings: Settings) -> str:
    """Where the state is, as logs and reports may show it: never a password."""
    from crossposter.config import redacted_url

    return redacted_url(settings.state_url) if settings.state_url else str(settings.state_file)


def postgres_backend() -> type[PostgresState]:
    """The PostgreSQL backend, loaded only for a state_url: psycopg is an optional extra."""
    try:
        from crossposter.state.postgres import PostgresState
    except ImportError as error:
        raise StateError(
            f"state_url needs the PostgreSQL driver ({error}), the postgres extra: "
            + install_extra_hint("postgres")
        ) from None
    return PostgresState
