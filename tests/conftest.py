"""Every test runs in its own empty folder, with no CROSSPOSTER_* variable and
no real user's home: a test can never read or write a person's config or state."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from support.blog import TOKEN
from support.feed_server import FeedServer
from support.mastodon_api import MastodonAPI

# Real feeds from other feed parsers' test suites; tests/corpus/SOURCES.md says whence.
CORPUS = Path(__file__).resolve().parent / "corpus"
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


@pytest.fixture(autouse=True)
def no_internet(monkeypatch):
    """Only loopback may be reached: a test that tries anything else fails loudly."""
    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not (
            host.startswith("127.") or host in ("::1", "localhost") or self.family == socket.AF_UNIX
        ):
            raise OSError(f"test tried to reach {address!r}; tests use loopback only")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


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
