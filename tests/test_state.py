"""The state file: created private, every change durable, refused when unusable, locked."""

from __future__ import annotations

import os
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crossposter.errors import StateError, StateLocked
from crossposter.models import InstanceLimits, Posted, Toot, Validators
from crossposter.state import SCHEMA_VERSION, SqliteState

from support.builders import make_entry


def test_the_state_file_is_created_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "sub" / "state.sqlite3"
    with SqliteState.open(path):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_pending_post_survives_reopening_with_its_key_and_exact_toot(backend):
    toot = Toot(
        text="Hello\n\nhttps://b.example/1",
        language="fr",
        visibility="unlisted",
        hashtags=("#a",),
        length=30,
        limit=500,
    )
    with backend.open() as state:
        state.record_fetch("blog", "https://b.example/feed", "ok")
        state.mark_pending("blog", make_entry(1), "key-1", toot, account="default")
    with backend.open() as state:
        [pending] = state.pending("blog")
        assert (pending.entry_id, pending.idempotency_key, pending.toot) == ("id-1", "key-1", toot)
        state.mark_posted("blog", "id-1", Posted(id="9", url="https://m.example/@b/9"))
        assert state.pending("blog") == []
        [record] = state.entries("blog")
        assert (record.status, record.toot_url) == ("posted", "https://m.example/@b/9")


def test_mark_seen_never_downgrades_a_posted_entry(any_state):
    any_state.mark_pending("blog", make_entry(1), "k", Toot(text="t"), account="default")
    any_state.mark_posted("blog", "id-1", Posted(id="1", url=None))
    any_state.mark_seen("blog", [make_entry(1), make_entry(2)])
    statuses = {r.entry_id: r.status for r in any_state.entries("blog")}
    assert statuses == {"id-1": "posted", "id-2": "seen"}


def test_validators_are_kept_per_feed(any_state):
    any_state.record_fetch("blog", "https://b.example/feed", "ok")
    any_state.save_validators("blog", Validators(etag='"abc"', last_modified="Tue, 01 Jan 2026"))
    assert any_state.feed("blog").validators == Validators('"abc"', "Tue, 01 Jan 2026")
    assert any_state.feed("other") is None


def test_a_second_run_on_the_same_state_file_is_kept_out(tmp_path):
    # A state database lets several in, each feed leased to one (test_several_processes).
    path = tmp_path / "state.sqlite3"
    with SqliteState.open(path), pytest.raises(StateLocked, match="another crossposter run"):
        SqliteState.open(path, lock_timeout=0.2)
    with SqliteState.open(path):  # released when the first run ends
        pass


@pytest.mark.parametrize(
    "content",
    [b"this is not a database at all" * 100, b""],
    ids=["garbage", "empty-but-not-ours"],
)
def test_a_corrupt_state_file_is_refused_and_left_untouched(tmp_path, content):
    path = tmp_path / "s.sqlite3"
    if content:
        path.write_bytes(content)
    else:
        sqlite3.connect(path).execute("CREATE TABLE other (x)").connection.commit()
    before = path.read_bytes()
    with pytest.raises(StateError):
        SqliteState.open(path)
    assert path.read_bytes() == before


def test_a_state_file_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "s.sqlite3"
    with SqliteState.open(path):
        pass
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    db.commit()
    db.close()
    with pytest.raises(StateError, match="newer crossposter"):
        SqliteState.open(path)


def test_the_read_only_view_writes_nothing_and_creates_nothing(tmp_path):
    path = tmp_path / "s.sqlite3"
    with SqliteState.open_read_only(path) as state:
        assert state.feed("blog") is None
    assert not path.exists() and not os.path.exists(f"{path}.lock")
    with SqliteState.open(path) as state:
        state.record_fetch("blog", "u", "ok")
    before = path.read_bytes()
    with SqliteState.open_read_only(path) as state:
        assert state.feed("blog").url == "u"
        with pytest.raises(StateError):
            state.mark_seen("blog", [make_entry(1)])
    assert path.read_bytes() == before


def test_pruning_forgets_only_entries_long_gone_from_the_feed(any_state):
    from datetime import UTC, datetime

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    any_state.mark_seen("blog", [make_entry(1), make_entry(2)], at=t0)
    any_state.record_fetch("blog", "u", "ok", parsed_at=t0 + timedelta(days=200))
    any_state.touch("blog", ["id-2"], at=t0 + timedelta(days=200))
    assert any_state.prune("blog", timedelta(days=180)) == 1
    assert any_state.known_ids("blog") == {"id-2"}


def test_pruning_is_measured_in_parses_not_in_clock_time(any_state):
    """A feed that answered 304 for a year keeps every entry it still holds."""
    from datetime import UTC, datetime

    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    any_state.mark_seen("blog", [make_entry(1)], at=t0)
    any_state.record_fetch("blog", "u", "ok", parsed_at=t0)
    any_state.record_fetch("blog", "u", "not modified", at=t0 + timedelta(days=400))
    assert any_state.prune("blog", timedelta(days=180)) == 0


def test_instance_limits_are_cached_for_a_while(any_state):
    any_state.save_limits("https://m.example", InstanceLimits(5000, 23, "api/v2/instance"))
    cached = any_state.cached_limits("https://m.example", timedelta(days=1))
    assert (cached.max_characters, cached.source) == (5000, "cached")
    assert any_state.cached_limits("https://m.example", timedelta(seconds=-1)) is None


