"""The state file's troubles — corrupt, not a database, a folder, a symlink, a full disk,
no permission — each end in one clear line and the right exit code, never a traceback;
`check` probes writability without creating anything; exports and imports are strict."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import stat
import tempfile
from pathlib import Path

import pytest

from crossposter.check import _check_state
from crossposter.cli import main
from crossposter.errors import StateError, StateLocked, TemporaryStateError
from crossposter.state import SqliteState

from support.blog import feed_of, write_config


@pytest.fixture
def config(tmp_path, api, feeds, token):
    feeds.set_feed("/feed", feed_of(1, link=feeds.url("/{n}/")))
    return write_config(tmp_path, api, f"- {{name: blog, url: '{feeds.url('/feed')}'}}")


def one_clear_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("ERROR")]
    return line


def a_state_with_one_feed(path) -> bytes:
    with SqliteState.open(path) as state:
        state.record_fetch("blog", "u", "ok")
    return path.read_bytes()


# -- refused: exit 2, the file left as it was -----------------------------------


def test_random_bytes_are_not_a_state_file(config, tmp_path, capsys):
    state = tmp_path / "state.sqlite3"
    state.write_bytes(os.urandom(8192))
    before = state.read_bytes()
    assert main(["run", "--config", config]) == 2
    assert "state.sqlite3: not a usable crossposter state file" in one_clear_line(capsys)
    assert state.read_bytes() == before


def test_a_corrupted_state_file_is_named_corrupt(config, tmp_path, capsys):
    state = tmp_path / "state.sqlite3"
    content = bytearray(a_state_with_one_feed(state))
    content[4096:8192] = b"\xff" * 4096  # a table's page overwritten
    state.write_bytes(bytes(content))
    assert main(["state", "feeds", "--config", config]) == 2
    assert "corrupt" in one_clear_line(capsys)
    assert state.read_bytes() == bytes(content)


def test_a_symlinked_state_file_is_refused_naming_the_real_path(config, tmp_path, capsys):
    real = tmp_path / "elsewhere" / "real.sqlite3"
    real.parent.mkdir()
    before = a_state_with_one_feed(real)
    (tmp_path / "state.sqlite3").symlink_to(real)
    for command in (["run"], ["run", "--dry-run"], ["state", "retry"]):
        assert main([*command, "--config", config]) == 2, command
        line = one_clear_line(capsys)
        assert "symbolic link" in line and str(real) in line
    assert main(["check", "--config", config]) == 1
    assert f"state: PROBLEM: {tmp_path / 'state.sqlite3'} is a symbolic link to {real}" in (
        capsys.readouterr().out
    )
    assert real.read_bytes() == before and (tmp_path / "state.sqlite3").is_symlink()


def test_a_state_path_through_a_file_is_refused_by_run_and_check(config, tmp_path, capsys):
    (tmp_path / "afile").write_text("not a folder")
    yaml = Path(config)
    text = yaml.read_text(encoding="utf-8")
    yaml.write_text(text.replace("state_file: state.sqlite3", "state_file: afile/state.sqlite3"))
    assert main(["run", "--config", config]) == 2
    assert "not a folder" in one_clear_line(capsys)
    assert main(["check", "--config", config]) == 1
    out = capsys.readouterr().out
    assert "state: PROBLEM:" in out and "will be created" not in out


def test_a_read_only_state_is_a_permission_problem_not_corruption(tmp_path, monkeypatch):
    """Root may write anything: SQLite's read-only open (what it does with a file the user
    may only read) is forced with its own `mode=ro`."""
    path = tmp_path / "s.sqlite3"
    a_state_with_one_feed(path)
    real_connect = sqlite3.connect

    def read_only(database, **options):
        options["uri"] = True
        return real_connect(f"{path.resolve().as_uri()}?mode=ro", **options)

    monkeypatch.setattr(sqlite3, "connect", read_only)
    with pytest.raises(StateError, match="permission denied") as refused:
        SqliteState.open(path)
    assert "corrupt" not in str(refused.value) and not refused.value.temporary


def as_nobody(work) -> str:
    """`work()` in a forked child that became the unprivileged user nobody; what it
    returned, or the traceback it raised. Root may enter any folder, nobody may not."""
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child
        os.close(reading)
        try:
            os.setgid(65534)
            os.setuid(65534)
            answer = str(work())
        except BaseException:
            import traceback

            answer = traceback.format_exc()
        os.write(writing, answer.encode())
        os._exit(0)
    os.close(writing)
    with os.fdopen(reading) as pipe:
        answer = pipe.read()
    os.waitpid(child, 0)
    return answer


def check_then_open(state: Path) -> str:
    """What `check` says of the state, then what opening it for a run says, a line each."""
    problem = _check_state(state).problem
    try:
        SqliteState.open(state)
    except StateError as error:
        return f"{problem}\n{error}"
    return f"{problem}\nopened"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become the user nobody")
def test_a_folder_the_user_may_not_enter_is_a_permission_problem_never_a_traceback():
    top = Path(tempfile.mkdtemp())
    try:
        top.chmod(0o755)
        locked = top / "locked"
        locked.mkdir(mode=0o700)
        state = locked / "state.sqlite3"
        a_state_with_one_feed(state)
        answer = as_nobody(lambda: check_then_open(state))
    finally:
        shutil.rmtree(top)
    assert "Traceback" not in answer, answer
    check_problem, opened = answer.splitlines()
    assert "permission denied" in check_problem and str(locked) in check_problem
    assert "permission denied" in opened and "corrupt" not in answer


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become the user nobody")
def test_a_state_folder_the_user_may_not_write_is_explained_by_run_as_by_check():
    top = Path(tempfile.mkdtemp())
    try:
        top.chmod(0o755)  # root's: nobody may enter it, not write it
        state = top / "state.sqlite3"
        answer = as_nobody(lambda: check_then_open(state))
    finally:
        shutil.rmtree(top)
    assert "Traceback" not in answer, answer
    for said in answer.splitlines():
        # Which user, which folder: what a person needs to fix it.
        assert "permission denied" in said and "the user nobody" in said, said
        assert str(top) in said and "lock file" not in said, said
    assert not state.exists()


# -- a full disk: exit 75, what was recorded stays consistent -------------------


def test_a_disk_full_in_the_middle_of_a_run_ends_it_with_75_and_nothing_doubled(
    tmp_path, api, feeds, token, monkeypatch, capsys
):
    feeds.set_feed("/feed", feed_of(1))
    # 39 new entries at once would trip the flood guard: off, this is about the disk.
    feed = (
        f"- {{name: blog, url: '{feeds.url('/feed')}', max_posts_per_run: 50, "
        "flood_threshold: 0}"
    )
    config = write_config(tmp_path, api, feed)
    assert main(["run", "--config", config]) == 0
    long = "A long, long summary of the article. " * 20
    feeds.set_feed("/feed", feed_of(*range(1, 41), description=long))
    real_connect = sqlite3.connect

    def nearly_full(database, **options):
        connection = real_connect(database, **options)
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        # SQLITE_FULL once the file has grown by these pages: as a full disk does.
        connection.execute(f"PRAGMA max_page_count = {pages + 4}")
        return connection

    monkeypatch.setattr(sqlite3, "connect", nearly_full)
    capsys.readouterr()
    assert main(["run", "--config", config]) == 75
    assert "the disk is full" in one_clear_line(capsys)
    posted_before_the_disk_filled = len(api.statuses)
    assert 0 < posted_before_the_disk_filled < 39

    monkeypatch.setattr(sqlite3, "connect", real_connect)
    assert main(["run", "--config", config]) == 0
    links = [status["text"].split()[-1] for status in api.statuses]
    assert len(links) == len(set(links)) == 39


def test_full_disk_and_input_output_errors_are_temporary_locks_too():
    assert issubclass(StateLocked, TemporaryStateError)
    assert TemporaryStateError("x").temporary and not StateError("x").temporary


# -- check ------------------------------------------------------------------------


def test_check_probes_a_state_a_run_is_writing_and_reports_it_as_information(
    config, tmp_path, capsys
):
    path = tmp_path / "state.sqlite3"
    a_state_with_one_feed(path)
    with SqliteState.open(path) as state, state.batch():
        state.record_fetch("blog", "u", "ok")  # a run in the middle of its pass
        assert main(["check", "--config", config]) == 0
    out = capsys.readouterr().out
    assert "state: " in out and "note: a run is using it right now" in out
    assert "(1 feed known)" in out
    assert "check: all good" in out


def test_check_never_creates_a_missing_state(config, tmp_path, capsys):
    assert main(["check", "--config", config]) == 0
    assert "will be created by the first run" in capsys.readouterr().out
    assert not (tmp_path / "state.sqlite3").exists()
    assert not (tmp_path / "state.sqlite3.lock").exists()


def test_the_writability_probe_really_writes_and_changes_nothing(tmp_path):
    path = tmp_path / "s.sqlite3"
    before = a_state_with_one_feed(path)
    SqliteState.probe_writable(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.glob("s.*")) == ["s.sqlite3", "s.sqlite3.lock"]
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StateLocked, match="busy"):
            SqliteState.probe_writable(path)
    finally:
        other.execute("ROLLBACK")
    with pytest.raises(StateError, match="is a directory"):
        SqliteState.probe_writable(tmp_path)


# -- permissions ---------------------------------------------------------------------


def test_a_state_open_to_others_is_made_private_with_a_warning(tmp_path, caplog):
    path = tmp_path / "s.sqlite3"
    a_state_with_one_feed(path)
    path.chmod(0o644)
    with SqliteState.open(path) as state:
        assert state.feed("blog").url == "u"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "was open to others (mode 644)" in caplog.text


def test_an_export_is_readable_by_its_owner_only(config, tmp_path):
    assert main(["run", "--config", config]) == 0
    os.umask(umask := os.umask(0o022))
    try:
        assert main(["state", "export", str(tmp_path / "backup.json"), "--config", config]) == 0
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "backup.json").stat().st_mode) == 0o600


# -- imports ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda data: data["entries"][0].update(nonsense=1), "entries[0].nonsense: no such column"),
        (lambda data: data["entries"][0].update(title=7), "entries[0].title: not text"),
        (lambda data: data["entries"][0].update(first_seen="yesterday"), "not a timestamp"),
        (lambda data: data["entries"][0].update(updated=None), "entries[0].updated: missing"),
        (lambda data: data["feeds"][0].update(last_fetch="20261126T081200"), "time zone"),
        (lambda data: data["entries"][0].update(toot="[1, 2]"), "not what crossposter"),
        (lambda data: data.update(feeds={"blog": {}}), "feeds is not a list"),
        (lambda data: data.update(accounts=[]), "unknown field 'accounts'"),
    ],
    ids=["column", "type", "timestamp", "missing", "naive-time", "toot", "table", "field"],
)
def test_an_import_with_anything_unknown_or_mistyped_is_refused_whole(
    config, tmp_path, capsys, change, named
):
    assert main(["run", "--config", config]) == 0
    capsys.readouterr()
    assert main(["state", "export", "--config", config]) == 0
    before = json.loads(capsys.readouterr().out)
    data = json.loads(json.dumps(before))
    change(data)
    backup = tmp_path / "bad.json"
    backup.write_text(json.dumps(data), encoding="utf-8")
    assert main(["state", "import", str(backup), "--config", config]) == 2
    line = one_clear_line(capsys)
    assert named in line and "nothing changed" in line
    assert main(["state", "export", "--config", config]) == 0
    after = json.loads(capsys.readouterr().out)
    del before["exported_at"], after["exported_at"]
    assert after == before


# -- the journal: write-ahead during a run, one plain file between runs ----------------


def journal_mode(path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute("PRAGMA journal_mode").fetchone()[0]


def test_a_run_writes_ahead_and_leaves_one_ordinary_file_behind(tmp_path):
    path = tmp_path / "state.sqlite3"
    a_state_with_one_feed(path)
    assert journal_mode(path) == "delete"

    with SqliteState.open(path) as run:
        assert journal_mode(path) == "wal"
        run.record_fetch("news", "u", "ok")
        for log in ("state.sqlite3-wal", "state.sqlite3-shm"):
            assert stat.S_IMODE((tmp_path / log).stat().st_mode) == 0o600  # private, as the file
        # A reader that may not write reads what the run committed, while it runs.
        with SqliteState.open_read_only(path) as reader:
            assert {feed.name for feed in reader.feeds()} == {"blog", "news"}

    assert journal_mode(path) == "delete"
    assert sorted(p.name for p in tmp_path.glob("state*")) == [path.name, f"{path.name}.lock"]
    # The one file is the whole state: a copy of it alone reads it all.
    copy = tmp_path / "copy" / "state.sqlite3"
    copy.parent.mkdir()
    shutil.copyfile(path, copy)
    with SqliteState.open_read_only(copy) as copied:
        assert {feed.name for feed in copied.feeds()} == {"blog", "news"}

