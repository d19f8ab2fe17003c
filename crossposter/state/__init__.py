"""What the tool remembers between runs; `sqlite` is the embedded backend, `admin` the repairs."""

from crossposter.state.sqlite import (
    SCHEMA_VERSION,
    EntryRecord,
    FeedState,
    PendingPost,
    State,
    now_utc,
)

__all__ = ["SCHEMA_VERSION", "EntryRecord", "FeedState", "PendingPost", "State", "now_utc"]
