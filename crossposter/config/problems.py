"""What a person reads when the configuration cannot be used: one line per problem, each
with the file and, where known, the line and column in it (`FILE:LINE:COL:`, 1-based, as
editors and compilers write it), in words that say how to mend it.

pydantic's own wording ("Input should be a valid dictionary or instance of FeedOptions")
never reaches the person: each kind of validation error is said again here, from its
type and the value written.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_settings import SettingsError

from crossposter.config.models import (
    ENVIRONMENT_ONLY,
    AccountConfig,
    FeedConfig,
    FeedOptions,
    FilterRules,
    Settings,
    bare_host_is_https,
)
from crossposter.logsafe import redacted_url

TAB_HINT = "YAML does not allow tabs for indentation; use spaces"

Location = Sequence[str | int]


@dataclass(frozen=True)
class Source:
    """The configuration file as written: where each of its values is."""

    path: Path
    text: str
    # The YAML document's nodes, which keep the line and column of every key and value.
    root: yaml.Node | None = None

    def at(self, location: Location, *, key: bool = False) -> str:
        """`FILE:LINE:COL` of the value at `location` (of its key, with `key`), else `FILE`."""
        found = self.node(location, key=key)
        if found is None:
            return str(self.path)
        mark = found.start_mark
        return f"{self.path}:{mark.line + 1}:{mark.column + 1}"

    def line(self, number: int) -> str:
        """Line `number` of the file, counted from 0; "" past its end."""
        lines = self.text.splitlines()
        return lines[number] if 0 <= number < len(lines) else ""

    def node(self, location: Location, *, key: bool = False) -> yaml.Node | None:
        """The node of the value at `location` (of its key, with `key`), if it is written."""
        node, key_node = self.root, None
        for part in location:
            if isinstance(node, yaml.MappingNode):
                pair = next(((k, v) for k, v in node.value if k.value == str(part)), None)
                if pair is None:
                    return None
                key_node, node = pair
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if part >= len(node.value):
                    return None
                key_node, node = None, node.value[part]
            else:
                return None
        # An empty value has no place of its own but the end of its key's line.
        empty = isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")
        return key_node if (key or empty) and key_node is not None else node


def describe_yaml_error(error: yaml.MarkedYAMLError, source: Source) -> str:
    """FILE:LINE:COL: not valid YAML: what is wrong, and what most likely caused it."""
    mark = error.problem_mark or error.context_mark
    problem = error.problem or "not valid YAML"
    if mark is None:
        return f"{source.path}: not valid YAML: {problem}"
    where = f"{source.path}:{mark.line + 1}:{mark.column + 1}"
    cause = _yaml_cause(error, mark, source)
    if cause:
        return f"{where}: not valid YAML: {cause}"
    message = f"not valid YAML: {problem}"
    if error.context:
        context_line = f" (line {error.context_mark.line + 1})" if error.context_mark else ""
        message += f", {error.context}{context_line}"
    return f"{where}: {message}"


def _yaml_cause(error: yaml.MarkedYAMLError, mark: yaml.Mark, source: Source) -> str | None:
    """The mistakes behind PyYAML's most puzzling messages, in the person's terms."""
    problem = error.problem or ""
    line = source.line(mark.line)
    indentation = _indentation(line)
    if "\t" in line[: len(line) - len(line.lstrip(" \t"))] or "'\\t'" in problem:
        return f"{problem}; {TAB_HINT}"
    if problem == "mapping values are not allowed here":
        deeper = _indented_deeper(source, mark.line)
        if deeper:
            return deeper
        key, _, value = line.strip().partition(": ")
        if ": " in value:
            return (
                "a second ': ' on one line; a value that holds ': ' must be quoted: "
                f"{key}: '{value}'"
            )
        return None
    opened = error.context_mark
    if opened is not None and "quoted scalar" in (error.context or ""):
        return f"the quote opened on line {opened.line + 1} is never closed"
    if opened is not None and problem == "could not find expected ':'":
        return (
            f"line {opened.line + 1} has no ': ' after its key; a setting is written "
            "key: value"
        )
    if "flow" in (error.context or ""):
        commented = next(
            (n for n in range(mark.line, -1, -1) if re.search(r"[\[{].* #", source.line(n))),
            None,
        )
        if commented is not None:
            return (
                f"YAML reads everything from # on as a comment, so the [ or {{ opened on line "
                f"{commented + 1} is never closed; quote a value that starts with #: '#blog'"
            )
    if problem.startswith("expected <block end>") and opened is not None:
        deeper = _indented_deeper(source, mark.line)
        if deeper:
            return deeper
        if "collection" in (error.context or "") and indentation == opened.column:
            return (
                f"this line starts where the list's entries start (line {opened.line + 1}) "
                "but not with '- '; indent it like the line above to belong to that entry, "
                "or begin it with '- ' for a new one"
            )
        kind = "list" if "collection" in (error.context or "") else "mapping"
        return (
            "this line is indented less than the line above it and more than the "
            f"{kind} it is in (line {opened.line + 1}); line it up with the line above"
        )
    return None


def _indented_deeper(source: Source, number: int) -> str | None:
    """Line `number` indented past the key of the line above: YAML reads it as that key's
    value going on, where a key of its own was meant."""
    above = _line_above(source, number)
    if above is None or _indentation(source.line(number)) <= _key_column(source.line(above)):
        return None
    return (
        f"this line is indented more than the key above it (line {above + 1}); "
        "keys of one mapping start in the same column"
    )


def _indentation(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _key_column(line: str) -> int:
    """Where the line's key starts: after its indentation and any list dashes (`  - name`)."""
    return len(line) - len(_without_indentation(line))


