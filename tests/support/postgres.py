"""A real, throw-away PostgreSQL server for the tests: Debian's `postgresql` package, no mock.

The server refuses to run as root, and pytest's temporary folders are mode 0700 under
root, so the cluster lives in a `mkdtemp` folder handed to the `postgres` user and is
started through `runuser` when the tests run as root. It listens on a free loopback port,
with its socket in that folder, and is stopped (and the folder removed) at the end.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HOW_TO_GET_IT = (
    "PostgreSQL is not installed: `apt-get install postgresql` (Debian's package; "
    "`.ci/run` installs it), and the project with `pip install -e '.[test,postgres]'`"
)


# The superuser's password: connections over TCP authenticate with it (scram-sha-256), so
# a wrong password is refused as by a real server, not waved through as with `trust`.
PASSWORD = "tests-Sw0rdf1sh"


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    folder: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}:{PASSWORD}@{self.host}:{self.port}/{database}"


def postgres_binaries() -> Path | None:
    """The newest `/usr/lib/postgresql/<version>/bin` holding initdb: not on PATH on Debian."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else None


def why_unavailable() -> str | None:
    """Why these tests cannot run here, or None when they can."""
    if postgres_binaries() is None:
        return HOW_TO_GET_IT
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return HOW_TO_GET_IT
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, and there is no `postgres` user to run the server as"
    return None


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    binaries = postgres_binaries()
    assert binaries is not None, HOW_TO_GET_IT
    folder = Path(tempfile.mkdtemp(prefix="crossposter-pg-"))
    user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    data = folder / "data"
    password_file = folder / "password"
    password_file.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        os.chown(password_file, entry.pw_uid, entry.pw_gid)
    port = _free_loopback_port()
    run = dict(check=True, capture_output=True, text=True, timeout=120)
    subprocess.run(
        _as_server_user(
            [
                str(binaries / "initdb"),
                *("-D", str(data), "-U", user, "-E", "UTF8"),
                # Over TCP, as crossposter connects, a password is asked for and checked.
                *("--auth-host=scram-sha-256", "--auth-local=trust"),
                f"--pwfile={password_file}",
            ]
        ),
        **run,
    )
    options = f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off -c full_page_writes=off"
    subprocess.run(
        _as_server_user(
            [
                str(binaries / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(folder / "server.log"),
                "-w",
                "start",
            ]
        ),
        **run,
    )
    try:
        yield PostgresServer(host="127.0.0.1", port=port, user=user, folder=folder)
    finally:
        subprocess.run(
            _as_server_user(
                [str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
            ),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(folder, ignore_errors=True)


def fresh_database(server: PostgresServer, name: str) -> str:
    """A new, empty database on `server`; its URL."""
    import psycopg

    with psycopg.connect(server.url(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    return server.url(name)


def end_every_session(database: str) -> None:
    """The server ends every session on `database`, as when an administrator restarts it."""
    import psycopg

    with psycopg.connect(database, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
