"""The blog the end-to-end tests crosspost: its token, its articles, its feed, and the
feeds.yaml that points crossposter at it and at the loopback Mastodon API.

    feeds.set_feed("/feed", feed_of(1, 2))
    config = write_config(tmp_path, api, f"- {{name: blog, url: '{feeds.url('/feed')}'}}")
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from support.feeds import rss

__all__ = ["DAY", "TOKEN", "article", "blog_on", "feed_of", "write_config"]

# The token the `token` fixture exports, which the loopback MastodonAPI accepts.
TOKEN = "test-token"
# Article n is published n days after DAY.
DAY = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def article(n: int, **fields: Any) -> dict:
    """Article n as an RSS item (see support.feeds). A field given replaces the default and
    None leaves it out; `{n}` in a string stands for the number: title="Article numéro {n}"."""
    item = {
        "title": "Article {n}",
        "link": "https://blog.example.org/{n}/",
        "guid": "https://blog.example.org/?p={n}",
        "description": "<p>About {n}.</p>",
        "pubDate": DAY + timedelta(days=n),
    }
    item.update(fields)
    return {
        key: value.replace("{n}", str(n)) if isinstance(value, str) else value
        for key, value in item.items()
        if value is not None
    }


def feed_of(*numbers: int, language: str | None = "en", **fields: Any) -> str:
    """An RSS feed of these articles, newest first; `language` is the feed's, `fields` go
    to each article."""
    return rss([article(n, **fields) for n in sorted(numbers, reverse=True)], language=language)


def write_config(tmp_path, api, feeds_yaml: str, **top_level_settings: Any) -> str:
    """Write `tmp_path`/feeds.yaml: the `api`'s instance, state in state.sqlite3, the
    settings given, then `feeds_yaml` (the list under `feeds:`); return its path.

    A string setting is YAML written as is, anything else is written as JSON; a setting of
    None is left out (state_file=None: the default state file)."""
    settings = {"instance": api.base_url, "state_file": "state.sqlite3", **top_level_settings}
    lines = [
        f"{key}: {value if isinstance(value, str) else json.dumps(value)}"
        for key, value in settings.items()
        if value is not None
    ]
    feeds = textwrap.indent(textwrap.dedent(feeds_yaml).strip(), "  ")
    path = tmp_path / "feeds.yaml"
    path.write_text("\n".join([*lines, "feeds:", feeds]) + "\n", encoding="utf-8")
    return str(path)


def blog_on(feeds, tmp_path, api) -> tuple[str, Callable[..., None]]:
    """A blog served by `feeds`, its articles' pages there too, its newest article to be
    announced: the config's path, and `publish(3, 2, 1)`, which puts those articles in its
    feed, in that order."""

    def publish(*numbers: int) -> None:
        items = [article(n, link=feeds.url(f"/{n}/")) for n in numbers]
        feeds.set_feed("/feed", rss(items), etag=False, last_modified=False)

    config = write_config(
        tmp_path,
        api,
        f"- {{name: blog, url: '{feeds.url('/feed')}', backfill: 1}}",
        allow_private_urls_in_feeds=True,
    )
    return config, publish
