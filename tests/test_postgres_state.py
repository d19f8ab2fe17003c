"""The state in PostgreSQL: the same behaviour as the SQLite file, chosen by `state_url`,
moved to and from with `state export` / `state import`, its password never shown."""

from __future__ import annotations

import json
import threading

import pytest

from crossposter.cli import main
from crossposter.config import load_settings
from crossposter.errors import ConfigError, StateError, TemporaryStateError
from crossposter.models import AccountProfile, Article, InstanceLimits, Posted, Toot
from crossposter.state import SqliteState, now_utc
from crossposter.state.schema import EXPORTED_TABLES
from crossposter.state.schema import SCHEMA_VERSION as EXPORT_VERSION
from crossposter.storage import open_read_only, open_state

from conftest import postgres_database
from support.blog import feed_of, write_config
from support.builders import make_entry
from support.postgres import end_every_session


@pytest.fixture
def database(request) -> str:
    return postgres_database(request)


def blog_config(folder, api, feeds, **state) -> str:
    folder.mkdir(exist_ok=True)
    feed = f"- {{name: blog, url: '{feeds.url('/feed')}'}}"
    quoted = {
        key: f"'{value}'" if isinstance(value, str) else value for key, value in state.items()
    }
    return write_config(folder, api, feed, **{"state_file": None, **quoted})


# -- choosing the backend ---------------------------------------------------------


def test_state_url_and_state_file_both_in_the_file_is_an_error_naming_both(tmp_path):
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "instance: https://m.example\nstate_file: s.sqlite3\n"
        "state_url: postgresql://u@db.example/crossposter\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="state_url and state_file"):
        load_settings(config)


def test_a_state_file_from_the_environment_gives_way_to_state_url(tmp_path, monkeypatch, database):
    """The container image sets CROSSPOSTER_STATE_FILE; a state_url in the file wins."""
    monkeypatch.setenv("CROSSPOSTER_STATE_FILE", str(tmp_path / "env.sqlite3"))
    config = tmp_path / "feeds.yaml"
    config.write_text(f"instance: https://m.example\nstate_url: '{database}'\n", encoding="utf-8")
    settings = load_settings(config)
    with open_state(settings) as state:
        state.record_fetch("blog", "u", "ok")
    with open_read_only(settings) as state:
        assert [feed.name for feed in state.feeds()] == ["blog"]
    assert not (tmp_path / "env.sqlite3").exists()


def test_state_url_may_come_from_the_environment(tmp_path, monkeypatch, database):
    monkeypatch.setenv("CROSSPOSTER_STATE_URL", database)
    config = tmp_path / "feeds.yaml"
    config.write_text("instance: https://m.example\n", encoding="utf-8")
    assert load_settings(config).state_url == database


def test_a_state_url_that_is_not_postgresql_is_a_configuration_error(tmp_path):
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "instance: https://m.example\nstate_url: mysql://u:hunter2@db/x\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="state_url") as raised:
        load_settings(config)
    assert "hunter2" not in str(raised.value)


# -- what only a database server has ---------------------------------------------------


def test_the_read_only_view_of_an_empty_database_reads_empty_and_creates_nothing(database):
    import psycopg

    from crossposter.state.postgres import PostgresState

    with PostgresState.open_read_only(database) as state:
        assert state.feeds() == []
    with psycopg.connect(database) as db:
        assert db.execute("SELECT to_regclass('meta')").fetchone() == (None,)


def test_a_database_from_a_newer_crossposter_is_refused(database):
    import psycopg

    from crossposter.state.postgres import SCHEMA_VERSION, PostgresState

    with PostgresState.open(database):
        pass
    with psycopg.connect(database) as db:
        db.execute("UPDATE meta SET value = %s", (str(SCHEMA_VERSION + 1),))
    for opener in (PostgresState.open, PostgresState.open_read_only):
        with pytest.raises(StateError, match="newer crossposter"):
            opener(database)


