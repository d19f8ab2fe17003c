"""What the second adversarial review (issue 18) tried and found holding, kept as tests:
literal-address tricks for images and removal checks, no Authorization across a
host-changing redirect, hostile XML, a hook that a feed cannot inject into, SQL in a
feed's name, an instance answer too large to read."""

from __future__ import annotations

import logging
import re
import sys
import threading
import time

import pytest

from crossposter.cli import main
from crossposter.errors import FeedError, ImageUnavailable
from crossposter.feeds.parse import parse_feed
from crossposter.mastodon.media import download_image
from crossposter.models import ImageRef, InstanceLimits
from crossposter.net.addresses import AddressPolicy
from crossposter.net.bounded import API_MAX_BYTES, UnreadableAnswer, api_session
from crossposter.net.public import link_status

from conftest import postgres_database
from support.blog import article, feed_of, write_config
from support.feeds import rss
from support.postgres import end_every_session

# Each names this machine (or a private or special network) in a form a naive check
# would read as some other host; {port} is the feed server's, which must never be asked.
LITERAL_TRICKS = [
    "http://127.0.0.1:{port}/x",
    "http://2130706433:{port}/x",  # decimal
    "http://0177.0.0.1:{port}/x",  # octal
    "http://0x7f000001:{port}/x",  # hex
    "http://0x7f.0.0.1:{port}/x",
    "http://127.1:{port}/x",
    "http://0:{port}/x",
    "http://0.0.0.0:{port}/x",
    "http://[::1]:{port}/x",
    "http://[0:0:0:0:0:0:0:1]:{port}/x",
    "http://[::]:{port}/x",
    "http://[::ffff:127.0.0.1]:{port}/x",  # IPv4-mapped
    "http://[::ffff:7f00:1]:{port}/x",
    "http://[64:ff9b::7f00:1]:{port}/x",  # NAT64
    "http://[2002:7f00:1::]:{port}/x",  # 6to4
    "http://localhost:{port}/x",
    "http://LOCALHOST:{port}/x",
    "http://localhost.:{port}/x",
    "http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54:{port}/x",  # IDN, full width
    "http://blog.example.org@127.0.0.1:{port}/x",  # userinfo
    "http://blog.example.org:80@127.0.0.1:{port}/x",
    "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata endpoint
    "http://[::ffff:169.254.169.254]/latest/meta-data/",
    "http://10.0.0.1/x",
    "http://172.16.0.1/x",
    "http://192.168.1.1/x",
    "http://100.64.0.1/x",  # CGNAT
    "http://[fd00::1]/x",
    "http://[fe80::1]/x",
    "http://224.0.0.1/x",
]

# Refused before any connection: by the address rule, or as a name no IDNA allows.
REFUSED = r"not a public address|cannot resolve|not a valid IDNA label|not allowed"


@pytest.mark.parametrize("trick", LITERAL_TRICKS)
def test_an_image_url_naming_this_machine_in_disguise_is_refused(feeds, trick):
    url = trick.format(port=feeds.port)
    with pytest.raises(ImageUnavailable, match=REFUSED):
        download_image(ImageRef(url), InstanceLimits(), policy=AddressPolicy())
    assert feeds.count() == 0


@pytest.mark.parametrize("trick", LITERAL_TRICKS)
def test_a_removal_check_of_a_link_naming_this_machine_in_disguise_asks_nothing(
    feeds, caplog, trick
):
    url = trick.format(port=feeds.port)
    with caplog.at_level(logging.DEBUG, logger="crossposter"):
        assert link_status(url, AddressPolicy(), timeout=5, deadline=5) is None
    assert re.search(REFUSED, caplog.text)
    assert feeds.count() == 0


def test_the_token_never_follows_a_redirect_to_another_host(feeds, internal):
    """requests' own rule, kept by the session that never reads ~/.netrc."""
    internal.set_feed("/api/v1/x", "{}", content_type="application/json")
    feeds.set_redirect("/api/v1/x", internal.url("/api/v1/x"), code=302)
    session, _ = api_session(total=10)
    answer = session.get(feeds.url("/api/v1/x"), headers={"Authorization": "Bearer t0ken"})
    assert answer.status_code == 200
    [(_, _, headers)] = internal.requests
    assert "Authorization" not in headers


def test_an_instance_answer_of_30_mb_without_a_length_is_refused_at_8_mib(feeds):
    feeds.set_large("/api/v2/instance", 30 * 1024 * 1024, declare_length=False)
    session, _ = api_session(total=30)
    with pytest.raises(UnreadableAnswer, match=f"larger than the {API_MAX_BYTES}-byte limit"):
        session.get(feeds.url("/api/v2/instance"))


