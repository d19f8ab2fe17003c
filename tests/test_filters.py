"""Which entries a feed announces: include and exclude rules, and the reason given
for each entry a rule skips."""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

import pytest

from crossposter.cli import main
from crossposter.feeds.filters import EntryFilter, Rules, skip_reason

from support.blog import write_config
from support.builders import make_entry
from support.feeds import rss

PYTHON_POST = make_entry(
    title="Typing in Python 3.13", categories=("Python", "Programmation"), author="Alice Martin"
)
SPONSORED = make_entry(
    title="[Sponsored] The best VPN",
    categories=("Ads",),
    author="marketing@blog.example.org (Marketing)",
)
DRAFT_BY_BOB = make_entry(title="Notes", categories=("Brouillon",), author="Bob")


@pytest.mark.parametrize(
    ("filter_", "announced", "skipped"),
    [
        pytest.param(EntryFilter(), [PYTHON_POST, SPONSORED, DRAFT_BY_BOB], {}, id="no rules"),
        pytest.param(
            EntryFilter(exclude=Rules.of(categories=["ads"])),
            [PYTHON_POST, DRAFT_BY_BOB],
            {SPONSORED: "excluded: category 'Ads'"},
            id="exclude a category, whatever its case",
        ),
        pytest.param(
            EntryFilter(exclude=Rules.of(title=[r"^\[sponsored\]"])),
            [PYTHON_POST, DRAFT_BY_BOB],
            {SPONSORED: "excluded: title matching '^\\\\[sponsored\\\\]'"},
            id="exclude a title pattern, case-insensitive",
        ),
        pytest.param(
            EntryFilter(exclude=Rules.of(author=["bob"])),
            [PYTHON_POST, SPONSORED],
            {DRAFT_BY_BOB: "excluded: author 'bob'"},
            id="exclude an author",
        ),
        pytest.param(
            EntryFilter(exclude=Rules.of(author=["Marketing"])),
            [PYTHON_POST, DRAFT_BY_BOB],
            {SPONSORED: "excluded: author 'Marketing'"},
            id="an RSS author 'mail (Name)' matches by name",
        ),
        pytest.param(
            EntryFilter(exclude=Rules.of(author=["marketing@blog.example.org"])),
            [PYTHON_POST, DRAFT_BY_BOB],
            {SPONSORED: "excluded: author 'marketing@blog.example.org'"},
            id="an RSS author 'mail (Name)' matches by address",
        ),
        pytest.param(
            EntryFilter(include=Rules.of(categories=["python"])),
            [PYTHON_POST],
            {
                SPONSORED: "not included: matches none of categories 'python'",
                DRAFT_BY_BOB: "not included: matches none of categories 'python'",
            },
            id="include a category: only it is announced",
        ),
        pytest.param(
            EntryFilter(include=Rules.of(categories=["python"], author=["bob"])),
            [PYTHON_POST, DRAFT_BY_BOB],
            {SPONSORED: "not included: matches none of categories 'python'; author 'bob'"},
            id="include rules: any one of them is enough",
        ),
        pytest.param(
            EntryFilter(
                include=Rules.of(categories=["Python", "Ads"]),
                exclude=Rules.of(title=["sponsored"]),
            ),
            [PYTHON_POST],
            {
                SPONSORED: "excluded: title matching 'sponsored'",
                DRAFT_BY_BOB: "not included: matches none of categories 'Python', 'Ads'",
            },
            id="exclude wins over include",
        ),
        pytest.param(
            EntryFilter(include=Rules.of(title=["python", "rust"])),
            [PYTHON_POST],
            {
                SPONSORED: "not included: matches none of title matching 'python' or 'rust'",
                DRAFT_BY_BOB: "not included: matches none of title matching 'python' or 'rust'",
            },
            id="several title patterns",
        ),
    ],
)
def test_rules_decide_which_entries_are_announced(filter_, announced, skipped):
    for each in (PYTHON_POST, SPONSORED, DRAFT_BY_BOB):
        assert skip_reason(each, filter_) == skipped.get(each)
    assert [e for e in (PYTHON_POST, SPONSORED, DRAFT_BY_BOB) if not skip_reason(e, filter_)] == (
        announced
    )


@pytest.mark.parametrize(
    ("rule", "category", "matches"),
    [
        ("Développement Web", "développement  web", True),
        ("C++", "c++", True),
        ("ＰＹＴＨＯＮ", "python", True),
        ("py", "python", False),
        ("Python", "Pythonic", False),
    ],
)
def test_categories_compare_as_words_not_as_bytes(rule, category, matches):
    filter_ = EntryFilter(exclude=Rules.of(categories=[rule]))
    assert (skip_reason(make_entry(categories=(category,)), filter_) is not None) is matches


