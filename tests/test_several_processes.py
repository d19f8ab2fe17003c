"""Several crossposter processes on one PostgreSQL state: each feed worked on by one at a
time (a lease), a dead one's feeds taken over, a 429 seen by all. Each run here is a real
`python -m crossposter run` process, against the loopback Mastodon API and feed server."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import psycopg
import pytest

from crossposter.cli import main
from crossposter.config import load_settings
from crossposter.pipeline import run
from crossposter.state import SqliteState, now_utc

from conftest import PNG
from support.blog import feed_of, write_config
from support.mastodon_api import MastodonAPI

# Every run and wait here ends within this many seconds, or the test fails.
BOUND = 60


@pytest.fixture
def database(request) -> str:
    from support.postgres import fresh_database

    server = request.getfixturevalue("postgres_server")
    return fresh_database(server, f"t_{uuid.uuid4().hex[:16]}")


def config_of(
    tmp_path, api, feeds, names: list[str], database: str, name="feeds", options="", **settings
):
    """A configuration of the feeds `names` (served at /NAME), state in `database`; each
    feed announces all its new entries at once, with the feed keys `options` (", key: value")."""
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    listed = "\n".join(
        f"- {{name: {n}, url: '{feeds.url('/' + n)}', max_posts_per_run: 100, "
        f"flood_threshold: 0{options}}}"
        for n in names
    )
    return write_config(
        folder,
        api,
        listed,
        state_file=None,
        state_url=f"'{database}'",
        post_retry_seconds=2,
        request_timeout=60,
        **settings,
    )


def start_run(config: str, *extra: str, worker: str | None = None) -> subprocess.Popen:
    env = os.environ.copy()
    if worker:
        env["CROSSPOSTER_WORKER_ID"] = worker
    return subprocess.Popen(
        [sys.executable, "-m", "crossposter", "run", "--config", config, *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen) -> int:
    return outcome(process)[0]


def outcome(process: subprocess.Popen) -> tuple[int, str]:
    """How a run ended: its exit code and its log."""
    try:
        _, log = process.communicate(timeout=BOUND)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail("a run did not end in time")
    return process.returncode, log


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting until {what}")
        time.sleep(0.02)


def links_posted(api) -> Counter:
    """How many statuses name each article link."""
    counts: Counter = Counter()
    for status in api.statuses:
        for word in status["text"].split():
            if word.startswith("https://blog.example.org/"):
                counts[word] += 1
    return counts


def link(n: int) -> str:
    return f"https://blog.example.org/{n}/"


def entry_statuses(database: str) -> Counter:
    with psycopg.connect(database) as db:
        return Counter(status for (status,) in db.execute("SELECT status FROM entries"))


def recorded(database: str, n: int) -> tuple[str, str | None]:
    """Article n's status in the state, and its toot's id."""
    with psycopg.connect(database) as db:
        [row] = db.execute(
            "SELECT status, toot_id FROM entries WHERE link = %s", (link(n),)
        ).fetchall()
    return row


def test_three_processes_with_faults_announce_300_entries_once_each(
    tmp_path, api, feeds, token, database
):
    names = [f"blog{i}" for i in range(6)]
    for i, name in enumerate(names):
        feeds.set_feed(f"/{name}", feed_of(1000 * i))
    # Two feeds leased at a time: the three processes share the six.
    config = config_of(tmp_path, api, feeds, names, database, fetch_workers=2)
    assert main(["run", "--config", config]) == 0  # every feed seen once: nothing announced
    for i, name in enumerate(names):
        feeds.set_feed(f"/{name}", feed_of(1000 * i, *range(1000 * i + 1, 1000 * i + 51)))
    api.status_limit = api.request_limit = 10_000
    api.fail_next("POST", "/api/v1/statuses", "drop_after_create", times=12)
    api.fail_next("POST", "/api/v1/statuses", 502, times=12)

    deadline = time.monotonic() + BOUND
    # Until every post is recorded: a lost answer leaves one pending for a later run.
    while entry_statuses(database)["posted"] < 300 and time.monotonic() < deadline:
        runs = [start_run(config, worker=f"w{n}") for n in range(3)]
        for process in runs:
            assert finish(process) in (0, 75)

    counts = links_posted(api)
    assert len(counts) == 300
    assert set(counts.values()) == {1}
    assert entry_statuses(database)["posted"] == 300


def test_one_link_in_two_feeds_of_one_account_in_two_processes_is_announced_once(
    tmp_path, api, feeds, token, database
):
    feeds.set_feed("/news", feed_of(1))
    feeds.set_feed("/digest", feed_of(1))
    news = config_of(tmp_path, api, feeds, ["news"], database, name="a")
    digest = config_of(tmp_path, api, feeds, ["digest"], database, name="b")
    assert main(["run", "--config", news]) == 0
    assert main(["run", "--config", digest]) == 0
    # The same article, under another id in the digest.
    feeds.set_feed("/news", feed_of(1, 2))
    feeds.set_feed("/digest", feed_of(1, 2, guid="https://digest.example.org/{n}"))

    runs = [start_run(news, worker="news"), start_run(digest, worker="digest")]
    assert [finish(process) for process in runs] == [0, 0]
    assert links_posted(api)[link(2)] == 1


def test_a_killed_process_s_feed_is_taken_over_after_the_lease_timeout(
    tmp_path, api, feeds, token, database
):
    feeds.set_feed("/blog", feed_of(1))
    config = config_of(tmp_path, api, feeds, ["blog"], database, lease_timeout="3s")
    assert main(["run", "--config", config]) == 0
    feeds.set_feed("/blog", feed_of(1, 2, 3, 4))
    # The server creates the first status and holds its answer: the run is mid-post.
    api.fail_next("POST", "/api/v1/statuses", "delay", seconds=60, create=True)
    doomed = start_run(config, worker="doomed")
    wait_until(lambda: len(api.statuses) == 1, "the server created the first status")
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    api.clear_faults()
    killed_at = time.monotonic()

    # Its lease still holds: another process leaves the feed alone.
    assert finish(start_run(config, worker="heir")) == 0
    assert len(api.statuses) == 1
    assert time.monotonic() - killed_at < 3, "the check above came too late to mean anything"

    time.sleep(max(0.0, 3.5 - (time.monotonic() - killed_at)))
    assert finish(start_run(config, worker="heir")) == 0
    counts = links_posted(api)
    assert [counts[link(n)] for n in (2, 3, 4)] == [1, 1, 1]
    assert len(api.statuses) == 3
    assert entry_statuses(database)["pending"] == 0


def test_the_429_of_one_process_stops_the_others_on_that_account(
    tmp_path, api, feeds, token, database
):
    feeds.set_feed("/news", feed_of(1))
    feeds.set_feed("/notes", feed_of(100))
    news = config_of(tmp_path, api, feeds, ["news"], database, name="a")
    notes = config_of(tmp_path, api, feeds, ["notes"], database, name="b")
    assert main(["run", "--config", news]) == 0
    assert main(["run", "--config", notes]) == 0
    feeds.set_feed("/news", feed_of(1, 2))
    feeds.set_feed("/notes", feed_of(100, 101))
    api.fail_next("POST", "/api/v1/statuses", "rate_limit", reset_in=3600)

    assert finish(start_run(news, worker="news")) == 75
    assert finish(start_run(notes, worker="notes")) == 75
    assert api.count("POST", "/api/v1/statuses") == 1, "the other process did not even try"
    assert api.statuses == []


def test_leases_go_to_one_worker_until_released_or_expired(database):
    from crossposter.state.postgres import PostgresState

    minute = timedelta(minutes=1)
    with PostgresState.open(database) as one, PostgresState.open(database) as two:
        assert one.take_leases(["a", "b"], "one", minute) == {"a", "b"}
        assert two.take_leases(["b", "c"], "two", minute) == {"c"}
        assert one.take_leases(["a"], "one", minute) == {"a"}, "a worker's own lease is renewed"
        assert {(lease.feed, lease.worker) for lease in one.leases()} == {
            ("a", "one"),
            ("b", "one"),
            ("c", "two"),
        }
        one.release_leases(["b"], "one")
        assert two.take_leases(["b"], "two", minute) == {"b"}
        assert two.renew_leases(["a", "b"], "two", timedelta(seconds=-1)) == {"b"}
        assert one.take_leases(["b"], "one", minute) == {"b"}, "an expired lease is taken over"


def test_a_loop_pass_polls_only_the_feeds_that_are_due(tmp_path, api, feeds, token):
    feeds.set_feed("/blog", feed_of(1))
    config = write_config(tmp_path, api, f"- {{name: blog, url: '{feeds.url('/blog')}'}}")
    settings = load_settings(config)
    run(settings, poll_interval=900)
    run(settings, poll_interval=900)
    assert feeds.count("GET", "/blog") == 1, "not due again before its interval"
    run(settings)
    assert feeds.count("GET", "/blog") == 2, "a plain run polls every feed"
    with SqliteState.open(tmp_path / "state.sqlite3") as state:
        state.set_next_poll("blog", state.next_polls()["blog"] - timedelta(hours=1))
    run(settings, poll_interval=900)
    assert feeds.count("GET", "/blog") == 3


def test_a_loop_pass_leaves_this_worker_s_heartbeat_in_the_state(
    tmp_path, api, feeds, token, monkeypatch
):
    monkeypatch.setenv("CROSSPOSTER_WORKER_ID", "replica-1")
    feeds.set_feed("/blog", feed_of(1))
    config = write_config(tmp_path, api, f"- {{name: blog, url: '{feeds.url('/blog')}'}}")
    run(load_settings(config), poll_interval=900)
    with SqliteState.open(tmp_path / "state.sqlite3") as state:
        heartbeat = state.heartbeat("replica-1")
        assert state.heartbeat("replica-2") is None
    assert heartbeat.interval_seconds == 900
    assert heartbeat.last_exit_code == 0
    assert heartbeat.last_success_at == heartbeat.last_run_at


# One pass of `run --loop`, in a process of its own, without naming the worker.
LOOP_PASS = (
    "import sys\n"
    "from crossposter.config import load_settings\n"
    "from crossposter.pipeline import run\n"
    "sys.exit(run(load_settings(sys.argv[1]), poll_interval=900).exit_code)\n"
)


@pytest.fixture
def replica_1_passed(tmp_path, api, feeds, token, database, monkeypatch) -> str:
    """A loop pass of worker replica-1 on the state database; its configuration."""
    monkeypatch.setenv("CROSSPOSTER_WORKER_ID", "replica-1")
    feeds.set_feed("/blog", feed_of(1))
    config = config_of(tmp_path, api, feeds, ["blog"], database)
    run(load_settings(config), poll_interval=900)
    return config


def test_health_with_a_state_database_is_the_worker_s_heartbeat_there(
    replica_1_passed, monkeypatch, caplog
):
    assert main(["health", "--config", replica_1_passed]) == 0
    assert "healthy: last successful pass" in caplog.text

    monkeypatch.setenv("CROSSPOSTER_WORKER_ID", "replica-2")
    assert main(["health", "--config", replica_1_passed]) == 1
    assert "no heartbeat of worker replica-2 in the state database" in caplog.text


def test_health_without_a_worker_id_finds_the_unnamed_loop_of_its_host(
    tmp_path, api, feeds, token, database, caplog
):
    # The loop is named host-pid by default; the health check is another process.
    feeds.set_feed("/blog", feed_of(1))
    config = config_of(tmp_path, api, feeds, ["blog"], database)
    loop = subprocess.run(
        [sys.executable, "-c", LOOP_PASS, config],
        env={k: v for k, v in os.environ.items() if k != "CROSSPOSTER_WORKER_ID"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert loop.returncode == 0, loop.stderr
    assert main(["health", "--config", config]) == 0
    assert "healthy: last successful pass" in caplog.text


def test_a_worker_whose_last_success_is_older_than_twice_its_interval_is_unhealthy(
    replica_1_passed, database, caplog
):
    from crossposter.state.postgres import PostgresState

    with PostgresState.open(database) as state:
        beat = state.heartbeat("replica-1")
        an_hour_ago = beat.last_run_at - timedelta(hours=1)
        stalled = replace(beat, last_run_at=an_hour_ago, last_success_at=an_hour_ago)
        state.record_heartbeat("replica-1", stalled)
    assert main(["health", "--config", replica_1_passed]) == 1
    assert "unhealthy: last successful pass 1 h" in caplog.text
    assert "more than 30 min" in caplog.text
    assert main(["health", "--max-age", "2h", "--config", replica_1_passed]) == 0


def test_each_configuration_s_links_file_lists_every_feed_of_the_database(
    tmp_path, api, feeds, token, database, capsys
):
    feeds.set_feed("/news", feed_of(1))
    feeds.set_feed("/notes", feed_of(1, link="https://notes.example.org/{n}/", guid="n{n}"))
    news = config_of(tmp_path, api, feeds, ["news"], database, name="a", links_file="toots.json")
    notes = config_of(tmp_path, api, feeds, ["notes"], database, name="b", links_file="toots.json")
    for config in (news, notes):
        assert main(["run", "--config", config]) == 0
    feeds.set_feed("/news", feed_of(1, 2))
    feeds.set_feed("/notes", feed_of(1, 2, link="https://notes.example.org/{n}/", guid="n{n}"))

    assert main(["run", "--config", news]) == 0
    assert main(["run", "--config", notes]) == 0
    # Nothing new for news: its run writes its file again all the same, from the whole database.
    assert main(["run", "--config", news]) == 0

    both = {link(2), "https://notes.example.org/2/"}
    for folder in ("a", "b"):
        listed = json.loads((tmp_path / folder / "toots.json").read_text(encoding="utf-8"))
        assert set(listed) == both, folder
    capsys.readouterr()
    assert main(["links", "--config", news]) == 0
    assert set(json.loads(capsys.readouterr().out)) == both


# -- a replica stalled past its lease ------------------------------------------------------

# The lease_timeout of these tests, in seconds.
LEASE = 1.0
LOST = "this process (stalled) no longer holds its lease"


def stalled_past_its_lease(database: str, config: str, held, taken_over) -> tuple[str, str]:
    """Replica "stalled" runs, and is frozen (SIGSTOP: its lease renewer too, as a paused
    VM or container) once `held()` says it waits on the answer the test slowed down. Past
    its lease, replica "heir" runs; once `taken_over()` says the heir has the feed, the
    stalled one goes on. The log of each, once both ended: the stalled one's with 75 and
    the lost lease, the heir's with 0."""
    stalled = start_run(config, worker="stalled")
    try:
        wait_until(held, "the stalled replica waited on the slow answer")
        stalled.send_signal(signal.SIGSTOP)
        time.sleep(LEASE + 0.5)
        heir = start_run(config, worker="heir")
        wait_until(taken_over, "the heir took the feed over")
    finally:
        stalled.send_signal(signal.SIGCONT)
    stalled_code, stalled_log = outcome(stalled)
    heir_code, heir_log = outcome(heir)
    assert (stalled_code, heir_code) == (75, 0), stalled_log + heir_log
    assert LOST in stalled_log
    # The feed did not fail: it changed hands. Nothing counts toward alert_after, and the
    # heir does not say it "recovered".
    assert re.search(r"feed \S+: recovered", heir_log) is None, heir_log
    with psycopg.connect(database) as db:
        assert db.execute("SELECT name FROM failures WHERE kind = 'feed'").fetchall() == []
    return stalled_log, heir_log


