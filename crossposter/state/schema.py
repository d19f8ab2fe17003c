"""The state's tables, as named steps: the one source of both backends' schema.

A database records the names of the steps it has applied (`_migrations`); opening
it applies the others, in order, in one transaction. An export's `version` is how
many steps its rows had been through, so an export from a newer crossposter is
refused, and an older one's rows are brought up to date by the steps' `data`
parts (which also run on every upgrade). A step's tables and columns are made only
when missing: states faked by hand at an older version still upgrade.

Types are written {TIMESTAMP}, {JSON}, {REAL} and {WITHOUT_ROWID}, as each database
spells them (TYPES).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crossposter.models import DEFAULT_ACCOUNT, Article, InstanceLimits, link_key
from crossposter.state.records import entry_from_json, toot_from_json
from crossposter.state.sql import Dialect

Data = Callable[[Any, Dialect], None]

# How each database spells the schema's types: SQLite keeps text, the server types it.
TYPES = {
    "sqlite": {
        "TIMESTAMP": "TEXT",
        "JSON": "TEXT",
        "REAL": "REAL",
        "WITHOUT_ROWID": "WITHOUT ROWID",
    },
    "postgres": {
        "TIMESTAMP": "timestamptz",
        "JSON": "json",
        "REAL": "double precision",
        "WITHOUT_ROWID": "",
    },
}


@dataclass(frozen=True)
class Step:
    name: str
    # CREATE ... IF NOT EXISTS statements, separated by semicolons.
    tables: str = ""
    # (table, column, type) added unless there.
    columns: tuple[tuple[str, str, str], ...] = ()
    # What only one backend does (dialect name → statements or a function), after the rest.
    own: Mapping[str, str | Data] = field(default_factory=dict)
    # What the rows need: runs on an upgrade and on the rows of an older export.
    data: Data | None = None


def _compact_timestamps(db: Any, dialect: Dialect) -> None:
    """The first state files wrote 2026-11-26T08:12:00+00:00; now 20261126T081200Z.

    Only text needs it: a typed column (PostgreSQL) reads either as the same moment.
    """
    if TYPES[dialect.name]["TIMESTAMP"] != "TEXT":
        return
    # The columns of step 1: a step stays as it was written.
    for table, columns in {
        "feeds": ("last_fetch", "last_parsed"),
        "entries": ("first_seen", "last_seen", "pending_since", "updated"),
        "instances": ("fetched_at",),
    }.items():
        for column in columns:
            db.execute(
                f"UPDATE {table} SET {column} = replace(replace(replace({column}, '-', ''), "
                f"':', ''), '+0000', 'Z') WHERE {column} LIKE '____-__-__T%'"
            )


def _derive_links(db: Any, dialect: Dialect) -> None:
    """The links each account announced, from the posted and pending entries.

    Which account posted them was not recorded: they count as the default account's.
    link_key is Python's: the keys are made here, not in SQL.
    """
    rows = db.execute(
        "SELECT feed, entry_id, link FROM entries "
        "WHERE status IN ('posted', 'pending') AND link IS NOT NULL "
        "ORDER BY updated, feed COLLATE BINARY"
    ).fetchall()
    rows = [(DEFAULT_ACCOUNT, link_key(row["link"]), row["feed"], row["entry_id"]) for row in rows]
    if rows:
        db.executemany(
            "INSERT INTO announced_links (account, link, feed, entry_id) VALUES (?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            rows,
        )


def _rekey_links(db: Any, dialect: Dialect) -> None:
    """The links announced, keyed as link_key keys them now: with no scheme and no leading
    www. (a key already so is its own). Two links that are now one keep the first."""
    rows = db.execute(
        "SELECT account, link, feed, entry_id FROM announced_links "
        "ORDER BY account COLLATE BINARY, link COLLATE BINARY"
    ).fetchall()
    stale = [row for row in rows if link_key(row["link"]) != row["link"]]
    for row in stale:
        db.execute(
            "DELETE FROM announced_links WHERE account = ? AND link = ?",
            (row["account"], row["link"]),
        )
    if stale:
        db.executemany(
            "INSERT INTO announced_links (account, link, feed, entry_id) VALUES (?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            [
                (row["account"], link_key(row["link"]), row["feed"], row["entry_id"])
                for row in stale
            ],
        )


def _posted_at(db: Any, dialect: Dialect) -> None:
    """A toot posted before the state recorded when was posted, as far as anyone knows, at
    its entry's last change."""
    db.execute(
        "UPDATE entries SET posted_at = updated WHERE toot_id IS NOT NULL AND posted_at IS NULL"
    )


