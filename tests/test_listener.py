"""`run --loop --listen`: probes, metrics and polls on request over real HTTP, from a
crossposter running in a process of its own, against the loopback blog and instance."""

from __future__ import annotations

import concurrent.futures
import socket
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from crossposter.cli import main
from crossposter.signals import GRACE_SECONDS

from support.blog import write_config
from support.loop_process import LoopProcess
from support.publishing_blog import PublishingBlog, call_as_ghost, call_with_bearer

SECRET = "webhook-secret-for-tests"
# A loop that never polls on its own within a test: only the webhook makes it.
QUIET = ("--interval", "1h")


def config_with_feeds(tmp_path, api, feeds, *names: str, secret: bool = True) -> str:
    listed = "\n".join(f"- {{name: {name}, url: '{feeds.url('/' + name)}'}}" for name in names)
    settings = {}
    if secret:
        (tmp_path / "webhook_secret").write_text(SECRET + "\n")
        settings["webhook_secret_file"] = "webhook_secret"
    return write_config(tmp_path, api, listed, **settings)


@pytest.fixture
def blog(feeds):
    return PublishingBlog(feeds, "/blog")


@pytest.fixture
def loop(tmp_path, api, feeds, blog, token):
    """A quiet loop over the feeds `blog` and `other`, its first pass done."""
    PublishingBlog(feeds, "/other")
    config = config_with_feeds(tmp_path, api, feeds, "blog", "other")
    with LoopProcess(config, "--listen", "127.0.0.1:0", *QUIET) as process:
        process.wait_for("pass done")
        yield process


def poll_url(loop: LoopProcess, feed: str = "blog") -> str:
    return loop.url(f"/feeds/{feed}/poll")


def wait_until(condition, what: str, bound: float = 30.0) -> None:
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting until {what}")
        time.sleep(0.02)


def settled(loop: LoopProcess, feeds) -> None:
    """Every poll asked for before now is done: `other` is asked for and polled, and the
    loop takes what is asked for together, in one pass."""
    before = feeds.count("GET", "/other")
    start = len(loop.lines)
    assert call_with_bearer(poll_url(loop, "other"), SECRET).status_code == 202
    wait_until(lambda: feeds.count("GET", "/other") > before, "the other feed was polled")
    loop.wait_for("early pass done", after=start)


# -- polls on request ---------------------------------------------------------------


def test_a_deploy_job_s_bearer_call_announces_the_new_article_at_once(loop, api, blog):
    polls = blog.polls()
    blog.publish(2)
    answer = call_with_bearer(poll_url(loop), SECRET)
    assert answer.status_code == 202
    wait_until(lambda: api.status_texts(), "the article was announced")
    assert "Article 2" in api.status_texts()[0]
    assert blog.polls() == polls + 1


def test_ghost_s_signed_webhook_announces_the_new_article(loop, api, blog):
    blog.publish(2)
    assert call_as_ghost(poll_url(loop), SECRET, 2).status_code == 202
    wait_until(lambda: api.status_texts(), "the article was announced")
    assert "Article 2" in api.status_texts()[0]


def stale() -> int:
    return int((time.time() - 6 * 60) * 1000)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda url: requests.post(url, timeout=10), id="no secret"),
        pytest.param(lambda url: call_with_bearer(url, "not-the-secret"), id="wrong bearer"),
        pytest.param(lambda url: call_with_bearer(url, SECRET[:-1]), id="bearer prefix"),
        pytest.param(lambda url: call_as_ghost(url, "not-the-secret", 2), id="ghost wrong key"),
        pytest.param(lambda url: call_as_ghost(url, SECRET, 2, at_ms=stale()), id="ghost stale"),
        pytest.param(
            lambda url: requests.post(
                url,
                data=b'{"post": {}}',
                headers={"X-Ghost-Signature": call_as_ghost_header_for_other_body()},
                timeout=10,
            ),
            id="ghost other body",
        ),
        pytest.param(
            lambda url: requests.post(
                url, headers={"X-Ghost-Signature": "sha256=00, t=1"}, timeout=10
            ),
            id="ghost malformed",
        ),
    ],
)
def test_a_call_without_the_secret_is_refused_and_polls_nothing(loop, api, blog, feeds, call):
    polls = blog.polls()
    blog.publish(2)
    assert call(poll_url(loop)).status_code == 401
    settled(loop, feeds)
    assert blog.polls() == polls
    assert api.status_texts() == []


