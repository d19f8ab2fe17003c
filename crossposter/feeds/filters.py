"""Which entries of a feed are announced: `include` and `exclude` rules.

An entry is announced when it matches no exclude rule and, if the feed has
include rules, at least one of them. A rule is a category, a title regular
expression (case-insensitive) or an author. When an entry is skipped, the
rule that skipped it is said in words, so the user can see why.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from crossposter.models import Entry
from crossposter.names import category_key


@dataclass(frozen=True)
class Rules:
    """One `include:` or `exclude:` block; an entry matches it when any of its rules matches."""

    categories: tuple[str, ...] = ()
    title: tuple[re.Pattern[str], ...] = ()
    author: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        categories: Iterable[str] = (),
        title: Iterable[str] = (),
        author: Iterable[str] = (),
    ) -> Rules:
        """Build from what a person wrote; raise ValueError naming a broken regular expression."""
        return cls(
            categories=tuple(category.strip() for category in categories if category.strip()),
            title=tuple(_compile(pattern) for pattern in title),
            author=tuple(name.strip() for name in author if name.strip()),
        )

    def __bool__(self) -> bool:
        return bool(self.categories or self.title or self.author)

    def first_match(self, entry: Entry) -> str | None:
        """The rule `entry` matches, in words, or None."""
        entry_categories = {category_key(category): category for category in entry.categories}
        for category in self.categories:
            if category_key(category) in entry_categories:
                return f"category {entry_categories[category_key(category)]!r}"
        for pattern in self.title:
            if pattern.search(entry.title):
                return f"title matching {pattern.pattern!r}"
        names = _author_names(entry.author)
        for author in self.author:
            if category_key(author) in names:
                return f"author {author!r}"
        return None

    def describe(self) -> str:
        parts = []
        if self.categories:
            parts.append("categories " + ", ".join(repr(c) for c in self.categories))
        if self.title:
            parts.append("title matching " + " or ".join(repr(p.pattern) for p in self.title))
        if self.author:
            parts.append("author " + ", ".join(repr(a) for a in self.author))
        return "; ".join(parts)


@dataclass(frozen=True)
class EntryFilter:
    include: Rules = Rules()
    exclude: Rules = Rules()


def skip_reason(entry: Entry, entry_filter: EntryFilter) -> str | None:
    """None when `entry` is to be announced, else the rule that skips it, in words."""
    excluded_by = entry_filter.exclude.first_match(entry)
    if excluded_by:
        return f"excluded: {excluded_by}"
    if entry_filter.include and entry_filter.include.first_match(entry) is None:
        return f"not included: matches none of {entry_filter.include.describe()}"
    return None


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as error:
        raise ValueError(f"{pattern!r} is not a valid regular expression: {error}") from None


def _author_names(author: str) -> set[str]:
    """The ways an entry's author can be named.

    RSS puts an e-mail address in <author>, often as "mail@example.org (Name)";
    feedparser sometimes keeps "Name (mail@example.org)". Either half matches.
    """
    names = {category_key(author)}
    match = re.fullmatch(r"\s*(.*?)\s*\((.*)\)\s*", author)
    if match:
        names.update({category_key(match.group(1)), category_key(match.group(2))})
    return names - {""}