# The statuses step 4 allows: a step stays as it was written (a later status is a later step).
_STATUSES = "'seen', 'pending', 'posted', 'failed', 'retracted', 'deleted'"

# SQLite cannot widen a CHECK in place: the entries table of step 3 is copied.
_SQLITE_WIDER_STATUSES = f"""
CREATE TABLE entries_v3 (
    feed TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ({_STATUSES})),
    link TEXT,
    title TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    idempotency_key TEXT,
    toot TEXT,
    pending_since TEXT,
    toot_id TEXT,
    toot_url TEXT,
    reason TEXT,
    updated TEXT NOT NULL,
    account TEXT,
    instance TEXT,
    posted_at TEXT,
    edited_at TEXT,
    replies TEXT,
    replies_fetched_at TEXT,
    PRIMARY KEY (feed, entry_id)
) WITHOUT ROWID;
INSERT INTO entries_v3 (feed, entry_id, status, link, title, first_seen, last_seen,
    idempotency_key, toot, pending_since, toot_id, toot_url, reason, updated)
    SELECT feed, entry_id, status, link, title, first_seen, last_seen, idempotency_key, toot,
    pending_since, toot_id, toot_url, reason, updated FROM entries;
DROP TABLE entries;
ALTER TABLE entries_v3 RENAME TO entries;
CREATE INDEX IF NOT EXISTS entries_by_status ON entries (status) WHERE status <> 'seen'
"""


def _sqlite_queued_status(db: Any, dialect: Dialect) -> None:
    """SQLite cannot widen a CHECK in place: the entries table, as it stands, is copied."""
    table = db.execute("SELECT sql FROM sqlite_master WHERE name = 'entries'").fetchone()["sql"]
    if "'queued'" in table:
        return
    copy = re.sub(r'^CREATE TABLE\s+"?entries"?', "CREATE TABLE entries_v8", table, count=1)
    db.execute(copy.replace("'deleted')", "'deleted', 'queued')", 1))
    db.execute("INSERT INTO entries_v8 SELECT * FROM entries")
    db.execute("DROP TABLE entries")
    db.execute("ALTER TABLE entries_v8 RENAME TO entries")
    db.execute(
        "CREATE INDEX IF NOT EXISTS entries_by_status ON entries (status) WHERE status <> 'seen'"
    )


def _sqlite_wider_statuses(db: Any, dialect: Dialect) -> None:
    table = db.execute("SELECT sql FROM sqlite_master WHERE name = 'entries'").fetchone()
    if "'retracted'" not in table["sql"]:
        for statement in _SQLITE_WIDER_STATUSES.split(";"):
            db.execute(statement)