def test_an_author_rule_is_a_name_not_a_fragment_of_one():
    filter_ = EntryFilter(exclude=Rules.of(author=["Al"]))
    assert skip_reason(make_entry(author="Alice Martin"), filter_) is None


def test_an_entry_without_categories_author_or_title_is_not_included_by_them():
    filter_ = EntryFilter(include=Rules.of(categories=["python"], author=["alice"]))
    assert skip_reason(make_entry(title=""), filter_) is not None


def test_blank_rules_are_no_rules():
    filter_ = EntryFilter(include=Rules.of(categories=["  "], author=[""]))
    assert not filter_.include
    assert skip_reason(SPONSORED, filter_) is None


def test_a_broken_regular_expression_is_refused_with_its_text():
    with pytest.raises(ValueError, match=r"'\[unclosed' is not a valid regular expression"):
        Rules.of(title=["[unclosed"])


# -- in a run -----------------------------------------------------------------------------


@pytest.fixture
def blog(tmp_path, api, feeds, token):
    """A feed seen once, with include/exclude rules; `publish(*items)` adds entries."""
    items = [{"title": "Old", "link": "https://blog.example.org/old/"}]
    feeds.set_feed("/feed", rss(items))
    config = write_config(
        tmp_path,
        api,
        f"""
        - name: blog
          url: {feeds.url("/feed")}
          include: {{categories: [Python, Rust]}}
          exclude: {{title: '^\\[Sponsored\\]'}}
        """,
    )
    assert main(["run", "--config", config]) == 0

    def publish(*new_items):
        items[:0] = new_items
        feeds.set_feed("/feed", rss(items))

    return SimpleNamespace(config=config, api=api, publish=publish, state=tmp_path)


NEW_POSTS = [
    {"title": "Typing in Python", "link": "https://blog.example.org/1/", "categories": ["Python"]},
    {"title": "[Sponsored] A VPN", "link": "https://blog.example.org/2/", "categories": ["Rust"]},
    {"title": "My holidays", "link": "https://blog.example.org/3/", "categories": ["Life"]},
]


def test_only_entries_the_rules_let_through_are_announced(blog):
    blog.publish(*NEW_POSTS)
    assert main(["run", "--config", blog.config]) == 0
    assert [status["text"].splitlines()[0] for status in blog.api.statuses] == ["Typing in Python"]


def test_a_filtered_entry_is_remembered_as_seen_with_the_rule_that_skipped_it(blog, capsys):
    blog.publish(*NEW_POSTS)
    assert main(["run", "--config", blog.config]) == 0
    with sqlite3.connect(blog.state / "state.sqlite3") as db:
        rows = dict(db.execute("SELECT title, status || ': ' || COALESCE(reason, '') FROM entries"))
    assert rows["[Sponsored] A VPN"] == "seen: excluded: title matching '^\\\\[Sponsored\\\\]'"
    assert rows["My holidays"] == "seen: not included: matches none of categories 'Python', 'Rust'"
    assert rows["Typing in Python"] == "posted: "

    capsys.readouterr()
    assert main(["state", "entries", "--config", blog.config]) == 0
    assert "reason: not included: matches none of categories" in capsys.readouterr().out
    # Seen, so a later run does not consider them again.
    assert main(["run", "--config", blog.config]) == 0
    assert len(blog.api.statuses) == 1


def test_dry_run_says_which_entries_a_rule_skips_and_why(blog, capsys):
    blog.publish(*NEW_POSTS)
    capsys.readouterr()
    assert main(["run", "--dry-run", "--config", blog.config]) == 0
    out = capsys.readouterr().out
    assert "=== blog: My holidays\n--- not announced: not included: matches none of" in out
    assert "=== blog: [Sponsored] A VPN\n--- not announced: excluded: title matching" in out


def test_filtered_entries_leave_room_for_the_others_in_max_posts_per_run(
    tmp_path, api, feeds, token
):
    posts = [
        {"title": f"Post {n}", "link": f"https://b.example/{n}/", "categories": [category]}
        for n, category in enumerate(["Python", "Life", "Life", "Python"])
    ]
    feeds.set_feed("/feed", rss(posts))
    config = write_config(
        tmp_path,
        api,
        f"- {{name: b, url: '{feeds.url('/feed')}', "
        "backfill: 2, max_posts_per_run: 2, exclude: {categories: Life}}",
        state_file=None,
    )
    assert main(["run", "--config", config]) == 0
    assert sorted(s["text"].splitlines()[0] for s in api.statuses) == ["Post 0", "Post 3"]


def test_a_broken_title_pattern_is_a_configuration_error(tmp_path, caplog):
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "instance: https://mastodon.example\n"
        "feeds: [{name: b, url: feed.xml, include: {title: '[unclosed'}}]\n",
        encoding="utf-8",
    )
    assert main(["run", "--dry-run", "--config", str(config)]) == 2
    assert "not a valid regular expression" in caplog.text
