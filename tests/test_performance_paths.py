"""The structures behind the benchmark's numbers: per-host limits and batched state writes.

These check behaviour, never time: the timings live in BENCHMARKS.md.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from crossposter.feeds.fetch import FetchOptions, FetchRequest, fetch_all
from crossposter.models import Entry, Posted, Toot
from crossposter.state import SqliteState

from support.feed_server import FeedServer, InFlight
from support.feeds import rss

FEED = rss([{"title": "Hello", "link": "https://b.example/1"}])


def test_feeds_on_one_host_share_its_few_connections():
    with FeedServer() as server:
        server.set_feed("/feed", FEED)
        probe = InFlight(server, hold=lambda: server.sleep(0.05))
        requests = [FetchRequest(f"f{i}", server.url("/feed")) for i in range(8)]
        results = fetch_all(requests, FetchOptions(workers=8, per_host=2))
    assert [r.name for r in results] == [f"f{i}" for i in range(8)]
    assert all(r.error is None for r in results)
    assert probe.peak == 2


def _outside(path) -> sqlite3.Connection:
    return sqlite3.connect(path, timeout=0)


def test_a_batch_commits_its_writes_together_at_its_end(tmp_path):
    path = tmp_path / "state.sqlite3"
    with SqliteState.open(path) as state:
        with state.batch():
            state.record_fetch("blog", "https://b.example/feed", "not modified")
            state.mark_seen("blog", [Entry(id="a", link=None, title="A")])
        assert state.known_ids("blog") == {"a"}
    with SqliteState.open(path) as state:
        assert state.feed("blog").last_result == "not modified"


def test_a_write_guarding_a_post_reaches_the_disk_inside_a_batch(tmp_path):
    path = tmp_path / "state.sqlite3"
    toot = Toot(text="Hi https://b.example/1", length=25, limit=500)
    with SqliteState.open(path) as state, state.batch():
        state.record_fetch("blog", "https://b.example/feed", "ok")
        entry = Entry(id="a", link="https://b.example/1", title="A")
        state.mark_pending("blog", entry, "k", toot, account="default")
        # Another process (a crash here) already sees the pending post and what came before.
        with _outside(path) as other:
            rows = other.execute("SELECT entry_id, status FROM entries").fetchall()
        assert rows == [("a", "pending")]
        state.mark_posted("blog", "a", Posted(id="1", url=None))
        with _outside(path) as other:
            assert other.execute("SELECT status FROM entries").fetchone() == ("posted",)


def test_a_failed_write_inside_a_batch_keeps_the_others(tmp_path):
    path = tmp_path / "state.sqlite3"
    with SqliteState.open(path) as state:
        try:
            with state.batch():
                state.record_fetch("blog", "https://b.example/feed", "ok")
                raise RuntimeError("a bug")
        except RuntimeError:
            pass
    with SqliteState.open(path) as state:
        assert state.feed("blog") is not None


def test_nothing_heavy_is_imported_before_a_feed_needs_parsing_or_a_toot_posting():
    # A run whose feeds all answer 304 parses no HTML or feed and posts nothing.
    code = (
        "import sys, crossposter.cli, crossposter.config, crossposter.pipeline\n"
        "print(' '.join(m for m in ('bs4', 'feedparser', 'mastodon', 'py3langid', 'numpy',"
        " 'babel') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_a_configuration_with_a_named_date_loads_without_babel_language_detection_or_regex(
    tmp_path,
):
    # The template is checked at load; month names are only needed to compose a toot.
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "instance: https://mastodon.example\n"
        "defaults:\n  template: '{title} ({published:%-d %B %Y}) {url}'\n"
        "feeds:\n  - {name: blog, url: https://blog.example/feed/}\n",
        encoding="utf-8",
    )
    code = (
        "import sys\n"
        "from crossposter.config import load_settings\n"
        f"load_settings({str(path)!r}).feeds[0]\n"
        "print(' '.join(m for m in ('py3langid', 'numpy', 'babel', 'regex') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_the_http_server_and_prometheus_client_load_only_with_listen():
    # Every run but `run --loop --listen` (a cron job, `health`, a preview) goes without.
    code = (
        "import sys, crossposter.cli, crossposter.cli.run, crossposter.loop, crossposter.pipeline\n"
        "import crossposter.poll_requests, crossposter.listen.address\n"
        "print(' '.join(m for m in ('cheroot', 'prometheus_client') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