def test_processes_starting_at_once_create_the_tables_once(database):
    """Without the migration lock, concurrent CREATE TABLEs fail on one another."""
    from crossposter.state.postgres import PostgresState

    problems = []
    start = threading.Barrier(6)

    def open_and_close():
        start.wait()
        try:
            with PostgresState.open(database, lock_timeout=30):
                pass
        except Exception as error:
            problems.append(error)

    threads = [threading.Thread(target=open_and_close) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert problems == []


def test_a_pending_post_is_committed_before_the_batch_ends(backend):
    """What another process sees the moment before the request goes out."""
    with backend.open() as state, state.batch():
        state.mark_seen("blog", [make_entry(2)])
        state.mark_pending("blog", make_entry(1), "key-1", Toot(text="t"), account="default")
        with backend.open_read_only() as other:
            assert [post.idempotency_key for post in other.pending("blog")] == ["key-1"]
            assert other.known_ids("blog") == {"id-1", "id-2"}


def test_the_preview_copy_takes_no_lock_and_writes_nothing(backend):
    with backend.open() as state:
        state.record_fetch("blog", "u", "ok")
        state.save_settings_fingerprint("blog", "f1")
        with state.preview_copy() as copy:
            copy.mark_seen("blog", [make_entry(1)])
            assert copy.settings_fingerprints() == {"blog": "f1"}
            assert copy.feed("blog").url == "u"
        assert state.known_ids("blog") == set()
    with backend.open() as state, backend.open_read_only() as view, view.preview_copy() as copy:
        # Held by a run, and yet a preview opens.
        copy.mark_seen("blog", [make_entry(1)])
        assert state.known_ids("blog") == set()


def test_two_connections_claiming_the_same_links_at_once_win_each_exactly_once(database):
    """Two processes carrying one link: the primary key, not a look before the write,
    decides, so each link is announced once."""
    import psycopg

    from crossposter.state.postgres import PostgresState

    links = [f"https://b.example/{n}" for n in range(200)]
    start = threading.Barrier(2)
    won: dict[str, list[bool]] = {"a": [], "b": []}

    def claim_all(feed: str) -> None:
        # A state of its own, as another process has: its own server session.
        with PostgresState(
            psycopg.connect(database, autocommit=True), database, read_only=False
        ) as state:
            start.wait()
            won[feed] = [
                state.mark_pending(
                    feed, make_entry(n, link=link), f"{feed}-{n}", Toot(text="t"), account="home"
                )
                is not None
                for n, link in enumerate(links)
            ]

    with PostgresState.open(database):  # creates the tables
        pass
    threads = [threading.Thread(target=claim_all, args=(feed,)) for feed in won]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a + b for a, b in zip(won["a"], won["b"], strict=True)] == [1] * len(links)


def test_a_database_of_version_1_is_upgraded_with_its_links_and_toots(database):
    """What the first PostgreSQL backend wrote: no links, no lifecycle columns."""
    import psycopg

    from crossposter.state.postgres import MIGRATIONS, SCHEMA_VERSION, PostgresState

    with psycopg.connect(database, autocommit=True) as db:
        db.execute("CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL)")
        db.execute(MIGRATIONS[0])
        db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        for n, status, toot_id in ((1, "seen", None), (2, "posted", "2"), (3, "pending", None)):
            db.execute(
                "INSERT INTO entries (feed, entry_id, status, link, first_seen, last_seen, "
                "toot_id, updated) VALUES ('blog', %s, %s, %s, now(), now(), %s, "
                "'2026-11-01T09:00:00Z')",
                (f"id-{n}", status, f"https://B.example/{n}#top", toot_id),
            )
    links = [f"https://b.example/{n}" for n in (1, 2, 3)]
    # A preview reads it as it is: its copy is brought up to date, the database is not.
    with PostgresState.open_read_only(database) as view, view.preview_copy() as copy:
        assert copy.announced_links("default", links) == set(links[1:])
        assert view.schema_version() == 1
    with PostgresState.open(database) as state:
        assert state.schema_version() == SCHEMA_VERSION
        assert state.announced_links("default", links) == set(links[1:])
        [announced] = state.announced()
        assert announced.posted_at.isoformat() == "2026-11-01T09:00:00+00:00"
        assert state.mark_retracted("blog", "id-2")
        assert state.export_data()["version"] == EXPORT_VERSION


# -- errors: temporary (75) or a person's (2) --------------------------------------


def test_a_connection_the_server_ends_is_a_temporary_state_error(database):
    from crossposter.state.postgres import PostgresState

    with PostgresState.open(database) as state:
        state.record_fetch("blog", "u", "ok")
        end_every_session(database)
        with pytest.raises(TemporaryStateError, match="next run carries on"):
            state.mark_pending("blog", make_entry(1), "k", Toot(text="t"), account="default")
        with pytest.raises(TemporaryStateError):
            state.feeds()


def test_a_batch_whose_server_goes_away_ends_in_a_temporary_state_error(database):
    from crossposter.state.postgres import PostgresState

    with (
        PostgresState.open(database) as state,
        pytest.raises(TemporaryStateError),
        state.batch(),
    ):
        state.mark_seen("blog", [make_entry(1)])
        end_every_session(database)
    with PostgresState.open(database) as state:
        assert state.known_ids("blog") == set()