def call_as_ghost_header_for_other_body() -> str:
    from support.publishing_blog import ghost_payload, ghost_signature

    return ghost_signature(ghost_payload(2), SECRET, int(time.time() * 1000))


def test_a_burst_of_calls_is_one_poll(loop, api, blog):
    polls = blog.polls()
    blog.publish(2)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: call_with_bearer(poll_url(loop), SECRET), range(16)))
    assert {answer.status_code for answer in answers} == {202}
    wait_until(lambda: api.status_texts(), "the article was announced")
    # Calls that came during that poll wait for its 10 s of spacing: none before then.
    time.sleep(1)
    assert blog.polls() == polls + 1
    assert len(api.status_texts()) == 1


def test_an_unknown_feed_is_404_and_other_methods_are_refused(loop):
    assert call_with_bearer(poll_url(loop, "nosuch"), SECRET).status_code == 404
    assert requests.get(poll_url(loop), timeout=10).status_code == 405
    assert requests.get(loop.url("/nowhere"), timeout=10).status_code == 404


def test_a_body_over_2_mib_is_refused_and_polls_nothing(loop, blog, feeds):
    polls = blog.polls()
    body = b"x" * (2 * 1024 * 1024 + 1)
    answer = requests.post(
        poll_url(loop), data=body, headers={"Authorization": f"Bearer {SECRET}"}, timeout=10
    )
    assert answer.status_code == 413
    settled(loop, feeds)
    assert blog.polls() == polls


def test_what_a_request_says_reaches_the_log_escaped(loop):
    call_with_bearer(loop.url("/feeds/%1B%5B2Jx%0Aforged/poll"), "wrong")
    line = loop.wait_for(r"refused").string
    assert "\x1b" not in line
    assert "\\x1b[2Jx\\nforged" in line


def test_without_a_secret_the_poll_endpoint_does_not_exist(tmp_path, api, feeds, token):
    PublishingBlog(feeds, "/blog")
    config = config_with_feeds(tmp_path, api, feeds, "blog", secret=False)
    with LoopProcess(config, "--listen", "127.0.0.1:0", *QUIET) as loop:
        assert call_with_bearer(poll_url(loop), "anything").status_code == 404
        assert "POST /feeds/NAME/poll" not in loop.lines[0]


def test_the_secret_may_come_from_the_environment(tmp_path, api, feeds, token):
    blog = PublishingBlog(feeds, "/blog")
    config = config_with_feeds(tmp_path, api, feeds, "blog", secret=False)
    env = {"CROSSPOSTER_WEBHOOK_SECRET": "from-the-environment"}
    with LoopProcess(config, "--listen", "127.0.0.1:0", *QUIET, env=env) as loop:
        loop.wait_for("pass done")
        blog.publish(2)
        assert call_with_bearer(poll_url(loop), "from-the-environment").status_code == 202
        wait_until(lambda: api.status_texts(), "the article was announced")


# -- probes and metrics ---------------------------------------------------------------


def test_probes_answer_from_the_start_and_ready_once_the_first_pass_ended(
    tmp_path, api, feeds, token
):
    blog = PublishingBlog(feeds, "/blog")
    # The first pass waits on the feed: the probes are asked meanwhile.
    feeds.set_slow("/blog", 1.5, times=1)
    config = config_with_feeds(tmp_path, api, feeds, "blog")
    with LoopProcess(config, "--listen", "127.0.0.1:0", *QUIET) as loop:
        alive = requests.get(loop.url("/healthz"), timeout=10)
        assert alive.status_code == 200
        assert "started" in alive.text
        not_ready = requests.get(loop.url("/readyz"), timeout=10)
        assert not_ready.status_code == 503
        assert "first pass" in not_ready.text
        loop.wait_for("pass done")
        assert requests.get(loop.url("/readyz"), timeout=10).status_code == 200
        healthy = requests.get(loop.url("/healthz"), timeout=10)
        assert (healthy.status_code, "last pass ended" in healthy.text) == (200, True)
        assert blog.polls() == 1


