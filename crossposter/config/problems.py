"""What a person reads when the configuration cannot be used: one line per problem, each
with the file, and the place in it, and the words that say how to mend it."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from crossposter.config.models import (
    ENVIRONMENT_ONLY,
    AccountConfig,
    FeedConfig,
    FeedOptions,
    FilterRules,
    Settings,
)

TAB_HINT = "YAML does not allow tabs for indentation; use spaces"


def describe_yaml_error(error: yaml.MarkedYAMLError, text: str, path: Path) -> str:
    """FILE:LINE:COLUMN: message, 1-based, as editors and compilers write it."""
    mark = error.problem_mark or error.context_mark
    problem = error.problem or "not valid YAML"
    message = f"not valid YAML: {problem}"
    if error.context:
        context_line = f" (line {error.context_mark.line + 1})" if error.context_mark else ""
        message += f", {error.context}{context_line}"
    if mark is None:
        return f"{path}: {message}"
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    indentation = line[: len(line) - len(line.lstrip(" \t"))]
    if "\t" in indentation or "'\\t'" in problem:
        message += f"; {TAB_HINT}"
    return f"{path}:{mark.line + 1}:{mark.column + 1}: {message}"


def describe_validation_error(error: ValidationError, raw: dict[str, Any], path: Path) -> str:
    """One line per problem, each once: `FILE: feeds[0] (blog): unknown key ...`."""
    lines = []
    for problem in error.errors():
        location = list(problem["loc"])
        if _inherited(location, raw):
            continue  # reported where it was written, under `defaults:`
        if problem["type"] == "extra_forbidden":
            *parent, key = location
            where = _location_name(parent, raw)
            message = f"unknown key {key}" + _did_you_mean(str(key), _model_at(parent))
            lines.append(f"{path}: {where}: {message}" if parent else f"{path}: {message}")
            continue
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{path}: {_location_name(location, raw)}: {message}")
    return "\n".join(dict.fromkeys(lines))


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


def _location_name(location: list[Any], raw: dict[str, Any]) -> str:
    if len(location) >= 2 and location[0] == "feeds" and isinstance(location[1], int):
        index = location[1]
        feeds = raw.get("feeds") or []
        name = feeds[index].get("name") if index < len(feeds) else None
        label = f"feeds[{index}]" + (f" ({name})" if name else "")
        rest = ".".join(str(part) for part in location[2:])
        return f"{label}.{rest}" if rest else label
    return ".".join(str(part) for part in location) or "(top level)"
