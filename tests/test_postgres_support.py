"""The PostgreSQL the tests use is a real server: a throw-away cluster on loopback."""

from __future__ import annotations

import uuid

import pytest

from support.postgres import PASSWORD, fresh_database


def test_a_fresh_database_on_the_throw_away_server_takes_writes(postgres_server):
    import psycopg

    url = fresh_database(postgres_server, f"t_{uuid.uuid4().hex[:12]}")
    assert url.startswith(f"postgresql://{postgres_server.user}:{PASSWORD}@127.0.0.1:")
    with psycopg.connect(url) as db:
        db.execute("CREATE TABLE probe (n integer)")
        db.execute("INSERT INTO probe VALUES (41), (1)")
        (total,) = db.execute("SELECT sum(n) FROM probe").fetchone()
        (version,) = db.execute("SHOW server_version").fetchone()
    assert total == 42
    assert int(version.split(".")[0]) >= 13


def test_the_server_checks_passwords(postgres_server):
    import psycopg

    wrong = postgres_server.url().replace(f":{PASSWORD}@", ":not-the-password@")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong).close()


def test_the_server_listens_on_loopback_only(postgres_server):
    import psycopg

    with psycopg.connect(postgres_server.url()) as db:
        (addresses,) = db.execute("SHOW listen_addresses").fetchone()
    assert addresses == "127.0.0.1"
