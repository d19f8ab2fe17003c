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


# strftime's directives, as Python documents them, plus glibc's %e (day padded
# with a space). A "-" after the "%" drops the padding, as on Linux.
_NUMERIC_DIRECTIVES = frozenset("dmyYHIMSfjUWwuGVzZe")
_NAME_DIRECTIVES = frozenset("aAbBhpcxX")
_DIRECTIVE = re.compile(r"%(-?)(.?)", re.DOTALL)


def check_date_format(spec: str) -> None:
    """Refuse a date format holding a directive strftime does not know (`%Q`, a lone `%`)."""
    for match in _DIRECTIVE.finditer(spec):
        flag, letter = match.groups()
        if letter == "%" and not flag:
            continue
        if letter not in _NUMERIC_DIRECTIVES and letter not in _NAME_DIRECTIVES:
            shown = match.group(0) if letter else f"{match.group(0)} at the end"
            raise TemplateError(
                f"template field {{published:{spec}}}: {shown} is not a date directive; "
                "use %d, %-d, %B, %Y, %H:%M... (see strftime)"
            )


def format_date(moment: datetime, spec: str, language: str | None) -> str:
    """`moment` as `spec` says, its month and day names in `language` (English when None).

    Names come from Babel's CLDR data, imported only when a name is asked for.
    """

    def directive(match: re.Match[str]) -> str:
        flag, letter = match.groups()
        if letter in _NAME_DIRECTIVES:
            return _date_name(moment, letter, language, spec)
        if letter not in _NUMERIC_DIRECTIVES:  # "%%": check_date_format refused the others
            return "%"
        text = f"{moment.day:2d}" if letter == "e" else moment.strftime(f"%{letter}")
        return (text.lstrip("0 ") or "0") if flag else text

    return _DIRECTIVE.sub(directive, spec)


def _date_name(moment: datetime, letter: str, language: str | None, spec: str) -> str:
    from babel import Locale, UnknownLocaleError, dates

    try:
        locale = Locale.parse(language or "en", sep="-")
    except (UnknownLocaleError, ValueError):
        locale = Locale.parse("en")
    # Beside a day number a month takes its "format" form (Russian "3 февраля"),
    # alone its "stand-alone" one ("февраль 2025").
    context = "format" if re.search(r"%-?[de]", spec) else "stand-alone"
    if letter in "bBh":
        width = "wide" if letter == "B" else "abbreviated"
        return dates.get_month_names(width, context, locale)[moment.month]
    if letter in "aA":
        width = "wide" if letter == "A" else "abbreviated"
        return dates.get_day_names(width, "format", locale)[moment.weekday()]
    if letter == "p":
        return dates.get_period_names("abbreviated", "format", locale)[
            "am" if moment.hour < 12 else "pm"
        ]
    if letter == "x":
        return dates.format_date(moment, "short", locale)
    if letter == "X":
        return dates.format_time(moment, "medium", locale=locale)
    return dates.format_datetime(moment, "medium", locale=locale)


class DateField:
    """Lets `{published:%-d %B %Y}` work in the toot's language, and render as
    nothing when the date is unknown."""

    def __init__(self, moment: datetime | None, language: str | None = None):
        self.moment = moment
        self.language = language

    def __format__(self, spec: str) -> str:
        if self.moment is None:
            return ""
        if not spec:
            return self.moment.date().isoformat()
        return format_date(self.moment, spec, self.language)

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
        if spec:
            check_date_format(spec)
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
        # No date: its format is checked above, and rendering it would import Babel.
        "published": DateField(None),
    }