def metrics_of(loop: LoopProcess) -> dict:
    answer = requests.get(loop.url("/metrics"), timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(answer.text)}


def samples(family, suffix: str = "") -> dict[tuple, float]:
    name = family.name + suffix
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for sample in family.samples
        if sample.name == name
    }


def test_metrics_count_passes_polls_and_toots_with_only_configured_labels(loop, api, blog, feeds):
    blog.publish(2)
    assert call_with_bearer(poll_url(loop), SECRET).status_code == 202
    wait_until(lambda: api.status_texts(), "the article was announced")
    settled(loop, feeds)
    families = metrics_of(loop)

    assert samples(families["crossposter_passes"], "_total")[(("exit_code", "0"),)] >= 2
    assert samples(families["crossposter_pass_duration_seconds"], "_count")[()] >= 2
    polls = samples(families["crossposter_feed_polls"], "_total")
    assert polls[(("feed", "blog"), ("outcome", "changed"))] == 2
    toots = samples(families["crossposter_toots"], "_total")
    assert toots == {(("account", "default"), ("action", "posted")): 1}
    assert samples(families["crossposter_pending_entries"]) == {(): 0}
    assert samples(families["crossposter_last_success_timestamp_seconds"])[()] > time.time() - 60
    failing = samples(families["crossposter_feed_failing_seconds"])
    assert failing == {(("feed", "blog"),): 0, (("feed", "other"),): 0}
    (build,) = samples(families["crossposter_build_info"])
    assert build[0][0] == "version"
    assert "crossposter_rate_limited" in families

    labels = {
        value
        for family in families.values()
        for sample in family.samples
        for name, value in sample.labels.items()
        if name not in ("le", "version")
    }
    assert labels <= {"blog", "other", "default", "changed", "not_modified", "posted", "0"}


def test_metrics_count_refused_toots_rate_limits_and_what_waits(loop, api, blog, feeds):
    blog.publish(2)
    blog.publish(3)
    api.fail_next("POST", "/api/v1/statuses", 422, message="Text is too long")
    api.fail_next("POST", "/api/v1/statuses", "rate_limit", reset_in=3600)
    assert call_with_bearer(poll_url(loop), SECRET).status_code == 202
    settled(loop, feeds)
    families = metrics_of(loop)
    toots = samples(families["crossposter_toots"], "_total")
    assert toots == {(("account", "default"), ("action", "refused")): 1}
    limited = samples(families["crossposter_rate_limited"], "_total")
    assert limited == {(("account", "default"),): 1}
    assert samples(families["crossposter_pending_entries"]) == {(): 1}
    assert samples(families["crossposter_passes"], "_total")[(("exit_code", "1"),)] == 1


def test_a_feed_that_fails_shows_how_long_it_has_failed(loop, blog, feeds):
    feeds.set_status("/blog", 404)
    assert call_with_bearer(poll_url(loop), SECRET).status_code == 202
    wait_until(
        lambda: samples(metrics_of(loop)["crossposter_feed_polls"], "_total").get(
            (("feed", "blog"), ("outcome", "failed"))
        ),
        "the failed poll was counted",
    )
    time.sleep(1.1)
    families = metrics_of(loop)
    assert samples(families["crossposter_feed_failing_seconds"])[(("feed", "blog"),)] >= 1
    # A loop whose feed answers 404 is alive: restarting it would mend nothing.
    assert requests.get(loop.url("/healthz"), timeout=10).status_code == 200
    assert samples(families["crossposter_passes"], "_total").get((("exit_code", "1"),)) == 1