def fetched(feeds, times: int):
    """A condition: the feed asked for `times` times in all. A run asks for it once it holds
    its lease; the stalled one's uncommitted writes to the feed then hold the heir up until
    the stalled one goes on."""
    return lambda: feeds.count("GET", "/blog") == times


def test_a_replica_stalled_past_its_lease_leaves_the_new_entry_to_its_heir(
    tmp_path, api, feeds, token, database
):
    feeds.set_feed("/blog", feed_of(1))
    config = config_of(tmp_path, api, feeds, ["blog"], database, lease_timeout=LEASE)
    assert main(["run", "--config", config]) == 0  # nothing announced: limits not asked yet
    feeds.set_feed("/blog", feed_of(1, 2))
    # A run asks the instance's limits before its first post: there the stalled one waits.
    api.fail_next("GET", "/api/v2/instance", "delay", seconds=LEASE, create=True)
    # Each POST a new status, as when a stall outlasts Mastodon's idempotency hour.
    api.idempotency_window = 0

    stalled_log, heir_log = stalled_past_its_lease(
        database, config, lambda: api.count("GET", "/api/v2/instance") == 1, fetched(feeds, 3)
    )
    assert api.count("POST", "/api/v1/statuses") == 1
    [status] = api.statuses
    assert "announced 'Article 2'" in heir_log and "announced" not in stalled_log
    assert recorded(database, 2) == ("posted", status["id"])


