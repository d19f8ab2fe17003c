"""What the tool remembers between runs.

`base` says what a backend offers, `sqlite` is the embedded backend, `postgres` the
shared one. crossposter.storage opens the state a configuration names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    "now_utc",
    "postgres_backend",
]


def postgres_backend() -> type[PostgresState]:
    """The PostgreSQL backend, loaded only for a state_url: psycopg is an optional extra."""
    try:
        from crossposter.state.postgres import PostgresState
    except ImportError as error:
        raise StateError(
            f"state_url needs the PostgreSQL driver ({error}): "
            'pip install "crossposter[postgres]"'
        ) from None
    return PostgresState
