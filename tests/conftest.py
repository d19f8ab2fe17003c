"""Every test runs in its own empty folder, with no CROSSPOSTER_* variable and
no real user's home: a test can never read or write a person's config or state."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from crossposter.state import SqliteState, State

from support.blog import TOKEN, feed_of
from support.feed_server import FeedServer
from support.mastodon_api import MastodonAPI
from support.no_internet import NoInternet

# Real feeds from other feed parsers' test suites; tests/corpus/SOURCES.md says whence.
CORPUS = Path(__file__).resolve().parent / "corpus"
CHILD_GUARD = Path(__file__).resolve().parent / "support" / "child_guard"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("CROSSPOSTER_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "refused_lookup(*hosts): the test expects these names to be looked up and refused "
        "(no_internet answers them as unresolvable without failing the test)",
    )


@pytest.fixture(autouse=True)
def no_internet(request, monkeypatch, tmp_path):
    """Only loopback may be reached, or even looked up (support.no_internet): a lookup of
    another name fails as an unknown name would, and then fails the test at teardown, unless
    a `refused_lookup` marker names it."""
    guard = NoInternet()
    guard.install(monkeypatch.setattr)
    # The Python processes the test starts are guarded too (support/child_guard).
    children_refused = tmp_path / "no-internet-refused-by-children"
    monkeypatch.setenv("NO_INTERNET_REFUSED", str(children_refused))
    paths = [str(CHILD_GUARD), os.environ.get("PYTHONPATH")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, paths)))
    expected = [
        str(host) for marker in request.node.iter_markers("refused_lookup") for host in marker.args
    ]
    yield
    if children_refused.exists():
        guard.refused += children_refused.read_text(encoding="utf-8").split()
    unexpected = guard.unexpected(expected)
    assert not unexpected, (
        f"the test looked up {unexpected} in DNS; use loopback URLs, an injected resolver "
        "(crossposter.net.public.AddressPolicy), or mark it refused_lookup(...)"
    )
    never_tried = guard.never_tried(expected)
    assert not never_tried, f"refused_lookup{tuple(never_tried)}, but it was never looked up"


def corpus_files() -> list[Path]:
    """The feeds of tests/corpus; their absence fails the tests that read them."""
    files = sorted(CORPUS.glob("*")) if CORPUS.is_dir() else []
    feeds = [path for path in files if path.suffix in (".xml", ".rss", ".atom")]
    if not feeds:
        raise FileNotFoundError(f"the feed corpus is missing: no feed in {CORPUS}")
    return feeds


@pytest.fixture
def api():
    """A loopback Mastodon API (support.mastodon_api) that accepts TOKEN."""
    with MastodonAPI() as server:
        yield server


@pytest.fixture
def feeds():
    """A loopback web server for feeds (support.feed_server)."""
    with FeedServer() as server:
        yield server


# The smallest bytes an image check takes for a PNG.
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(200)


@pytest.fixture
def internal(feeds):
    """A server on 127.0.0.2, on the feed server's port, standing for an admin page or a
    cloud metadata endpoint: a "secret" image and a feed nothing public may lead to."""
    server = FeedServer()
    server.host = "127.0.0.2"
    server.port = feeds.port
    with server:
        server.set_feed("/secret.png", PNG, content_type="image/png")
        server.set_feed("/feed", feed_of(666))
        yield server


@pytest.fixture
def token(monkeypatch):
    """TOKEN in CROSSPOSTER_ACCESS_TOKEN, as a user exports it."""
    monkeypatch.setenv("CROSSPOSTER_ACCESS_TOKEN", TOKEN)
    return TOKEN


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for the whole session (support.postgres), or a skip that
    says how to get one."""
    from support.postgres import running_postgres, why_unavailable

    reason = why_unavailable()
    if reason:
        pytest.skip(reason)
    with running_postgres() as server:
        yield server


@dataclass(frozen=True)
class Backend:
    """Where one test keeps its state: a SQLite file, or a fresh PostgreSQL database."""

    name: str
    location: str

    @property
    def settings(self) -> dict[str, str | None]:
        """support.blog.write_config's keywords that point a run at this state."""
        key = "state_url" if self.name == "postgres" else "state_file"
        return {"state_file": None, key: f"'{self.location}'"}

    def open(self, *, lock_timeout: float = 0.0) -> State:
        if self.name == "postgres":
            from crossposter.state.postgres import PostgresState

            return PostgresState.open(self.location, lock_timeout=lock_timeout)
        return SqliteState.open(self.location, lock_timeout=lock_timeout)

    def open_read_only(self) -> State:
        if self.name == "postgres":
            from crossposter.state.postgres import PostgresState

            return PostgresState.open_read_only(self.location)
        return SqliteState.open_read_only(self.location)


def postgres_database(request) -> str:
    """A new empty database on the session's server, for this test alone."""
    from support.postgres import fresh_database

    server = request.getfixturevalue("postgres_server")
    return fresh_database(server, f"t_{uuid.uuid4().hex[:16]}")


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, tmp_path) -> Backend:
    """Each test using it runs twice: on a SQLite file and on a PostgreSQL database."""
    if request.param == "postgres":
        return Backend("postgres", postgres_database(request))
    return Backend("sqlite", str(tmp_path / "state.sqlite3"))


@pytest.fixture
def any_state(backend) -> Iterator[State]:
    """An opened, empty state on each backend in turn."""
    with backend.open() as state:
        yield state