def _without_indentation(line: str) -> str:
    """The line without its indentation and any list dashes before its content."""
    return re.sub(r"^[ ]*(?:-[ ]+)*", "", line)


def _line_above(source: Source, number: int) -> int | None:
    """The nearest line above `number` that holds something other than a comment."""
    for above in range(number - 1, -1, -1):
        text = source.line(above).strip()
        if text and not text.startswith("#"):
            return above
    return None


def describe_validation_error(
    error: ValidationError, raw: dict[str, Any], source: Source
) -> list[str]:
    """One line per problem, each once: `FILE:LINE:COL: feeds[0] (blog): unknown key ...`."""
    lines = []
    for problem in error.errors():
        location = list(problem["loc"])
        if _inherited(location, raw):
            continue  # reported where it was written, under `defaults:`
        if problem["type"] == "extra_forbidden":
            *parent, key = location
            message = f"unknown key {key}" + _did_you_mean(str(key), _model_at(parent))
            lines.append(_line(source.at(location, key=True), parent, raw, message))
        elif problem["type"] == "missing":
            *parent, key = location
            where = source.at(parent) if parent else str(source.path)
            lines.append(_line(where, parent, raw, f"{key} is required, and missing"))
        else:
            message = _in_our_words(problem, location, source)
            where = source.at(location) if location else str(source.path)
            variable = _overriding_variable(location)
            if variable:
                # The environment wins over the file: the value at fault is the variable's.
                where, message = str(source.path), f"{message} (from {variable})"
            lines.append(_line(where, location, raw, message))
    # Every problem lies under `defaults:` or a feed; should none be left, still say so.
    return list(dict.fromkeys(lines)) or [f"{source.path}: the configuration cannot be used"]


def describe_environment_error(error: SettingsError) -> str:
    """A CROSSPOSTER_* variable that could not be read at all (a list or mapping not in JSON)."""
    field = re.search(r'field "(\w+)"', str(error))
    variable = f"CROSSPOSTER_{field.group(1)}".upper() if field else "a CROSSPOSTER_* variable"
    return (
        f"{variable}: not valid JSON, which a setting made of several values must be when it "
        "comes from the environment"
    )


def _overriding_variable(location: Location) -> str | None:
    """The CROSSPOSTER_* variable that gave the top-level setting at `location`, if any."""
    if not location or not isinstance(location[0], str):
        return None
    variable = f"CROSSPOSTER_{location[0]}".upper()
    named = {name.upper() for name in os.environ}
    return variable if variable in named else None


def _line(where: str, location: Location, raw: dict[str, Any], message: str) -> str:
    return f"{where}: {_location_name(location, raw)}: {message}" if location else (
        f"{where}: {message}"
    )


def _in_our_words(problem: Any, location: Location, source: Source) -> str:
    """A validation problem said without pydantic's phrases, from its type and value."""
    kind = problem["type"]
    context = problem.get("ctx") or {}
    value = problem["input"]
    if kind in ("value_error", "assertion_error"):
        # Our own validators' words, ValueError's message as written.
        return str(context.get("error") or problem["msg"]).removeprefix("Value error, ")
    if value is None:
        return _no_value(location, source)
    return takes(_EXPECTED.get(kind) or _expected_of_a_kind(kind, context), value)


def takes(expected: str, value: Any) -> str:
    """What a key takes, and what was written instead."""
    return f"takes {expected}, not {_shown(value)}"


# What a key takes, by the pydantic error type that says it was not given that.
_EXPECTED = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "text",
    "list_type": "a list (one '- item' a line, or [a, b])",
    "tuple_type": "a list (one '- item' a line, or [a, b])",
    "set_type": "a list (one '- item' a line, or [a, b])",
    "dict_type": "settings (key: value, indented under it)",
    "model_type": "settings (key: value, indented under it)",
    "model_attributes_type": "settings (key: value, indented under it)",
    "path_type": "a file's path",
    "url_type": "a web address such as https://mastodon.social",
    "url_parsing": "a web address such as https://mastodon.social",
    "url_syntax_violation": "a web address such as https://mastodon.social",
    "url_scheme": "an address starting with https://",
    "string_too_short": "some text",
    "too_short": "at least one item",
}