STEPS: tuple[Step, ...] = (
    Step(
        "feeds, entries and instances",
        tables="""
        CREATE TABLE IF NOT EXISTS feeds (
            name TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            etag TEXT,
            last_modified TEXT,
            last_fetch {TIMESTAMP},
            last_result TEXT,
            last_parsed {TIMESTAMP}
        );
        CREATE TABLE IF NOT EXISTS entries (
            feed TEXT NOT NULL,
            entry_id TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('seen', 'pending', 'posted', 'failed')),
            link TEXT,
            title TEXT,
            first_seen {TIMESTAMP} NOT NULL,
            last_seen {TIMESTAMP} NOT NULL,
            idempotency_key TEXT,
            toot {JSON},
            pending_since {TIMESTAMP},
            toot_id TEXT,
            toot_url TEXT,
            reason TEXT,
            updated {TIMESTAMP} NOT NULL,
            PRIMARY KEY (feed, entry_id)
        ) {WITHOUT_ROWID};
        CREATE INDEX IF NOT EXISTS entries_by_status ON entries (status) WHERE status <> 'seen';
        CREATE TABLE IF NOT EXISTS instances (
            url TEXT PRIMARY KEY,
            limits {JSON} NOT NULL,
            fetched_at {TIMESTAMP} NOT NULL
        )""",
    ),
    Step("compact timestamps", data=_compact_timestamps),
    # Each link (its link_key) an account announced, and the entry that did: the primary
    # key is what refuses a second announcement, in one process or several.
    Step(
        "announced links",
        tables="""
        CREATE TABLE IF NOT EXISTS announced_links (
            account TEXT NOT NULL,
            link TEXT NOT NULL,
            feed TEXT NOT NULL,
            entry_id TEXT NOT NULL,
            PRIMARY KEY (account, link)
        ) {WITHOUT_ROWID}""",
        own={
            "postgres": "CREATE INDEX IF NOT EXISTS announced_links_by_entry "
            "ON announced_links (feed, entry_id)"
        },
        data=_derive_links,
    ),
    # Who posted each toot and when, its replies; retracted and deleted entries; the hooks
    # run (at most once per event).
    Step(
        "accounts, retractions and hooks",
        own={
            "sqlite": _sqlite_wider_statuses,
            "postgres": "ALTER TABLE entries DROP CONSTRAINT IF EXISTS entries_status_check, "
            f"ADD CONSTRAINT entries_status_check CHECK (status IN ({_STATUSES}))",
        },
        columns=(
            ("entries", "account", "TEXT"),
            ("entries", "instance", "TEXT"),
            ("entries", "posted_at", "{TIMESTAMP}"),
            ("entries", "edited_at", "{TIMESTAMP}"),
            ("entries", "replies", "{JSON}"),
            ("entries", "replies_fetched_at", "{TIMESTAMP}"),
        ),
        tables="""
        CREATE TABLE IF NOT EXISTS hook_runs (
            feed TEXT NOT NULL,
            entry_id TEXT NOT NULL,
            event TEXT NOT NULL,
            occurrence TEXT NOT NULL,
            started {TIMESTAMP} NOT NULL,
            PRIMARY KEY (feed, entry_id, event, occurrence)
        ) {WITHOUT_ROWID}""",
        data=_posted_at,
    ),
    # What became of a toot after posting (after_posting.decisions): the article's own
    # fields; an edit recorded before its request; the checks of an article gone from
    # its feed.
    Step(
        "what became of a toot",
        columns=(
            ("entries", "article", "{JSON}"),
            ("entries", "edit_toot", "{JSON}"),
            ("entries", "edit_article", "{JSON}"),
            ("entries", "checked_at", "{TIMESTAMP}"),
            ("entries", "gone_since", "{TIMESTAMP}"),
        ),
    ),
    # When each account deleted a toot: Mastodon allows 30 deletions per 30 minutes, and
    # runs every 15 minutes must share them.
    Step(
        "deletions",
        tables="""
        CREATE TABLE IF NOT EXISTS deletions (account TEXT NOT NULL, at {TIMESTAMP} NOT NULL);
        CREATE INDEX IF NOT EXISTS deletions_by_account ON deletions (account, at)""",
    ),
    # Several processes: each feed's next poll (`run --loop`), 429 resets, loop
    # heartbeats; a database's per-feed leases. No export carries these: they are about
    # the processes running now.
    Step(
        "polls and coordination",
        columns=(("feeds", "next_poll", "{TIMESTAMP}"),),
        tables="""
        CREATE TABLE IF NOT EXISTS account_limits (
            instance TEXT NOT NULL,
            account TEXT NOT NULL,
            reset_at {TIMESTAMP} NOT NULL,
            PRIMARY KEY (instance, account)
        ) {WITHOUT_ROWID};
        CREATE TABLE IF NOT EXISTS workers (
            worker TEXT PRIMARY KEY,
            interval_seconds {REAL} NOT NULL,
            last_run_at {TIMESTAMP} NOT NULL,
            last_exit_code INTEGER NOT NULL,
            last_success_at {TIMESTAMP}
        )""",
        own={
            "postgres": """CREATE TABLE IF NOT EXISTS feed_leases (
                feed text PRIMARY KEY,
                worker text NOT NULL,
                expires_at timestamptz NOT NULL
            )"""
        },
    ),
    # How each account shows on its toots (name, handle, picture), kept by the runs that
    # posted and looked after toots, for the preview page: a preview asks the instance nothing.
    Step(
        "account profiles",
        tables="""
        CREATE TABLE IF NOT EXISTS account_profiles (
            instance TEXT NOT NULL,
            account TEXT NOT NULL,
            profile {JSON} NOT NULL,
            PRIMARY KEY (instance, account)
        ) {WITHOUT_ROWID}""",
    ),
    # What toots leave on the instance (Mastodon 4.4+ deletes unused uploads): uploads
    # to delete on a later run; whether each toot got a link card, and when its feed was
    # warned that one did not.
    Step(
        "link cards and unused uploads",
        columns=(("entries", "card", "INTEGER"), ("feeds", "card_warned", "{TIMESTAMP}")),
        tables="""
        CREATE TABLE IF NOT EXISTS unused_uploads (
            instance TEXT NOT NULL,
            account TEXT NOT NULL,
            media_id TEXT NOT NULL,
            recorded {TIMESTAMP} NOT NULL,
            PRIMARY KEY (instance, account, media_id)
        ) {WITHOUT_ROWID}""",
    ),
    # WebSub: each feed's subscription at its hub, with the hub.secret deliveries are
    # signed with. Coordination: no export carries it.
    Step(
        "websub subscriptions",
        tables="""
        CREATE TABLE IF NOT EXISTS websub_subscriptions (
            feed TEXT PRIMARY KEY,
            hub TEXT NOT NULL,
            topic TEXT NOT NULL,
            callback_id TEXT NOT NULL UNIQUE,
            secret TEXT NOT NULL,
            requested_at {TIMESTAMP} NOT NULL,
            lease_until {TIMESTAMP}
        )""",
    ),
    # The guard against mass deletion counts a feed's checks over a day, across runs:
    # since when its deletions are held, and when a person last allowed them.
    Step(
        "held deletions",
        columns=(
            ("feeds", "deletions_held_since", "{TIMESTAMP}"),
            ("feeds", "deletions_allowed_at", "{TIMESTAMP}"),
        ),
    ),
    # How often a toot was edited, and the articles it showed before: a flapping feed
    # edits a toot `max_edits` times at most, and never back to an earlier version.
    Step(
        "edits counted",
        columns=(("entries", "edits", "INTEGER"), ("entries", "earlier_articles", "{JSON}")),
    ),
    # A blog moving from http:// to https://www. keeps its articles' link keys.
    Step("links keyed without scheme or www", data=_rekey_links),
    # An entry selected for posting and left for a later run, kept whole (`queued_entry`);
    # each feed and account failing now, since when (alert_after), which no export carries.
    Step(
        "queued entries and failures",
        columns=(("entries", "queued_entry", "{JSON}"),),
        own={
            "sqlite": _sqlite_queued_status,
            "postgres": "ALTER TABLE entries DROP CONSTRAINT IF EXISTS entries_status_check, "
            f"ADD CONSTRAINT entries_status_check CHECK (status IN ({_STATUSES}, 'queued'))",
        },
        tables="""
        CREATE TABLE IF NOT EXISTS failures (
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            since {TIMESTAMP} NOT NULL,
            last_error TEXT NOT NULL,
            PRIMARY KEY (kind, name)
        ) {WITHOUT_ROWID}""",
    ),
)
SCHEMA_VERSION = len(STEPS)
STEP_NAMES = tuple(step.name for step in STEPS)

META = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS _migrations "
    "(name TEXT PRIMARY KEY, applied_at {TIMESTAMP} NOT NULL)"
)


def render(sql: str, dialect: Dialect) -> list[str]:
    """The statements of `sql`, in the dialect's types."""
    text = sql.format(**TYPES[dialect.name])
    return [statement for statement in text.split(";") if statement.strip()]


def apply(db: Any, dialect: Dialect, step: Step) -> None:
    """Make what `step` adds, then bring the rows up to date."""
    for table, column, kind in step.columns:
        dialect.add_column(db, table, column, kind.format(**TYPES[dialect.name]))
    for statement in render(step.tables, dialect):
        db.execute(statement)
    own = step.own.get(dialect.name)
    if callable(own):
        own(db, dialect)
    elif own:
        for statement in render(own, dialect):
            db.execute(statement)
    if step.data:
        step.data(db, dialect)


def applied_steps(db: Any, dialect: Dialect, legacy: Mapping[int, int] | None = None) -> int:
    """How many of STEPS the database has been through: 0 for none (no state yet).

    A database that records no names has an integer `schema_version` from before names,
    meaning that many steps (or what `legacy` maps it to). More than this crossposter
    knows raises ValueError with the number it found.
    """
    if not dialect.has_table(db, "meta"):
        return 0
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    stored = int(row["value"]) if row else 0
    if dialect.has_table(db, "_migrations"):
        names = {row["name"] for row in db.execute("SELECT name FROM _migrations").fetchall()}
        if stored > SCHEMA_VERSION or names - set(STEP_NAMES):
            raise ValueError(max(stored, len(names)))
        # Steps are applied in order, and a version set back by hand means what it says.
        return min(stored, len(names))
    if legacy is not None and stored:
        if stored not in legacy:
            raise ValueError(stored)
        return legacy[stored]
    if stored > SCHEMA_VERSION:
        raise ValueError(stored)
    return stored