def test_an_unreachable_database_at_start_is_temporary_and_exits_75(tmp_path, capsys):
    from support.postgres import _free_loopback_port

    url = f"postgresql://u:Sw0rdf1sh@127.0.0.1:{_free_loopback_port()}/crossposter"
    config = tmp_path / "feeds.yaml"
    config.write_text(
        f"instance: https://m.example\nstate_url: '{url}'\nfeeds: []\n", encoding="utf-8"
    )
    with pytest.raises(TemporaryStateError):
        open_state(load_settings(config))
    assert main(["state", "feeds", "--config", str(config)]) == 75
    assert "Sw0rdf1sh" not in capsys.readouterr().err


def test_a_table_dropped_by_hand_is_a_state_error_for_a_person(database, capsys):
    import psycopg

    from crossposter.state.postgres import PostgresState

    with PostgresState.open(database) as state:
        with psycopg.connect(database, autocommit=True) as admin:
            admin.execute("DROP TABLE announced_links")
        with pytest.raises(StateError, match="announced_links") as raised:
            state.mark_pending(
                "blog", make_entry(1), "k", Toot(text="t"), account="home"
            )
        assert not raised.value.temporary


def test_a_user_without_rights_on_the_tables_exits_2_saying_permission_denied(
    tmp_path, postgres_server, database, capsys
):
    import psycopg

    from crossposter.state.postgres import PostgresState

    with PostgresState.open(database):  # the tables, owned by the server's user
        pass
    role = "reader_" + database.rsplit("/", 1)[1]
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'r3ader'")
    url = (
        f"postgresql://{role}:r3ader@{postgres_server.host}:{postgres_server.port}/"
        + (database.rsplit("/", 1)[1])
    )
    config = tmp_path / "feeds.yaml"
    config.write_text(
        f"instance: https://m.example\nstate_url: '{url}'\nfeeds: []\n", encoding="utf-8"
    )
    with pytest.raises(StateError, match="permission denied") as raised:
        open_state(load_settings(config))
    assert not raised.value.temporary
    assert main(["state", "feeds", "--config", str(config)]) == 2
    assert "permission denied" in capsys.readouterr().err


# -- moving between backends -----------------------------------------------------


def test_an_export_moves_to_the_other_backend_and_back_unchanged(tmp_path, database):
    from crossposter.state.postgres import PostgresState

    toot = Toot(text="Héllo «x»", language="fr", hashtags=("#a",), length=9, limit=500)
    with SqliteState.open(tmp_path / "s.sqlite3") as state:
        state.record_fetch("blog", "https://b.example/feed", "ok", parsed_at=None)
        state.mark_seen("blog", [make_entry(n) for n in (3, 1, 2)])
        state.mark_filtered("blog", [(make_entry(4), "exclude: title")])
        state.mark_pending("blog", make_entry(5), "key-5", toot, account="default")
        state.mark_failed("blog", "id-2", "too long")
        state.save_limits("https://m.example", InstanceLimits(5000, 23, "api/v2/instance"))
        # What a toot's later life writes: every table and column an export carries.
        for n in (6, 7):
            state.mark_pending("blog", make_entry(n), f"key-{n}", toot, account="default")
            state.mark_posted(
                "blog",
                f"id-{n}",
                Posted(id=f"{n}", url=f"https://m.example/@me/{n}"),
                account="default",
                instance="https://m.example",
            )
        state.save_replies("blog", "id-6", [{"id": "r1", "content": "Merci «!»"}])
        state.mark_edit_pending("blog", "id-6", toot, Article.of(make_entry(6, title="New")))
        state.record_check("blog", "id-6", now_utc(), gone=True)
        state.record_deletion("default", now_utc())
        state.mark_retracted("blog", "id-7", "retract")
        state.claim_hook("blog", "id-7", "retracted", "1")
        state.save_card("blog", "id-6", False)
        state.claim_card_warning("blog")
        state.record_unused_uploads("https://m.example", "default", ["8"])
        state.save_account_profile(
            "https://m.example", "default", AccountProfile("Jean «JF»", "jf@m.example")
        )
        exported = state.export_data()
    assert all(exported[table] for table in EXPORTED_TABLES)
    with PostgresState.open(database) as state:
        state.replace_with(exported)
        assert [post.toot for post in state.pending("blog")] == [toot]
        again = state.export_data()
    back = tmp_path / "back.sqlite3"
    with SqliteState.open(back) as state:
        state.replace_with(again)
        third = state.export_data()
    for document in (exported, again, third):
        del document["exported_at"]
    assert again == exported
    assert third == exported


