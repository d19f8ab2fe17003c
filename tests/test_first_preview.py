"""The first preview a person runs: a feed's first run records what is there and posts
nothing (unless `backfill`), so the preview says so and shows the toot the newest
article would get, marked as one that will not be posted."""

from __future__ import annotations

from crossposter.cli import main

from conftest import EXAMPLES
from support.blog import article, feed_of, write_config
from support.feeds import rss
from support.stopping import terminate_when

FIRST_RUN = (
    "first run: would record {} entries, announce none;"
    " `backfill: N` would announce the newest N"
)
SAMPLE = "sample (first run; not to be posted): "


def demo_without_backfill(tmp_path, feeds) -> str:
    """examples/demo.yaml as a person starts from it: their feed, served over HTTP, and
    no backfill."""
    feeds.set_feed("/feed/", (EXAMPLES / "demo-feed.xml").read_text(encoding="utf-8"))
    lines = (EXAMPLES / "demo.yaml").read_text(encoding="utf-8").splitlines()
    config = "\n".join(
        f"    url: {feeds.url('/feed/')}" if line.strip().startswith("url:") else line
        for line in lines
        if not line.strip().startswith("backfill:")
    )
    path = tmp_path / "feeds.yaml"
    path.write_text(config + "\n", encoding="utf-8")
    return str(path)


def preview(config: str, capsys) -> str:
    capsys.readouterr()
    assert main(["run", "--dry-run", "--config", config]) == 0
    return capsys.readouterr().out


def test_the_first_preview_says_what_the_first_run_does_and_shows_a_sample(
    tmp_path, feeds, capsys
):
    out = preview(demo_without_backfill(tmp_path, feeds), capsys)

    assert f"=== demo: {FIRST_RUN.format(3)}" in out
    assert f"=== demo: {SAMPLE}InfiniTime 2.0 : l’été des nouveautés" in out
    assert "https://codingfield.example/blog/2026/11/infinitime-2-0/" in out
    assert "#DéveloppementWeb" in out and "#Cpp" in out
    assert "dry run: 0 toots would be posted" in out
    assert not (tmp_path / "demo-state.sqlite3").exists()


def test_the_readmes_first_preview_is_what_the_demo_without_backfill_prints(
    tmp_path, feeds, capsys
):
    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    shown = readme.split("## Preview", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    headings = [line for line in shown.splitlines() if line.startswith("=== ")]

    out = preview(demo_without_backfill(tmp_path, feeds), capsys)

    assert len(headings) == 2
    assert all(heading in out.splitlines() for heading in headings)


def test_the_first_previews_log_says_what_would_be_recorded_not_what_was(
    tmp_path, feeds, capsys, caplog
):
    caplog.set_level("INFO")
    preview(demo_without_backfill(tmp_path, feeds), capsys)

    assert "first run: 3 entries already there would be recorded, not announced" in caplog.text
    assert "already there recorded" not in caplog.text


def test_the_sample_is_the_newest_article_by_date_whatever_the_feed_order(
    tmp_path, api, feeds, capsys
):
    feeds.set_feed("/feed", rss([article(n) for n in (2, 5, 1, 4, 3)]))
    config = write_config(tmp_path, api, f"- {{name: blog, url: '{feeds.url('/feed')}'}}")

    out = preview(config, capsys)

    assert FIRST_RUN.format(5) in out
    assert f"=== blog: {SAMPLE}Article 5\n" in out
    assert out.count(SAMPLE) == 1
    assert "dry run: 0 toots would be posted" in out


def test_without_dates_the_sample_is_the_first_article_of_the_feed(
    tmp_path, api, feeds, capsys
):
    feeds.set_feed("/feed", rss([article(n, pubDate=None) for n in (7, 9, 8)]))
    config = write_config(tmp_path, api, f"- {{name: blog, url: '{feeds.url('/feed')}'}}")

    assert f"{SAMPLE}Article 7\n" in preview(config, capsys)


def test_the_sample_is_an_article_the_filters_would_let_through(tmp_path, api, feeds, capsys):
    feeds.set_feed("/feed", feed_of(1, 2, 3))
    config = write_config(
        tmp_path,
        api,
        f"- {{name: blog, url: '{feeds.url('/feed')}', exclude: {{title: 'Article 3'}}}}",
    )

    assert f"{SAMPLE}Article 2\n" in preview(config, capsys)


def test_with_backfill_the_preview_shows_those_toots_and_no_sample(tmp_path, api, feeds, capsys):
    feeds.set_feed("/feed", feed_of(1, 2, 3, 4, 5))
    config = write_config(
        tmp_path, api, f"- {{name: blog, url: '{feeds.url('/feed')}', backfill: 2}}"
    )

    out = preview(config, capsys)

    assert "dry run: 2 toots would be posted" in out
    assert "=== blog: Article 4\n" in out and "=== blog: Article 5\n" in out
    assert "first run: would record 5 entries, announce the newest 2" in out
    assert "sample" not in out


def test_the_real_first_run_posts_no_sample(tmp_path, api, feeds, token, capsys):
    feeds.set_feed("/feed", feed_of(1, 2, 3))
    config = write_config(tmp_path, api, f"- {{name: blog, url: '{feeds.url('/feed')}'}}")

    assert main(["run", "--config", config]) == 0

    assert api.statuses == []
    assert "sample" not in capsys.readouterr().out
    # Once the feed is known, a preview is no longer of a first run.
    feeds.set_feed("/feed", feed_of(1, 2, 3, 4))
    out = preview(config, capsys)
    assert "dry run: 1 toot would be posted" in out
    assert "first run" not in out and SAMPLE not in out


def test_a_preview_stopped_before_its_end_does_not_pass_for_a_whole_one(
    tmp_path, api, feeds, capsys
):
    feeds.set_slow("/feed", 30)
    config = write_config(tmp_path, api, f"- {{name: blog, url: '{feeds.url('/feed')}'}}")
    terminate_when(lambda: feeds.count(path="/feed"))

    assert main(["run", "--dry-run", "--config", config]) == 75

    out = capsys.readouterr().out
    assert "dry run stopped before its end" in out
    assert "0 toots would be posted" not in out


def test_a_preview_counts_the_toots_max_posts_per_run_leaves_for_later(
    tmp_path, api, feeds, capsys
):
    feeds.set_feed("/feed", feed_of(1, 2, 3))
    config = write_config(
        tmp_path,
        api,
        f"- {{name: blog, url: '{feeds.url('/feed')}', backfill: 3, max_posts_per_run: 1}}",
    )

    out = preview(config, capsys)

    assert "dry run: 1 toot would be posted, 2 more would wait for a later run;" in out
