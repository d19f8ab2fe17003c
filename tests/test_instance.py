"""crossposter.mastodon.instance: the limit and URL cost a toot is fitted to come from the instance,
the way Mastodon and its forks publish them (MASTODON-RULES §1), with 500/23 as the fallback."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crossposter.mastodon.instance import fetch_limits, limits_from_documents
from crossposter.models import InstanceLimits
from crossposter.state.sqlite import SqliteState

from support.mastodon_api import MastodonAPI


def statuses(**values) -> dict:
    return {"configuration": {"statuses": values}}


@pytest.mark.parametrize(
    "documents, expected",
    [
        (
            {"v2": statuses(max_characters=500, characters_reserved_per_url=23)},
            (500, 23, "api/v2/instance"),
        ),
        (
            {"v1": statuses(max_characters=5000, characters_reserved_per_url=23)},
            (5000, 23, "api/v1/instance"),
        ),
        # Pleroma and Akkoma count URLs at full length, and say so with 0.
        (
            {"v1": {"max_toot_chars": 5000, **statuses(characters_reserved_per_url=0)}},
            (5000, 0, "api/v1/instance"),
        ),
        ({"v1": {"max_toot_chars": 1000}}, (1000, 23, "api/v1/instance")),
        (
            {"v2": {"configuration": {}}, "v1": {"max_toot_chars": 800}},
            (800, 23, "api/v1/instance"),
        ),
        (
            {"v2": statuses(max_characters=300, characters_reserved_per_url=True)},
            (300, 23, "api/v2/instance"),
        ),
        (
            {"v2": statuses(max_characters=300, characters_reserved_per_url=-1)},
            (300, 23, "api/v2/instance"),
        ),
        ({"v2": statuses(max_characters="500")}, (500, 23, "unpublished")),
        ({"v2": statuses(max_characters=0)}, (500, 23, "unpublished")),
        ({"v2": statuses(max_characters=True)}, (500, 23, "unpublished")),
        ({"v2": ["not", "a", "document"]}, (500, 23, "default")),
        ({}, (500, 23, "default")),
    ],
)
def test_limits_from_what_the_instance_publishes(documents, expected):
    limits = limits_from_documents(**documents)
    assert (limits.max_characters, limits.characters_reserved_per_url, limits.source) == expected


@pytest.mark.parametrize(
    "instance_api, expected_source",
    [("v2", "api/v2/instance"), ("v1", "api/v1/instance"), ("max_toot_chars", "api/v1/instance")],
)
def test_the_limit_is_asked_of_the_instance(instance_api, expected_source):
    with MastodonAPI(max_characters=1234, instance_api=instance_api) as api:
        limits = fetch_limits(api.base_url, timeout=5)
    assert limits.max_characters == 1234
    assert limits.characters_reserved_per_url == 23
    assert limits.source == expected_source


def test_a_server_that_counts_urls_in_full_is_believed():
    with MastodonAPI(characters_reserved_per_url=0) as api:
        assert fetch_limits(api.base_url, timeout=5).characters_reserved_per_url == 0


def test_an_instance_that_says_nothing_gets_mastodons_defaults():
    with MastodonAPI(instance_api="none") as api:
        assert fetch_limits(api.base_url, timeout=5) == InstanceLimits()


def test_a_failing_v2_endpoint_falls_back_to_v1():
    with MastodonAPI(max_characters=700) as api:
        api.fail_next("GET", "/api/v2/instance", 503)
        limits = fetch_limits(api.base_url, timeout=5)
    assert (limits.max_characters, limits.source) == (700, "api/v1/instance")


@pytest.mark.parametrize("instance_api", ["v2", "v1"])
def test_the_reported_version_comes_with_the_limits(instance_api):
    # What Mastodon counts as a URL or a mention depends on it (compose.length).
    with MastodonAPI(instance_api=instance_api, version="4.2.10") as api:
        assert fetch_limits(api.base_url, timeout=5).version == "4.2.10"


def test_the_reported_version_is_kept_in_the_cached_limits(tmp_path):
    with SqliteState.open(tmp_path / "s.sqlite3") as state:
        state.save_limits("https://m.example", InstanceLimits(version="4.3.1"))
        assert state.cached_limits("https://m.example", timedelta(days=1)).version == "4.3.1"


def test_a_server_that_reports_no_version_leaves_it_unknown():
    v2 = {"configuration": {"statuses": {"max_characters": 500}}}
    assert limits_from_documents(v2=v2).version is None