def _expected_of_a_kind(kind: str, context: dict[str, Any]) -> str:
    if kind == "literal_error":
        # pydantic's "'public', 'unlisted' or 'direct'": the same choices, as YAML writes them.
        return context.get("expected", "").replace("'", "") or "one of the documented values"
    bounds = {
        "greater_than_equal": ("at least", "ge"),
        "greater_than": ("more than", "gt"),
        "less_than_equal": ("at most", "le"),
        "less_than": ("less than", "lt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"{words} {context.get(key)}"
    if kind == "string_pattern_mismatch" and "postgres" in str(context.get("pattern")):
        return "postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME"
    return "another kind of value (see the README's key tables)"


def _shown(value: Any) -> str:
    """A value as the person wrote it in YAML."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "settings (key: value)"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        # A database URL may hold its password: never shown.
        value = redacted_url(value) if "://" in value else value
        return repr(value) if " " in value or not value else value
    return str(value)


def _no_value(location: Location, source: Source) -> str:
    """An empty key: left empty, or emptied by a `#` YAML read as the start of a comment."""
    node = source.node(location, key=True) if location else None
    if node is not None:
        # `key: #...`, or `#...` for an item of a list.
        written = _without_indentation(source.line(node.start_mark.line))
        item = isinstance(location[-1], int)
        value = written if item else written.partition(":")[2].strip()
        if value.startswith("#"):
            quoted = f"- '{value}'" if item else f"{location[-1]}: '{value}'"
            return (
                "has no value: YAML reads everything from # on as a comment; quote it: "
                f"{quoted}"
            )
    if location and location[-1] in ("defaults",):
        return "has no value: give it feed settings, indented under it, or remove the line"
    if location and location[-1] in ("accounts",):
        return "has no value: give it accounts by name, indented under it, or remove the line"
    return "has no value: give it one, or remove the line"


def _inherited(location: list[Any], raw: dict[str, Any]) -> bool:
    """Whether the problem is in a value a feed took from `defaults:`."""
    if len(location) < 3 or location[0] != "feeds" or not isinstance(location[1], int):
        return False
    feeds = raw.get("feeds") or []
    feed = feeds[location[1]] if location[1] < len(feeds) else {}
    return location[2] not in feed and location[2] in (raw.get("defaults") or {})


def _model_at(location: list[Any]) -> type[BaseModel]:
    """The model whose keys are expected at `location` (feeds.0, defaults, accounts.x...)."""
    model: type[BaseModel] = Settings
    parts = [part for part in location if not isinstance(part, int)]
    if parts[:1] == ["accounts"]:
        return AccountConfig
    for part in parts:
        model = {"feeds": FeedConfig, "defaults": FeedOptions}.get(part) or (
            FilterRules if part in ("include", "exclude") else model
        )
    return model


def _did_you_mean(key: str, model: type[BaseModel]) -> str:
    close = _closest(key, model)
    if close:
        return f"; did you mean {close}?"
    # A feed setting written at the top level belongs under `defaults:`.
    close = _closest(key, FeedOptions) if model is Settings else None
    return f"; did you mean {close} under defaults:?" if close else ""


def _closest(key: str, model: type[BaseModel]) -> str | None:
    known = [name for name in model.model_fields if name not in ENVIRONMENT_ONLY]
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return close[0] if close else None


def _location_name(location: Location, raw: dict[str, Any]) -> str:
    if len(location) >= 2 and location[0] == "feeds" and isinstance(location[1], int):
        index = location[1]
        feeds = raw.get("feeds") or []
        name = feeds[index].get("name") if index < len(feeds) else None
        label = f"feeds[{index}]" + (f" ({name})" if name else "")
        rest = ".".join(str(part) for part in location[2:])
        return f"{label}.{rest}" if rest else label
    return ".".join(str(part) for part in location)


# A bare host, with or without a port, then a path: what a URL looks like without its scheme.
_HOST_THEN_PATH = re.compile(
    r"(?:localhost|\[[0-9a-fA-F:.]+\]|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(?::\d+)?/"
)


def urls_without_scheme(raw: dict[str, Any], source: Source, folder: Path) -> list[str]:
    """Feeds whose url is a host and a path with no scheme, and no file either.

    Without a scheme a url is a local file; `127.0.0.1:8080/feed.xml` would be a missing
    one, and the run would say so, every time, without saying why.
    """
    lines = []
    for index, feed in enumerate(raw.get("feeds") or []):
        url = feed.get("url") if isinstance(feed, dict) else None
        if not isinstance(url, str) or "://" in url or not _HOST_THEN_PATH.match(url):
            continue
        if (folder / Path(url).expanduser()).exists():
            continue
        location = ["feeds", index, "url"]
        meant = bare_host_is_https(url)
        message = f"{url} is neither a URL (it has no scheme) nor a file; did you mean {meant}?"
        lines.append(_line(source.at(location), location, raw, message))
    return lines
