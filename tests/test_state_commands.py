"""`crossposter state ...`: a person can see what the tool remembers and repair it."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest

from crossposter.cli import main
from crossposter.state import State

from support.blog import feed_of, write_config


def guid(n: int) -> str:
    return f"https://blog.example.org/?p={n}"


def blog_config(folder, api, feeds, extra="", backend=None) -> str:
    """The blog's feeds.yaml in `folder`, its state on `backend` (default: a SQLite file
    there); `extra` adds keys to its feed."""
    folder.mkdir(exist_ok=True)
    feed = f"- {{name: blog, url: '{feeds.url('/feed')}'{extra}}}"
    state = {}
    if backend is not None:
        key = "state_url" if backend.name == "postgres" else "state_file"
        state = {"state_file": None, key: f"'{backend.location}'"}
    return write_config(folder, api, feed, post_retry_seconds=0.2, **state)


def run(config: str) -> int:
    return main(["run", "--config", config])


def state(*args: str, config: str) -> int:
    return main(["state", *args, "--config", config])


@pytest.fixture
def posted_and_failed(tmp_path, api, feeds, token, backend):
    """Article 2 posted, article 3 refused by the server (failed); on each backend."""
    feeds.set_feed("/feed", feed_of(1))
    config = blog_config(tmp_path, api, feeds, backend=backend)
    assert run(config) == 0
    feeds.set_feed("/feed", feed_of(1, 2, 3))
    # Faults fire in order: the first post (article 2) goes through, the second is refused.
    api.fail_next("POST", "/api/v1/statuses", "delay", seconds=0, create=True)
    api.fail_next("POST", "/api/v1/statuses", 422, message="Validation failed: Text is odd")
    assert run(config) == 1
    assert len(api.statuses) == 1
    return config


def test_feeds_lists_each_feed_with_its_last_fetch_and_counts(posted_and_failed, capsys):
    capsys.readouterr()
    assert state("feeds", config=posted_and_failed) == 0
    out = capsys.readouterr().out
    assert "blog" in out and "/feed" in out
    assert "last fetch: 20" in out
    assert "1 failed" in out and "1 posted" in out and "1 seen" in out


def test_entries_show_the_toot_of_a_posted_one_and_the_reason_of_a_failed_one(
    posted_and_failed, api, capsys
):
    capsys.readouterr()
    assert state("entries", config=posted_and_failed) == 0
    out = capsys.readouterr().out
    assert api.statuses[0]["url"] in out
    assert "Text is odd" in out
    assert guid(1) in out

    assert state("entries", "--status", "failed", config=posted_and_failed) == 0
    out = capsys.readouterr().out
    assert guid(3) in out and guid(2) not in out



def test_entries_line_up_their_ids_whatever_the_status(posted_and_failed, capsys):
    assert main(["retract", "--config", posted_and_failed, "blog", guid(2)]) == 0
    capsys.readouterr()

    assert state("entries", config=posted_and_failed) == 0

    lines = [line for line in capsys.readouterr().out.splitlines() if guid(0)[:-1] in line]
    assert {"seen", "failed", "retracted"} <= {line.split()[3] for line in lines}
    assert len({line.index("https://") for line in lines}) == 1


def test_entries_show_control_characters_an_older_version_stored_escaped(
    posted_and_failed, backend, tmp_path, capsys
):
    stored = ("A\x1b[2J\u202eB", "odd\nforged")
    if backend.name == "postgres":
        import psycopg

        with psycopg.connect(backend.location) as db:
            db.execute(
                "UPDATE entries SET title = %s, reason = %s WHERE status = 'failed'", stored
            )
    else:
        with sqlite3.connect(tmp_path / "state.sqlite3") as db:
            db.execute("UPDATE entries SET title = ?, reason = ? WHERE status = 'failed'", stored)
        db.close()
    capsys.readouterr()
    assert state("entries", config=posted_and_failed) == 0
    out = capsys.readouterr().out
    assert "A\\x1b[2J\\u202eB" in out and "odd\\nforged" in out
    assert "\x1b" not in out and "\u202e" not in out and "\nforged" not in out


def test_retry_announces_a_failed_entry_again(posted_and_failed, api):
    assert run(posted_and_failed) == 0, "a failed entry is not retried on every run"
    assert len(api.statuses) == 1
    assert state("retry", config=posted_and_failed) == 0
    assert run(posted_and_failed) == 0
    assert len(api.statuses) == 2
    assert "https://blog.example.org/3/" in api.statuses[1]["text"]


def test_a_change_to_the_feeds_settings_tries_a_failed_entry_again(
    posted_and_failed, api, feeds, tmp_path, caplog, backend
):
    """A toot refused as too long goes out once its template is made shorter."""
    assert run(posted_and_failed) == 0
    assert len(api.statuses) == 1, "unchanged settings: not retried"
    blog_config(tmp_path, api, feeds, extra=", template: '{title} {url}'", backend=backend)
    assert run(posted_and_failed) == 0
    assert len(api.statuses) == 2
    assert api.statuses[1]["text"] == "Article 3 https://blog.example.org/3/"
    assert "settings changed" in caplog.text
    assert run(posted_and_failed) == 0
    assert len(api.statuses) == 2


def test_forget_announces_an_entry_again_even_behind_a_304(posted_and_failed, api, feeds):
    assert state("forget", "blog", guid(1), config=posted_and_failed) == 0
    before = len(api.statuses)
    assert run(posted_and_failed) == 0
    assert len(api.statuses) == before + 1
    assert "https://blog.example.org/1/" in api.statuses[-1]["text"]


def test_forget_of_an_unknown_entry_is_a_usage_error(posted_and_failed, caplog):
    assert state("forget", "blog", "nope", config=posted_and_failed) == 2
    assert "nope" in caplog.text


def test_mark_seen_keeps_pending_and_waiting_entries_from_going_out(
    tmp_path, api, feeds, token, backend
):
    feeds.set_feed("/feed", feed_of(1))
    config = blog_config(tmp_path, api, feeds, extra=", max_posts_per_run: 1", backend=backend)
    assert run(config) == 0
    feeds.set_feed("/feed", feed_of(*range(1, 6)))
    api.fail_next("POST", "/api/v1/statuses", 500, times=100)
    assert run(config) == 75  # one pending, three waiting
    api.clear_faults()

    assert state("mark-seen", "blog", config=config) == 0
    assert run(config) == 0
    assert run(config) == 0
    assert api.statuses == []


@contextmanager
def a_run_working_on_blog(backend, lease=timedelta(minutes=1)) -> Iterator[State]:
    """What a live run holds while it works on feed blog: the state file's lock, or (a state
    database) the feed's lease, for `lease` unless renewed."""
    with backend.open() as run_s_state:
        run_s_state.take_leases(["blog"], "replica-1", lease)
        yield run_s_state