def test_a_replica_stalled_past_its_lease_drops_the_image_it_uploaded_for_the_heirs_post(
    tmp_path, api_4_4, feeds, token, database
):
    api = api_4_4
    feeds.set_feed("/a.png", PNG, content_type="image/png")
    feeds.set_feed("/blog", feed_of(1))
    config = config_of(
        tmp_path, api, feeds, ["blog"], database, options=", image: true",
        lease_timeout=LEASE, allow_private_urls_in_feeds=True,
    )  # fmt: skip
    assert main(["run", "--config", config]) == 0
    feeds.set_feed("/blog", feed_of(1, 2, enclosure={"url": feeds.url("/a.png")}))
    # The stalled one waits on the limits, then uploads the image before its lease is found lost.
    api.fail_next("GET", "/api/v2/instance", "delay", seconds=LEASE, create=True)

    stalled_past_its_lease(
        database, config, lambda: api.count("GET", "/api/v2/instance") == 1, fetched(feeds, 3)
    )
    [status] = api.statuses
    assert api.count("POST", "/api/v2/media") == 2, "the heir's and the stalled one's"
    assert set(api.media) == set(status["media_ids"]), "the stalled one's upload deleted"


def test_a_replica_stalled_past_its_lease_deletes_no_toot(tmp_path, api, feeds, token, database):
    on_site = feeds.url("/{n}/")  # each article's link: 404 unless served
    feeds.set_feed("/", "<html>home</html>", content_type="text/html")

    def publish(*numbers: int) -> None:
        # No validators: every run reads the feed.
        feeds.set_feed("/blog", feed_of(*numbers, link=on_site), etag=False, last_modified=False)

    publish(1)
    config = config_of(
        tmp_path, api, feeds, ["blog"], database,
        options=", on_remove: delete", lease_timeout=LEASE, allow_private_urls_in_feeds=True,
    )  # fmt: skip
    settings = load_settings(config)
    assert run(settings).exit_code == 0
    publish(1, 2)
    assert run(settings).exit_code == 0
    [status] = api.statuses
    publish(1)  # article 2 left the feed, and its link answers 404
    two_hours_ago = now_utc() - timedelta(hours=2)
    assert run(settings, clock=lambda: two_hours_ago).exit_code == 0  # gone: once is not enough
    # Gone again: before deleting, a run asks the site's root; there the stalled one waits.
    feeds.set_slow("/", LEASE, times=1)

    stalled_log, _ = stalled_past_its_lease(
        database, config, lambda: feeds.count("GET", "/") == 1, fetched(feeds, 5)
    )
    assert api.count("DELETE", f"/api/v1/statuses/{status['id']}") == 0
    assert "deleted the toot" not in stalled_log
    assert api.statuses == [status]
    # The stalled one's check of the link counts: it is asked again an hour later.
    an_hour_later = now_utc() + timedelta(minutes=61)
    assert run(settings, clock=lambda: an_hour_later).exit_code == 0
    assert api.count("DELETE", f"/api/v1/statuses/{status['id']}") == 1
    assert api.statuses == []