def test_moving_from_sqlite_to_postgresql_with_the_state_commands(
    tmp_path, api, feeds, token, database, capsys
):
    feeds.set_feed("/feed", feed_of(1))
    old = blog_config(tmp_path / "old", api, feeds, state_file="state.sqlite3")
    assert main(["run", "--config", old]) == 0
    feeds.set_feed("/feed", feed_of(1, 2))
    assert main(["run", "--config", old]) == 0
    assert len(api.statuses) == 1
    backup = tmp_path / "backup.json"
    assert main(["state", "export", str(backup), "--config", old]) == 0

    new = blog_config(tmp_path / "new", api, feeds, state_url=database)
    assert main(["state", "import", str(backup), "--config", new]) == 0
    capsys.readouterr()
    assert main(["state", "export", "--config", new]) == 0
    moved = json.loads(capsys.readouterr().out)
    original = json.loads(backup.read_text(encoding="utf-8"))
    del moved["exported_at"], original["exported_at"]
    assert moved == original
    assert main(["run", "--config", new]) == 0
    assert len(api.statuses) == 1, "nothing announced twice after the move"


# -- runs on PostgreSQL ------------------------------------------------------------


def test_a_run_on_postgresql_announces_a_new_article_exactly_once(
    tmp_path, api, feeds, token, database
):
    feeds.set_feed("/feed", feed_of(1))
    config = blog_config(tmp_path, api, feeds, state_url=database)
    assert main(["run", "--config", config]) == 0
    assert api.statuses == []
    feeds.set_feed("/feed", feed_of(1, 2))
    assert main(["run", "--dry-run", "--config", config]) == 0
    assert api.statuses == []
    assert main(["run", "--config", config]) == 0
    assert main(["run", "--config", config]) == 0
    assert len(api.statuses) == 1
    assert "https://blog.example.org/2/" in api.statuses[0]["text"]
    with open_read_only(load_settings(config)) as state:
        assert state.status_counts("blog") == {"seen": 1, "posted": 1}


def test_a_lost_answer_is_retried_with_the_same_key_on_postgresql(
    tmp_path, api, feeds, token, database
):
    feeds.set_feed("/feed", feed_of(1))
    config = blog_config(tmp_path, api, feeds, state_url=database)
    assert main(["run", "--config", config]) == 0
    feeds.set_feed("/feed", feed_of(1, 2))
    api.fail_next("POST", "/api/v1/statuses", "drop_after_create")
    assert main(["run", "--config", config]) == 0
    assert main(["run", "--config", config]) == 0
    assert len(api.statuses) == 1


# -- the password is never shown ------------------------------------------------------


@pytest.fixture
def role_with_password(postgres_server, database):
    """A role with a password, owner of the test's database; the server checks it
    (scram-sha-256), given in the URL or in PGPASSWORD."""
    import psycopg

    role = "crossposter_" + database.rsplit("/", 1)[1]
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'Sw0rdf1sh-42'")
        admin.execute(f'ALTER DATABASE "{database.rsplit("/", 1)[1]}" OWNER TO {role}')
    with psycopg.connect(database, autocommit=True) as db:
        db.execute(f"GRANT ALL ON SCHEMA public TO {role}")
    host = f"{postgres_server.host}:{postgres_server.port}"
    return role, host, database.rsplit("/", 1)[1], "Sw0rdf1sh-42"


@pytest.mark.parametrize("where", ["url", "PGPASSWORD"])
def test_the_password_never_appears_in_check_state_or_logs(
    tmp_path, api, feeds, token, role_with_password, monkeypatch, capsys, caplog, where
):
    role, host, name, password = role_with_password
    if where == "url":
        url = f"postgresql://{role}:{password}@{host}/{name}"
    else:
        monkeypatch.setenv("PGPASSWORD", password)
        url = f"postgresql://{role}@{host}/{name}"
    feeds.set_feed("/feed", feed_of(1, link=feeds.url("/{n}/")))
    config = blog_config(tmp_path, api, feeds, state_url=url)
    broken = blog_config(tmp_path / "broken", api, feeds, state_url=url + "_missing")
    commands = [
        ["run", "-v", "--config", config],
        ["check", "--config", config],
        ["state", "feeds", "--config", config],
        ["state", "entries", "--config", config],
        ["check", "--config", broken],
        ["run", "--config", broken],
        ["state", "feeds", "--config", broken],
    ]
    for command in commands:
        main(command)
    out = capsys.readouterr()
    shown = out.out + out.err + caplog.text
    assert f"{role}:***@{host}/{name}" in shown or f"{role}@{host}/{name}" in shown
    assert "1 feed known" in shown and "_missing" in shown
    assert password not in shown


def test_without_the_driver_a_state_url_says_which_extra_to_install(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.delitem(sys.modules, "crossposter.state.postgres", raising=False)
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "instance: https://m.example\nstate_url: postgresql://u:pw@db.example/x\n",
        encoding="utf-8",
    )
    with pytest.raises(StateError, match="the postgres extra") as raised:
        open_read_only(load_settings(config))
    # On PyPI, `crossposter` is another project: never advise installing it.
    assert "crossposter[postgres]" not in str(raised.value)