def test_deletions_are_counted_per_account_across_runs_and_carried_by_an_export(tmp_path):
    noon = datetime(2026, 3, 1, 12, tzinfo=UTC)
    with SqliteState.open(tmp_path / "s.sqlite3") as state:
        for minutes in (0, 10, 20):
            state.record_deletion("work", noon + timedelta(minutes=minutes))
        state.record_deletion("home", noon)
    with SqliteState.open(tmp_path / "s.sqlite3") as state:
        assert state.deletions_since("work", noon + timedelta(minutes=10)) == 2
        assert state.deletions_since("home", noon) == 1
        export = state.export_data()
    with SqliteState.open(tmp_path / "restored.sqlite3") as restored:
        restored.replace_with(export)
        assert restored.deletions_since("work", noon) == 3


def test_an_export_from_before_deletions_were_recorded_still_imports(tmp_path):
    with SqliteState.open(tmp_path / "s.sqlite3") as state:
        state.save_limits("https://m.example", InstanceLimits(5000, 23, "api/v2/instance"))
        export = state.export_data()
    del export["deletions"]
    export["version"] = 5
    with SqliteState.open(tmp_path / "restored.sqlite3") as restored:
        restored.replace_with(export)
        assert restored.deletions_since("default", datetime(2000, 1, 1, tzinfo=UTC)) == 0
        assert restored.cached_limits("https://m.example", timedelta(days=1)) is not None


def test_a_version_1_state_is_upgraded_in_place_and_keeps_its_meaning(tmp_path):
    """Version 1 wrote 2026-01-01T00:00:00+00:00; comparisons need one format throughout."""
    from datetime import UTC, datetime

    path = tmp_path / "s.sqlite3"
    with SqliteState.open(path) as state:
        state.mark_seen("blog", [make_entry(1)])
        state.record_fetch("blog", "u", "ok", parsed_at=datetime(2026, 1, 1, tzinfo=UTC))
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    db.execute(
        "UPDATE entries SET first_seen = '2025-01-01T00:00:00+00:00', "
        "last_seen = '2025-01-01T00:00:00+00:00'"
    )
    db.commit()
    db.close()

    with SqliteState.open(path) as state:
        [record] = state.entries("blog")
        assert record.first_seen == datetime(2025, 1, 1, tzinfo=UTC)
        # 2025-01-01 is a year before the last parse: pruned, as it must be.
        assert state.prune("blog", timedelta(days=180)) == 1
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta").fetchone() == (str(SCHEMA_VERSION),)


def test_a_state_file_that_cannot_be_opened_is_refused(tmp_path):
    """A folder where the file should be: SQLite cannot open it, even for root."""
    path = tmp_path / "s.sqlite3"
    path.mkdir()
    for opener in (SqliteState.open, SqliteState.open_read_only):
        with pytest.raises(StateError, match=r"s\.sqlite3"):
            opener(path)
    assert path.is_dir() and not any(path.iterdir())


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and writes any file")
@pytest.mark.parametrize("mode", [0o000, 0o400], ids=["unreadable", "read-only"])
def test_a_state_file_the_user_may_not_read_or_write_is_refused(tmp_path, mode):
    path = tmp_path / "s.sqlite3"
    with SqliteState.open(path) as state:
        state.record_fetch("blog", "u", "ok")
    path.chmod(mode)
    try:
        with pytest.raises(StateError, match=r"s\.sqlite3"):
            SqliteState.open(path)
    finally:
        path.chmod(0o600)
    with SqliteState.open(path) as state:
        assert state.feed("blog").url == "u"


def test_a_state_file_sqlite_can_only_read_is_refused_before_the_run_starts(tmp_path, monkeypatch):
    """What SQLite does with a file the user may read but not write: it opens it read-only,
    and the first write would fail halfway through a run. Root may write anything, so the
    read-only open is forced here."""
    path = tmp_path / "s.sqlite3"
    with SqliteState.open(path) as state:
        state.record_fetch("blog", "u", "ok")
    real_connect = sqlite3.connect

    def read_only(database, **options):
        options["uri"] = True
        return real_connect(f"{Path(database).resolve().as_uri()}?mode=ro", **options)

    monkeypatch.setattr(sqlite3, "connect", read_only)
    # A permission problem, named as one, never as corruption.
    with pytest.raises(StateError, match="permission denied") as refused:
        SqliteState.open(path)
    assert "corrupt" not in str(refused.value) and not refused.value.temporary


def test_an_unusable_state_file_exits_2_with_one_clear_line(tmp_path, capsys):
    from crossposter.cli import main

    (tmp_path / "state.sqlite3").mkdir()
    (tmp_path / "feed.xml").write_text("<rss/>", encoding="utf-8")
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "instance: https://mastodon.example\nstate_file: state.sqlite3\n"
        "feeds:\n  - {name: blog, url: feed.xml}\n",
        encoding="utf-8",
    )
    for command in (["run", "--dry-run"], ["state", "feeds"], ["state", "retry"]):
        capsys.readouterr()
        assert main([*command, "--config", str(config)]) == 2, command
        err = capsys.readouterr().err
        assert "state error" in err and "state.sqlite3" in err and "Traceback" not in err