@pytest.fixture
def api_4_4():
    """A loopback Mastodon 4.4: it deletes an upload no status uses (DELETE /api/v1/media)."""
    with MastodonAPI(release="4.4") as server:
        yield server


def test_a_replica_stalled_past_its_lease_leaves_the_edit_to_its_heir(
    tmp_path, api_4_4, feeds, token, database
):
    api = api_4_4

    def publish(image: str) -> None:
        feeds.set_feed("/blog", feed_of(1, 2, enclosure={"url": feeds.url(image)}))

    for image in ("/a.png", "/b.png"):
        feeds.set_feed(image, PNG, content_type="image/png")
    feeds.set_feed("/blog", feed_of(1))
    config = config_of(
        tmp_path, api, feeds, ["blog"], database,
        options=", image: true, on_change: edit", lease_timeout=LEASE,
        allow_private_urls_in_feeds=True,
    )  # fmt: skip
    assert main(["run", "--config", config]) == 0
    publish("/a.png")
    assert main(["run", "--config", config]) == 0
    [status] = api.statuses
    [first_image] = status["media_ids"]
    publish("/b.png")  # article 2 has a new image: its toot is edited to show it
    # The edit first fetches the new image: there the stalled one waits.
    feeds.set_slow("/b.png", LEASE, times=1)

    stalled_log, heir_log = stalled_past_its_lease(
        database, config, lambda: feeds.count("GET", "/b.png") == 1, fetched(feeds, 4)
    )
    assert api.count("PUT", f"/api/v1/statuses/{status['id']}") == 1
    assert "edited the toot" in heir_log and "edited the toot" not in stalled_log
    [edited] = api.statuses
    assert len(edited["media_ids"]) == 1 and edited["media_ids"] != [first_image]
    # The stalled one had uploaded the new image too: nothing will use it, so it went.
    deleted = [path for method, path, _ in api.requests if method == "DELETE"]
    assert len(deleted) == 1 and deleted[0].startswith("/api/v1/media/"), deleted
    assert deleted[0].rsplit("/", 1)[1] not in (first_image, *edited["media_ids"])
    assert set(api.media) == {first_image, *edited["media_ids"]}