# Every command that changes the state, as a person types it after `--config FILE`.
REPAIRS = {
    "retry": ["state", "retry"],
    "retry a feed": ["state", "retry", "blog"],
    "forget": ["state", "forget", "blog", guid(2)],
    "mark-seen": ["state", "mark-seen", "blog"],
    "import": ["state", "import", "backup.json"],
    "retract": ["retract", "blog", guid(2)],
}


@pytest.fixture
def backup(posted_and_failed, tmp_path):
    assert state("export", str(tmp_path / "backup.json"), config=posted_and_failed) == 0


def exported(config: str, capsys) -> dict:
    capsys.readouterr()
    assert state("export", config=config) == 0
    document = json.loads(capsys.readouterr().out)
    del document["exported_at"]
    return document


@pytest.mark.parametrize("repair", REPAIRS)
def test_state_changes_wait_for_a_run_holding_the_lock(
    posted_and_failed, backup, backend, repair, api, capsys, caplog
):
    before = exported(posted_and_failed, capsys)
    with a_run_working_on_blog(backend):
        assert main([*REPAIRS[repair], "--config", posted_and_failed]) == 75
    assert "another crossposter run" in caplog.text
    assert "lock_timeout" in caplog.text
    if backend.name == "postgres":
        assert "feed blog" in caplog.text and "replica-1" in caplog.text
    assert exported(posted_and_failed, capsys) == before
    assert api.count("DELETE") == 0


