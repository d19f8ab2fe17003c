"""Composition as a user meets it: the dry-run preview, the instance's own limit, and a
template mistake caught at start. The loopback Mastodon API counts length exactly as
Mastodon does (crossposter.compose.length), so a toot one character too long would get a 422."""

from __future__ import annotations

import logging
import textwrap

import pytest

from crossposter.cli import main
from crossposter.compose.length import mastodon_length

from support import blog
from support.blog import write_config
from support.feeds import rss
from support.mastodon_api import MastodonAPI

LONG_ARTICLE = " ".join(
    ["Une phrase assez longue qui raconte l’histoire du déploiement, étape par étape."] * 30
)


@pytest.fixture
def token(token, monkeypatch):
    """The shared token, with posts retried for half a second at most."""
    monkeypatch.setenv("CROSSPOSTER_POST_RETRY_SECONDS", "0.5")
    return token


def strict_api(max_characters: int) -> MastodonAPI:
    api = MastodonAPI(max_characters=max_characters)
    api.length_of = lambda text, spoiler: mastodon_length(
        text, spoiler, url_cost=api.characters_reserved_per_url
    )
    return api


def article(n: int, **fields) -> dict:
    """A long French article with no guid, in three categories."""
    long_one = {
        "title": "Déployer sans douleur, épisode {n}",
        "guid": None,
        "description": f"<p>{LONG_ARTICLE}</p>",
        "categories": ["DevOps", "Développement Web", "Non classé"],
    }
    return blog.article(n, **{**long_one, **fields})


def config(tmp_path, api, feeds, feed_keys: str = "") -> str:
    feed = f"- name: blog\n  url: '{feeds.url('/feed')}'\n"
    return write_config(tmp_path, api, feed + textwrap.indent(textwrap.dedent(feed_keys), "  "))


def test_a_long_article_fits_a_small_instance_limit_and_is_accepted(tmp_path, feeds, token):
    with strict_api(max_characters=200) as api:
        feeds.set_feed("/feed", rss([article(1)], language="fr-FR"))
        path = config(tmp_path, api, feeds, "content_warning: Technique\nvisibility: unlisted\n")
        assert main(["run", "--config", path]) == 0  # the first run only records
        feeds.set_feed("/feed", rss([article(2), article(1)], language="fr-FR"))

        assert main(["run", "--config", path]) == 0

        [status] = api.statuses
        assert api.count("POST", "/api/v1/statuses") == 1  # no 422, no retry
        length = mastodon_length(status["text"], status["spoiler_text"])
        assert 0.8 * 200 <= length <= 200  # the summary ends at a sentence when one is near
        assert status["text"].startswith("Déployer sans douleur, épisode 2\n\nUne phrase")
        assert "…\n\nhttps://blog.example.org/2/\n\n#DevOps #DéveloppementWeb" in status["text"]
        assert status["spoiler_text"] == "Technique"
        assert status["sensitive"] is True
        assert status["visibility"] == "unlisted"
        assert status["language"] == "fr"


def test_the_preview_shows_length_against_the_instance_limit_language_visibility_and_tags(
    tmp_path, feeds, token, capsys
):
    with strict_api(max_characters=300) as api:
        feeds.set_feed("/feed", rss([article(1)], language="fr-FR"))
        keys = "visibility: unlisted\nhashtags: [MonBlog]\nbackfill: 1\n"
        path = config(tmp_path, api, feeds, keys)
        assert main(["run", "--config", path]) == 0  # posts article 1, learns the limit
        feeds.set_feed("/feed", rss([article(2), article(1)], language="fr-FR"))
        capsys.readouterr()

        assert main(["run", "--dry-run", "--config", path]) == 0

        out = capsys.readouterr().out
        assert len(api.statuses) == 1
    [header] = [line for line in out.splitlines() if line.startswith("--- ")]
    length = int(header.split()[1].split("/")[0])
    assert 0.8 * 300 <= length <= 300
    assert header == (
        f"--- {length}/300 characters · language fr · visibility unlisted"
        " · hashtags #MonBlog #DevOps #DéveloppementWeb"
    )
    toot = out.split(header + "\n", 1)[1].split("\n\ndry run:", 1)[0].strip()
    assert mastodon_length(toot) == length


def test_the_preview_says_when_language_and_visibility_are_the_account_defaults(
    tmp_path, feeds, capsys
):
    with MastodonAPI() as api:
        feeds.set_feed("/feed", rss([article(1, categories=[])], language=None))
        path = config(
            tmp_path, api, feeds, "backfill: 1\ncategory_hashtags: false\ndetect_language: false\n"
        )

        assert main(["run", "--dry-run", "--config", path]) == 0

    out = capsys.readouterr().out
    assert "/500 characters · language account default · visibility account default" in out
    assert "· hashtags none" in out


def test_an_entry_without_a_link_is_skipped_with_a_warning_naming_it(
    tmp_path, feeds, token, caplog
):
    with strict_api(max_characters=500) as api:
        feeds.set_feed("/feed", rss([article(1)]))
        path = config(tmp_path, api, feeds)
        assert main(["run", "--config", path]) == 0
        unlinked = article(2, title="Un billet sans lien", link=None, guid="urn:billet:2")
        feeds.set_feed("/feed", rss([unlinked, article(1)]))
        caplog.set_level(logging.WARNING, logger="crossposter")

        assert main(["run", "--config", path]) == 0

        assert api.statuses == []
    assert "Un billet sans lien" in caplog.text
    assert "no link" in caplog.text


@pytest.mark.parametrize(
    "feed_keys, message",
    [
        ("template: '{title} {body} {url}'\n", "unknown template field {body}"),
        ("template: '{title} {url'\n", "malformed template"),
        ("template: '{title}'\n", "must contain {url}"),
        ("template: '{title} {url:.20}'\n", "only {published} takes a format"),
        ("language: French\n", "not a language code"),
    ],
)
def test_a_template_or_language_mistake_stops_the_run_before_anything_is_fetched(
    tmp_path, feeds, token, caplog, capsys, feed_keys, message
):
    with strict_api(max_characters=500) as api:
        feeds.set_feed("/feed", rss([article(1)]))
        path = config(tmp_path, api, feeds, feed_keys)

        assert main(["run", "--config", path]) == 2

        assert api.requests == []
    assert feeds.requests == []
    assert message in caplog.text + capsys.readouterr().err