def test_a_replica_stalled_past_its_lease_does_not_retry_the_pending_post(
    tmp_path, api, feeds, token, database, monkeypatch
):
    monkeypatch.setenv("CROSSPOSTER_POST_RETRY_SECONDS", "0")
    feeds.set_feed("/blog", feed_of(1))
    # idempotency_window 0: a pending post is first looked for among the account's statuses.
    config = config_of(
        tmp_path, api, feeds, ["blog"], database, lease_timeout=LEASE, idempotency_window=0
    )
    assert main(["run", "--config", config]) == 0
    feeds.set_feed("/blog", feed_of(1, 2))
    api.fail_next("POST", "/api/v1/statuses", 503)
    assert main(["run", "--config", config]) == 75  # article 2 left pending
    # The stalled one reads that the account has not posted it yet: so it had not, then.
    own_statuses = f"/api/v1/accounts/{api.account_id}/statuses"
    api.fail_next("GET", own_statuses, "delay", seconds=LEASE, create=True)
    api.idempotency_window = 0

    # The stalled one wrote nothing yet, so nothing holds the heir up: it looks, finds no
    # status and posts; only then does the stalled one go on, with its answer of before.
    stalled_log, heir_log = stalled_past_its_lease(
        database,
        config,
        lambda: api.count("GET", own_statuses) == 1,
        lambda: len(api.statuses) == 1,
    )
    assert api.count("POST", "/api/v1/statuses") == 2  # the 503, and the heir's
    [status] = api.statuses
    assert "announced 'Article 2'" in heir_log and "announced" not in stalled_log
    assert recorded(database, 2) == ("posted", status["id"])