@pytest.mark.parametrize("repair", REPAIRS)
def test_a_state_change_waits_until_the_run_lets_go(
    posted_and_failed, backup, backend, repair, monkeypatch, capsys
):
    monkeypatch.setenv("CROSSPOSTER_LOCK_TIMEOUT", "30")
    before = exported(posted_and_failed, capsys)
    holding, letting_go = threading.Event(), threading.Event()

    def a_run_that_ends() -> None:
        with a_run_working_on_blog(backend) as run_s_state:
            holding.set()
            time.sleep(0.3)
            letting_go.set()
            run_s_state.release_leases(["blog"], "replica-1")
        # and leaving it closes its state: a state file's lock goes too

    run_ = threading.Thread(target=a_run_that_ends)
    run_.start()
    holding.wait()
    try:
        assert main([*REPAIRS[repair], "--config", posted_and_failed]) == 0
        assert letting_go.is_set(), "changed while the run was holding the feed"
    finally:
        run_.join()
    if repair != "import":  # which restores the same state
        assert exported(posted_and_failed, capsys) != before


def test_a_dead_run_s_feed_is_repaired_once_its_lease_expires(
    posted_and_failed, backend, caplog
):
    if backend.name == "sqlite":
        pytest.skip("a dead run's lock on a state file goes with it: nothing expires")
    with a_run_working_on_blog(backend, lease=timedelta(seconds=-1)):
        assert state("retry", "blog", config=posted_and_failed) == 0
    assert "another crossposter run" not in caplog.text


def test_a_repair_inside_a_replica_does_not_take_over_its_leases(
    posted_and_failed, backend, monkeypatch
):
    if backend.name == "sqlite":
        pytest.skip("a state file has one process at a time: no replicas")
    # `kubectl exec` into a replica runs the command with the replica's own worker id.
    monkeypatch.setenv("CROSSPOSTER_WORKER_ID", "replica-1")
    with a_run_working_on_blog(backend) as run_s_state:
        assert state("retry", "blog", config=posted_and_failed) == 75
        assert [lease.worker for lease in run_s_state.leases()] == ["replica-1"]


def test_export_and_import_round_trip(posted_and_failed, tmp_path, api, feeds, capsys):
    backup = tmp_path / "backup.json"
    assert state("export", str(backup), config=posted_and_failed) == 0
    exported = json.loads(backup.read_text(encoding="utf-8"))
    assert {row["entry_id"] for row in exported["entries"]} == {guid(1), guid(2), guid(3)}

    elsewhere = blog_config(tmp_path / "elsewhere", api, feeds)
    assert state("import", str(backup), config=elsewhere) == 0
    capsys.readouterr()
    assert state("export", config=elsewhere) == 0
    again = json.loads(capsys.readouterr().out)
    for document in (exported, again):
        del document["exported_at"]
    assert again == exported

    # The restored state remembers everything: nothing is announced twice.
    posts = len(api.statuses)
    assert run(elsewhere) == 0
    assert len(api.statuses) == posts


def test_import_of_something_else_is_refused_and_changes_nothing(
    posted_and_failed, tmp_path, capsys, caplog
):
    capsys.readouterr()
    assert state("export", config=posted_and_failed) == 0
    before = json.loads(capsys.readouterr().out)
    for content in (
        "not json",
        '{"format": "something"}',
        '{"format": "crossposter-state", "version": 99}',
        '{"format": "crossposter-state", "version": 1, "entries": [{"nonsense": 1}]}',
    ):
        bad = tmp_path / "bad.json"
        bad.write_text(content, encoding="utf-8")
        assert state("import", str(bad), config=posted_and_failed) == 2
    assert state("export", config=posted_and_failed) == 0
    after = json.loads(capsys.readouterr().out)
    del before["exported_at"], after["exported_at"]
    assert after == before


def test_forget_takes_the_articles_url_as_well_as_its_id(posted_and_failed, api, caplog):
    caplog.set_level("INFO")
    assert state("forget", "blog", "https://blog.example.org/1/", config=posted_and_failed) == 0
    assert f"forgot {guid(1)} of feed blog" in caplog.text
    assert run(posted_and_failed) == 0
    assert "https://blog.example.org/1/" in api.statuses[-1]["text"]


def test_entries_of_a_feed_the_state_does_not_have_says_so(posted_and_failed, capsys, caplog):
    assert state("entries", "--feed", "nosuch", config=posted_and_failed) == 2
    assert "no feed 'nosuch' in the state" in caplog.text
    assert capsys.readouterr().out == ""


def test_mark_seen_counts_only_the_entries_the_state_did_not_know(
    posted_and_failed, feeds, caplog
):
    feeds.set_feed("/feed", feed_of(1, 2, 3, 4))
    caplog.set_level("INFO")
    assert state("mark-seen", "blog", config=posted_and_failed) == 0
    assert "feed blog: 0 pending posts dropped, 1 new entry recorded as seen" in caplog.text
