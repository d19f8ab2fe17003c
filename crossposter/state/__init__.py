"""What the tool remembers between runs.

`roles` says what a caller may ask of a state, one protocol per role; `sql` and its
role modules (`feeds`, `ledger`, `lifecycle`, `coordination`, `administration`) are
the one SQL store, over the tables `schema` makes; `sqlite` is the embedded backend,
`postgres` the shared one. crossposter.storage opens the state a configuration names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crossposter.errors import StateError
from crossposter.state.records import (
    ANNOUNCED_STATUSES,
    ENTRY_STATUSES,
    AnnouncedPost,
    EntryRecord,
    FeedState,
    PendingPost,
    PostedEntry,
    now_utc,
)
from crossposter.state.roles import (
    AdministrationRole,
    AfterPostingRole,
    CoordinationRole,
    FeedsRole,
    LeasesRole,
    LedgerRole,
    PostingState,
    State,
    StateCommands,
    SubscribingState,
    SubscriptionsRole,
    UpkeepRole,
)
from crossposter.state.schema import SCHEMA_VERSION
from crossposter.state.sqlite import SqliteState

if TYPE_CHECKING:
    from crossposter.state.postgres import PostgresState

__all__ = [
    "ANNOUNCED_STATUSES",
    "ENTRY_STATUSES",
    "SCHEMA_VERSION",
    "AdministrationRole",
    "AfterPostingRole",
    "AnnouncedPost",
    "CoordinationRole",
    "EntryRecord",
    "FeedState",
    "FeedsRole",
    "LeasesRole",
    "LedgerRole",
    "PendingPost",
    "PostedEntry",
    "PostingState",
    "SqliteState",
    "State",
    "StateCommands",
    "SubscribingState",
    "SubscriptionsRole",
    "UpkeepRole",
    "now_utc",
    "postgres_backend",
]


def postgres_backend() -> type[PostgresState]:
    """The PostgreSQL backend, loaded only for a state_url: psycopg is an optional extra."""
    try:
        from crossposter.state.postgres import PostgresState
    except ImportError as error:
        raise StateError(
            f'state_url needs the PostgreSQL driver ({error}): pip install "crossposter[postgres]"'
        ) from None
    return PostgresState
