"""What the tool remembers between runs.

`base` says what a backend offers, `sqlite` is the embedded backend, `admin` the
repairs. Everything else opens a state through the functions here, so it never
names a backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crossposter.state.base import (
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

__all__ = [
    "SCHEMA_VERSION",
    "EntryRecord",
    "FeedState",
    "PendingPost",
    "PostedEntry",
    "SqliteState",
    "State",
    "now_utc",
    "open_preview",
    "open_read_only",
    "open_state",
]


def open_state(settings: Settings) -> State:
    """The state for a run that writes, held for this process alone until closed."""
    return SqliteState.open(settings.state_file, lock_timeout=settings.lock_timeout)


def open_read_only(settings: Settings) -> State:
    """A view that cannot write and takes no lock; an absent state reads as empty."""
    return SqliteState.open_read_only(settings.state_file)


def open_preview(settings: Settings) -> State:
    """A throw-away writable copy of the state, for a preview: nothing reaches the real one."""
    with open_read_only(settings) as view:
        return view.preview_copy()