# -- starting and stopping --------------------------------------------------------------


def test_listen_without_loop_is_a_usage_error(tmp_path, api, feeds, token, capsys):
    config = config_with_feeds(tmp_path, api, feeds, "blog")
    assert main(["run", "--listen", "127.0.0.1:0", "--config", config]) == 2
    assert "--listen" in capsys.readouterr().err


def test_an_address_in_use_is_a_usage_error(tmp_path, api, feeds, token, capsys):
    config = config_with_feeds(tmp_path, api, feeds, "blog")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["run", "--loop", "--listen", f"127.0.0.1:{port}", "--config", config])
    assert code == 2
    assert f"127.0.0.1:{port}" in capsys.readouterr().err
    assert feeds.count("GET", "/blog") == 0


@pytest.mark.parametrize("address", ["localhost:http", "1.2.3.4:", ":99999", "a:b:1"])
def test_a_listen_address_that_is_not_host_port_is_a_usage_error(address, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["run", "--loop", "--listen", address])
    assert exited.value.code == 2
    assert "HOST:PORT" in capsys.readouterr().err


def test_sigterm_with_requests_in_flight_stops_within_the_grace(loop):
    # One client is half-way through sending its body, another holds an idle keep-alive.
    stalled = socket.create_connection(("127.0.0.1", int(loop.base_url.rsplit(":", 1)[1])))
    stalled.sendall(
        b"POST /feeds/blog/poll HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
        b"Authorization: Bearer " + SECRET.encode() + b"\r\n\r\npartial"
    )
    session = requests.Session()
    assert session.get(loop.url("/healthz"), timeout=10).status_code == 200
    with stalled:
        code, seconds = loop.terminate()
    assert code == 0
    assert seconds < GRACE_SECONDS
    assert any("stopping: SIGTERM" in line for line in loop.lines)


# -- replicas on PostgreSQL ----------------------------------------------------------------


def test_two_replicas_receiving_the_same_call_toot_once(request, tmp_path, api, feeds, token):
    from conftest import postgres_database

    database = postgres_database(request)
    blog = PublishingBlog(feeds, "/blog")
    (tmp_path / "webhook_secret").write_text(SECRET)
    config = write_config(
        tmp_path,
        api,
        f"- {{name: blog, url: '{feeds.url('/blog')}'}}",
        state_file=None,
        state_url=f"'{database}'",
        webhook_secret_file="webhook_secret",
    )
    with (
        LoopProcess(
            config, "--listen", "127.0.0.1:0", *QUIET, env={"CROSSPOSTER_WORKER_ID": "a"}
        ) as first,
        LoopProcess(
            config, "--listen", "127.0.0.1:0", *QUIET, env={"CROSSPOSTER_WORKER_ID": "b"}
        ) as second,
    ):
        first.wait_for("pass done")
        second.wait_for("pass done")
        blog.publish(2)
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            answers = list(
                pool.map(lambda loop: call_with_bearer(poll_url(loop), SECRET), [first, second])
            )
        assert [answer.status_code for answer in answers] == [202, 202]
        first.wait_for("early pass done")
        second.wait_for("early pass done")
    assert len(api.status_texts()) == 1
    assert "Article 2" in api.status_texts()[0]


def test_a_feed_asked_for_is_asked_again_when_its_pass_failed(tmp_path, api, feeds):
    from crossposter.config import load_settings
    from crossposter.listen.service import Listener

    settings = load_settings(config_with_feeds(tmp_path, api, feeds, "blog"))
    listener = Listener(("127.0.0.1", 0), lambda: settings, interval=900, wake=lambda: None)
    listener.poll_requests.request("blog")
    asked = listener.poll_requests.take_due()
    assert listener.poll_requests.seconds_until_due() is None
    listener.pass_done(None, asked)  # the state was out of reach: no report
    assert listener.poll_requests.seconds_until_due() is not None