# -- hostile XML -----------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
 <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
 <!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;"><!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;">
 <!ENTITY i "&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;"><!ENTITY j "&i;&i;&i;&i;&i;&i;&i;&i;&i;&i;">
]>
<rss version="2.0"><channel><title>B</title>
<item><title>&j;</title><link>https://blog.example.org/1/</link></item></channel></rss>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>B</title>
<item><title>Leak &secret;</title><link>https://blog.example.org/1/</link>
<description>&secret;</description></item></channel></rss>"""


def _parsed_or_refused(content: bytes):
    try:
        return parse_feed(content, url="https://blog.example.org/feed/")
    except FeedError as error:
        assert error.reason
        return None


def test_a_billion_laughs_feed_expands_nothing():
    started = time.monotonic()
    parsed = _parsed_or_refused(BILLION_LAUGHS)
    # A real expansion is 10^10 characters: seconds and gigabytes, never this.
    assert time.monotonic() - started < 10
    for entry in parsed.entries if parsed else []:
        assert "haha" not in (entry.title or "")


def test_an_external_entity_is_never_read():
    parsed = _parsed_or_refused(XXE)
    for entry in parsed.entries if parsed else []:
        assert "root:" not in (entry.title or "") + (entry.summary_html or "")


def test_deeply_nested_xml_is_no_crash():
    depth = 100_000
    item = "<div>" * depth + "deep" + "</div>" * depth
    content = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>B</title><item>'
        f"<title>T</title><link>https://blog.example.org/1/</link><x>{item}</x>"
        "</item></channel></rss>"
    ).encode()
    limit = sys.getrecursionlimit()
    _parsed_or_refused(content)
    assert sys.getrecursionlimit() == limit


def test_invalid_utf_8_is_read_as_well_as_possible():
    content = rss([article(1, title="Caf\udcc3 cr\udce8me")]).encode("utf-8", "surrogateescape")
    parsed = _parsed_or_refused(content)
    assert parsed is not None and parsed.entries[0].link == "https://blog.example.org/1/"


# -- what a feed cannot do to a hook or to the state -----------------------------------


def test_a_feed_cannot_inject_a_command_into_on_posted(tmp_path, api, feeds, token):
    """The event reaches the hook as variables; the shell never reads their values as code."""
    pwned = tmp_path / "pwned"
    feeds.set_feed(
        "/feed",
        feed_of(
            1,
            title=f"$(touch {pwned}) `touch {pwned}`",
            link=f"https://blog.example.org/$(touch${{IFS}}{pwned})/;touch${{IFS}}{pwned}",
        ),
    )
    hook = 'echo "$CROSSPOSTER_ARTICLE_URL" $CROSSPOSTER_TOOT_URL >> hook.out'
    config = write_config(
        tmp_path,
        api,
        f"- {{name: blog, url: '{feeds.url('/feed')}', backfill: 1, on_posted: '{hook}'}}",
    )
    assert main(["run", "--config", config]) == 0
    assert "$(touch" in (tmp_path / "hook.out").read_text()
    assert not pwned.exists()


def test_sql_in_a_feed_name_is_stored_verbatim(tmp_path, api, feeds, token, backend, capsys):
    name = "blog'); DROP TABLE entries; --"
    feeds.set_feed("/feed", feed_of(1))
    config = write_config(
        tmp_path,
        api,
        f'- {{name: "{name}", url: "{feeds.url("/feed")}", backfill: 1}}',
        **backend.settings,
    )
    assert main(["run", "--config", config]) == 0
    capsys.readouterr()
    assert main(["state", "feeds", "--config", config]) == 0
    assert name in capsys.readouterr().out
    assert main(["run", "--config", config]) == 0
    assert len(api.statuses) == 1


def test_a_database_that_ends_every_session_mid_post_loses_and_doubles_nothing(
    tmp_path, api, feeds, token, request
):
    """The post is in flight when the server ends the sessions (a restart, a failover):
    the run stops with 75, and the next one finds the toot by its key."""
    database = postgres_database(request)
    feeds.set_feed("/feed", feed_of(1))
    config = write_config(
        tmp_path,
        api,
        f"- {{name: blog, url: '{feeds.url('/feed')}', backfill: 1}}",
        state_file=None,
        state_url=f"'{database}'",
    )
    api.fail_next("POST", "/api/v1/statuses", "delay", seconds=1, create=True)
    posting = threading.Thread(
        target=lambda: wait_for_then(
            lambda: api.count("POST", "/api/v1/statuses") == 1, lambda: end_every_session(database)
        )
    )
    posting.start()
    assert main(["run", "--config", config]) == 75
    posting.join()
    assert main(["run", "--config", config]) == 0
    assert len(api.statuses) == 1


def wait_for_then(condition, action, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    action()