def test_a_replica_stalled_past_its_lease_does_not_send_an_edit_left_pending(
    tmp_path, api, feeds, token, database, monkeypatch
):
    """Two feeds leased and handled in one slice: stalled on the first past both leases,
    the replica must not go on to the second one's pending edit."""
    monkeypatch.setenv("CROSSPOSTER_POST_RETRY_SECONDS", "0")
    feeds.set_feed("/news", feed_of(100))
    feeds.set_feed("/blog", feed_of(1))
    config = config_of(
        tmp_path, api, feeds, ["news", "blog"], database,
        options=", image: true, on_change: edit", lease_timeout=LEASE,
        allow_private_urls_in_feeds=True,
    )  # fmt: skip
    assert main(["run", "--config", config]) == 0
    feeds.set_feed("/blog", feed_of(1, 2, title="Artcile {n}"))
    assert main(["run", "--config", config]) == 0
    [status] = api.statuses
    feeds.set_feed("/blog", feed_of(1, 2))
    api.fail_next("PUT", f"/api/v1/statuses/{status['id']}", 503)
    assert main(["run", "--config", config]) == 75  # the typo's fix recorded, not sent
    # News's new entry has an image: there the stalled one waits, before the blog's turn.
    feeds.set_feed("/news", feed_of(100, 101, enclosure={"url": feeds.url("/n.png")}))
    feeds.set_feed("/n.png", PNG, content_type="image/png")
    feeds.set_slow("/n.png", LEASE, times=1)

    stalled_log, heir_log = stalled_past_its_lease(
        database, config, lambda: feeds.count("GET", "/n.png") == 1, fetched(feeds, 5)
    )
    assert api.count("PUT", f"/api/v1/statuses/{status['id']}") == 2  # the 503, the heir's
    assert "edited the toot" in heir_log and "edited the toot" not in stalled_log
    assert status["text"].startswith("Article 2")