def migrate(db: Any, dialect: Dialect, applied: int, at: datetime) -> None:
    """Apply the steps after the first `applied`, and record every step's name."""
    db.execute(META)
    db.execute(render(MIGRATIONS_TABLE, dialect)[0])
    for step in STEPS[applied:]:
        apply(db, dialect, step)
    db.executemany(
        "INSERT INTO _migrations (name, applied_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [(name, dialect.stamp(at)) for name in STEP_NAMES],
    )
    db.execute(
        "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (str(SCHEMA_VERSION),),
    )


def bring_up_to_date(db: Any, dialect: Dialect, version: int) -> None:
    """The rows of an export of `version`, now in today's tables, as an upgrade leaves them."""
    for step in STEPS[max(version, 1) :]:
        if step.data:
            step.data(db, dialect)


# -- exports -------------------------------------------------------------------------

EXPORT_FORMAT = "crossposter-state"
# Tables an export carries, and in which order their rows come.
EXPORT_ORDER = {
    "feeds": "name COLLATE BINARY",
    "entries": "feed COLLATE BINARY, entry_id COLLATE BINARY",
    "instances": "url COLLATE BINARY",
    "announced_links": "account COLLATE BINARY, link COLLATE BINARY",
    "hook_runs": "feed COLLATE BINARY, entry_id COLLATE BINARY, event COLLATE BINARY, "
    "occurrence COLLATE BINARY",
    "deletions": "account COLLATE BINARY, at",
    "account_profiles": "instance COLLATE BINARY, account COLLATE BINARY",
    "unused_uploads": "instance COLLATE BINARY, account COLLATE BINARY, media_id COLLATE BINARY",
}
EXPORTED_TABLES = tuple(EXPORT_ORDER)
TIMESTAMP_COLUMNS = {
    "feeds": (
        "last_fetch",
        "last_parsed",
        "next_poll",
        "card_warned",
        "deletions_held_since",
        "deletions_allowed_at",
    ),
    "entries": (
        "first_seen",
        "last_seen",
        "pending_since",
        "updated",
        "posted_at",
        "edited_at",
        "replies_fetched_at",
        "checked_at",
        "gone_since",
    ),
    "instances": ("fetched_at",),
    "hook_runs": ("started",),
    "deletions": ("at",),
    "unused_uploads": ("recorded",),
}
# Columns holding JSON, with how the state reads them back: an import must be readable.
JSON_COLUMNS: dict[tuple[str, str], Callable[[str], object]] = {
    ("entries", "toot"): toot_from_json,
    ("entries", "earlier_articles"): lambda text: [
        Article.from_json(json.dumps(item)) for item in json.loads(text)
    ],
    ("entries", "queued_entry"): entry_from_json,
    ("instances", "limits"): lambda text: InstanceLimits(**json.loads(text)),
}


def import_problem(db: Any, dialect: Dialect, data: dict[str, Any]) -> str | None:
    """The first thing in an export that today's tables would not hold as the state would
    have written it, or None: known tables and columns, text or whole numbers, timestamps."""
    unknown = set(data) - {"format", "version", "exported_at", *EXPORTED_TABLES}
    if unknown:
        return f"unknown field {sorted(unknown)[0]!r}"
    for table in EXPORTED_TABLES:
        rows = data.get(table) or []
        if not isinstance(rows, list):
            return f"{table} is not a list"
        columns = dialect.columns(db, table)
        for number, row in enumerate(rows):
            if not isinstance(row, dict):
                return f"{table}[{number}] is not an object"
            for name, value in row.items():
                problem = _value_problem(table, name, value, columns.get(name))
                if problem:
                    return f"{table}[{number}].{name}: {problem}"
    return None


def _value_problem(
    table: str, name: str, value: Any, column: tuple[str, bool] | None
) -> str | None:
    if column is None:
        return "no such column"
    kind, required = column
    if value is None:
        return "missing" if required else None
    if kind == "INTEGER":
        return None if type(value) is int else f"not a whole number: {value!r}"
    if kind == "REAL":
        return None if type(value) in (int, float) else f"not a number: {value!r}"
    if not isinstance(value, str):
        return f"not text: {value!r}"
    if name in TIMESTAMP_COLUMNS.get(table, ()):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return f"not a timestamp: {value!r}"
        if moment.tzinfo is None:
            return f"a timestamp without its time zone: {value!r}"
    elif (table, name) in JSON_COLUMNS:
        try:
            JSON_COLUMNS[table, name](value)
        except (ValueError, TypeError, AttributeError):
            return "not what crossposter writes there"
    return None
