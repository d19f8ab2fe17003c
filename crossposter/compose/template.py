"""The toot template: which fields it may use, and how it is checked and rendered.

Kept apart from composition so that loading a configuration (which checks
every template) does not pull in the text and length machinery.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from datetime import datetime
from typing import Any

DEFAULT_TEMPLATE = "{title}\n\n{summary}\n\n{url}\n\n{hashtags}"
TEMPLATE_FIELDS = frozenset(
    {"title", "summary", "url", "hashtags", "author", "feed_title", "categories", "published"}
)
# Only a date has a format spec worth giving; on a text field a spec could cut
# the link (`{url:.20}`) or pad the toot past the limit.
_FIELDS_WITH_SPEC = frozenset({"published"})


class TemplateError(ValueError):
    """The template cannot be used; raised when the configuration is loaded."""


class DateField:
    """Lets `{published:%d/%m/%Y}` work, and render as nothing when the date is unknown."""

    def __init__(self, moment: datetime | None):
        self.moment = moment

    def __format__(self, spec: str) -> str:
        if self.moment is None:
            return ""
        return self.moment.strftime(spec) if spec else self.moment.date().isoformat()

    def __str__(self) -> str:
        return format(self, "")


def check_template(template: str) -> None:
    """Refuse a template that could fail, leak or lose the link when a toot is composed."""
    if not isinstance(template, str):
        raise TemplateError("the template must be text")
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        raise TemplateError(f"malformed template: {error}") from None
    names = set()
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name == "" or not name.isidentifier():
            raise TemplateError(
                f"template field {{{name}}} is not allowed: use a name such as {{title}}"
            )
        if name not in TEMPLATE_FIELDS:
            known = ", ".join(sorted(TEMPLATE_FIELDS))
            raise TemplateError(f"unknown template field {{{name}}}; known fields: {known}")
        if conversion:
            raise TemplateError(
                f"template field {{{name}!{conversion}}}: conversions are not allowed"
            )
        if spec and name not in _FIELDS_WITH_SPEC:
            raise TemplateError(
                f"template field {{{name}:{spec}}}: only {{published}} takes a format, "
                "such as {published:%d/%m/%Y}"
            )
        if spec and "{" in spec:
            raise TemplateError(f"template field {{{name}}}: its format cannot hold another field")
        names.add(name)
    if "url" not in names:
        raise TemplateError("the template must contain {url}: a toot always links its article")
    try:
        render(template, _sample_fields())
    except (ValueError, TypeError, KeyError, IndexError) as error:
        raise TemplateError(f"template cannot be rendered: {error}") from None


def render(template: str, fields: Mapping[str, Any]) -> str:
    text = template.format_map(fields)
    # An empty field must not leave a hole: trailing spaces and runs of blank lines go.
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _sample_fields() -> dict[str, Any]:
    return {
        "title": "Title",
        "summary": "Summary.",
        "url": "https://example.org/post",
        "hashtags": "#Tag",
        "author": "Author",
        "feed_title": "Blog",
        "categories": "Tag",
        "published": DateField(datetime(2024, 1, 31, 12, 0)),
    }
