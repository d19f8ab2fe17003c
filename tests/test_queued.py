"""Deferred is not new: what a run selected and left for later (backfill, or beyond
max_posts_per_run) is `queued` in the state: known, so the flood guard never counts it
again, and posted by the next runs, oldest first, each once, even gone from the feed."""

from __future__ import annotations

import json

from crossposter.cli import main

from support import blog
from support.blog import write_config


def links_posted(api) -> list[str]:
    return [
        word
        for text in api.status_texts()
        for word in text.split()
        if word.startswith("https://blog.example.org/")
    ]


def statuses(config: str, capsys) -> dict[str, str]:
    capsys.readouterr()
    assert main(["state", "export", "--config", config]) == 0
    exported = json.loads(capsys.readouterr().out)
    return {entry["entry_id"]: entry["status"] for entry in exported["entries"]}


def configured(tmp_path, api, feeds, backend, options: str) -> str:
    return write_config(
        tmp_path,
        api,
        f"- {{name: blog, url: '{feeds.url('/feed')}'{options}}}",
        **backend.settings,
    )


def test_backfill_20_with_3_per_run_announces_all_20_over_7_runs_oldest_first_each_once(
    tmp_path, api, feeds, token, backend, capsys
):
    feeds.set_feed("/feed", blog.feed_of(*range(1, 31)))
    config = configured(tmp_path, api, feeds, backend, ", backfill: 20, max_posts_per_run: 3")

    for _ in range(7):
        assert main(["run", "--config", config]) == 0
    assert main(["run", "--config", config]) == 0

    assert links_posted(api) == [f"https://blog.example.org/{n}/" for n in range(11, 31)]
    known = statuses(config, capsys)
    assert sorted(known.values()) == ["posted"] * 20 + ["seen"] * 10


def test_queued_entries_show_as_such_and_survive_export_and_import(
    tmp_path, api, feeds, token, backend, capsys
):
    feeds.set_feed("/feed", blog.feed_of(*range(1, 6)))
    config = configured(tmp_path, api, feeds, backend, ", backfill: 5, max_posts_per_run: 2")
    assert main(["run", "--config", config]) == 0
    assert sorted(statuses(config, capsys).values()) == ["posted"] * 2 + ["queued"] * 3
    assert main(["state", "entries", "--config", config, "--status", "queued"]) == 0
    assert capsys.readouterr().out.count("queued") == 3

    # Exported, then imported into a state of its own: still queued, then posted.
    assert main(["state", "export", "--config", config, str(tmp_path / "backup.json")]) == 0
    other = tmp_path / "other"
    other.mkdir()
    moved = write_config(other, api, f"- {{name: blog, url: '{feeds.url('/feed')}', "
                         "backfill: 5, max_posts_per_run: 2}")
    assert main(["state", "import", "--config", moved, str(tmp_path / "backup.json")]) == 0
    assert sorted(statuses(moved, capsys).values()) == ["posted"] * 2 + ["queued"] * 3
    assert main(["run", "--config", moved]) == 0
    assert main(["run", "--config", moved]) == 0
    expected = sorted(f"https://blog.example.org/{n}/" for n in range(1, 6))
    assert sorted(links_posted(api)) == expected


def test_a_queued_entry_is_posted_even_after_it_left_the_feed(
    tmp_path, api, feeds, token, backend, capsys
):
    feeds.set_feed("/feed", blog.feed_of(1, 2, 3))
    config = configured(tmp_path, api, feeds, backend, ", backfill: 3, max_posts_per_run: 1")
    assert main(["run", "--config", config]) == 0
    feeds.set_feed("/feed", blog.feed_of(3, 4))  # 2 is gone from the feed, still queued
    for _ in range(3):
        assert main(["run", "--config", config]) == 0
    assert links_posted(api) == [f"https://blog.example.org/{n}/" for n in (1, 2, 3, 4)]
