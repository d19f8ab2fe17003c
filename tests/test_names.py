"""One meaning of "the same name" for categories, tags and authors: filters, content
warnings and hashtag mappings all compare names through crossposter.names."""

from __future__ import annotations

import pytest

from crossposter.compose.hashtags import to_hashtag
from crossposter.compose.toot import compose
from crossposter.config import FeedConfig, FeedOptions
from crossposter.feeds.filters import skip_reason
from crossposter.models import FeedInfo
from crossposter.names import category_key

from support.builders import make_entry, make_limits

# One name as feeds and configurations write it: spacing, case, full width.
SPELLINGS = [
    "Développement Web",
    "  développement   web ",
    "DÉVELOPPEMENT WEB",
    "Ｄéveloppement Ｗeb",
]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_spellings_of_one_name_have_one_key(spelling):
    assert category_key(spelling) == category_key("Développement Web")


def test_a_ligature_and_its_letters_are_the_same_name():
    assert category_key("ﬁlms") == category_key("Films")


def test_a_leading_hash_is_aside_only_for_hashtags():
    assert category_key("#Python") != category_key("Python")
    assert category_key("#Python", hashtag=True) == category_key("Python")
    assert category_key(" ＃ Python", hashtag=True) == category_key("python")


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_filters_warnings_and_mappings_agree_on_a_name(spelling):
    entry = make_entry(categories=(spelling,))
    feed = FeedConfig.model_validate(
        {
            "name": "blog",
            "url": "https://blog.example/feed",
            "exclude": {"categories": "Développement Web"},
        }
    )
    assert skip_reason(entry, feed.entry_filter()) is not None

    options = FeedOptions(content_warning="CW", content_warning_categories=["Développement Web"])
    toot = compose(entry, FeedInfo(), options, make_limits())
    assert toot.spoiler_text == "CW"

    assert to_hashtag(spelling, {"#Développement Web": "WebDev"}) == "WebDev"