def test_a_replica_stalled_past_its_lease_does_not_post_again_without_the_image(
    tmp_path, feeds, token, database
):
    """A toot refused with its image is posted again without it, once the upload is deleted
    (Mastodon 4.4): stalled on that deletion, the replica must not post it again."""
    with MastodonAPI(release="4.4") as api:
        feeds.set_feed("/blog", feed_of(1))
        config = config_of(
            tmp_path, api, feeds, ["blog"], database,
            options=", image: true", lease_timeout=LEASE, allow_private_urls_in_feeds=True,
        )  # fmt: skip
        assert main(["run", "--config", config]) == 0
        feeds.set_feed("/blog", feed_of(1, 2, enclosure={"url": feeds.url("/2.png")}))
        feeds.set_feed("/2.png", PNG, content_type="image/png")
        api.fail_next("POST", "/api/v1/statuses", 422, message="Validation failed: media gone")
        api.fail_next("DELETE", "/api/v1/media/*", "delay", seconds=LEASE, create=True)
        api.idempotency_window = 0

        # The stalled one holds no write: the heir posts the pending toot at once.
        stalled_log, heir_log = stalled_past_its_lease(
            database, config, lambda: api.count("DELETE") == 1, lambda: len(api.statuses) == 1
        )
        assert api.count("POST", "/api/v1/statuses") == 2  # the 422, and the heir's
        [status] = api.statuses
        assert "announced 'Article 2'" in heir_log and "announced" not in stalled_log
        assert recorded(database, 2) == ("posted", status["id"])
