"""Builders for what many tests need: an entry, an instance's limits, a configuration file.

    make_entry(2, title="Hello")          # id-2, https://b.example/2
    make_limits(200)                      # 200 characters, links count 23
    write_config_text(tmp_path, "instance: ...\nfeeds: [...]")

An end-to-end configuration pointing at the loopback servers is support.blog.write_config.
"""

from __future__ import annotations

import textwrap
from typing import Any

from crossposter.models import Entry, InstanceLimits

__all__ = ["MASTODON_LIMITS", "make_entry", "make_limits", "write_config_text"]


def make_entry(n: int = 1, **fields: Any) -> Entry:
    """Entry n: id `id-n`, link https://b.example/n; `fields` replace those or set the rest."""
    return Entry(**{"id": f"id-{n}", "link": f"https://b.example/{n}", **fields})


def make_limits(max_characters: int = 500, url_cost: int = 23, **fields: Any) -> InstanceLimits:
    """An instance's limits: `max_characters` per toot, each link counting `url_cost`."""
    return InstanceLimits(
        max_characters=max_characters, characters_reserved_per_url=url_cost, **fields
    )


# Mastodon's own defaults, as a stock instance reports them.
MASTODON_LIMITS = make_limits(source="test")


def write_config_text(tmp_path, text: str) -> str:
    """Write `text` (dedented) as `tmp_path`/feeds.yaml and return its path."""
    path = tmp_path / "feeds.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)
