"""Reading the configuration: the YAML file, its `defaults:` given to every feed, paths
made relative to the file, the environment's overrides (Settings's), and the file read
again when it changes during a long run."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_settings import SettingsError

from crossposter.config.models import (
    CONFIG_VARIABLE,
    TOKEN_VARIABLE,
    WEBHOOK_SECRET_VARIABLE,
    FeedOptions,
    Settings,
)
from crossposter.config.problems import (
    Source,
    describe_environment_error,
    describe_validation_error,
    describe_yaml_error,
    takes,
    urls_without_scheme,
)
from crossposter.errors import ConfigError
from crossposter.feeds.fetch import is_local
from crossposter.logsafe import plural

# The name these lines have always been logged under: `--log-format json` shows it.
log = logging.getLogger("crossposter.config")


def load_settings(path: str | os.PathLike[str]) -> Settings:
    """Read, merge and validate the configuration, or raise ConfigError with each problem
    on a line of its own, naming the file, the place in it and the key."""
    path = Path(path)
    raw, source = _read_yaml(path)
    if "access_token" in raw:
        raise ConfigError(
            f"{source.at(['access_token'], key=True)}: access_token must not be written in "
            f"the configuration file; export {TOKEN_VARIABLE} instead"
        )
    if "webhook_secret" in raw:
        raise ConfigError(
            f"{source.at(['webhook_secret'], key=True)}: webhook_secret must not be written "
            f"in the configuration file; export {WEBHOOK_SECRET_VARIABLE} or give "
            "webhook_secret_file instead"
        )
    if "state_url" in raw and "state_file" in raw:
        raise ConfigError(
            f"{source.at(['state_url'], key=True)}: state_url and state_file are both given; "
            "keep one (state_url keeps the state in PostgreSQL, state_file in a SQLite file)"
        )
    merged = _apply_defaults(raw, source)
    problems = urls_without_scheme(merged, source, path.parent)
    try:
        settings = Settings(**merged)
    except ValidationError as error:
        problems = describe_validation_error(error, raw, source) + problems
    except SettingsError as error:
        problems = [describe_environment_error(error), *problems]
    if problems:
        raise ConfigError(*problems)
    # No token is read here: crossposter.accounts reads each when it is needed.
    return _relative_to(settings, path.parent)


def default_config_path() -> Path:
    """The configuration when `--config` is not given: $CROSSPOSTER_CONFIG, else
    $XDG_CONFIG_HOME/crossposter/feeds.yaml; ConfigError naming both when neither is there."""
    given = os.environ.get(CONFIG_VARIABLE)
    if given:
        return Path(given).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    path = Path(base) / "crossposter" / "feeds.yaml"
    if not path.is_file():
        raise ConfigError(
            f"no configuration found: --config was not given, {CONFIG_VARIABLE} is not set "
            f"and {path} does not exist; give --config FILE"
        )
    return path


class ReloadingSettings:
    """The configuration of a long run: read again when its file changes, or when asked.

    A change that does not load is refused, logged once, and the last good
    configuration stays in use: a typo in an edit must not stop a running service.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._seen = _content_digest(self.path)
        self.settings = load_settings(self.path)

    def reload(self, *, force: bool = False) -> bool:
        """Re-read the file if it changed (or `force`); True when new settings are in use."""
        seen = _content_digest(self.path)
        if seen == self._seen and not force:
            return False
        # Remembered even when it fails to load: a broken edit is reported once, not every pass.
        self._seen = seen
        try:
            settings = load_settings(self.path)
        except ConfigError as error:
            if len(error.problems) == 1:
                log.error("configuration not reloaded: %s; keeping the last good one", error)
            else:
                log.error(
                    "configuration not reloaded (%d problems); keeping the last good one",
                    len(error.problems),
                )
                for problem in error.problems:
                    log.error("%s", problem)
            return False
        self.settings = settings
        log.info("configuration changed; reloaded (%s)", plural(len(settings.feeds), "feed"))
        return True


def _content_digest(path: Path) -> str | None:
    # The content, not the modification time: two edits within a second still differ.
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _relative_to(settings: Settings, folder: Path) -> Settings:
    """Relative paths in a configuration mean: next to the configuration file."""
    state_file = _next_to(settings.state_file, folder)
    paths = {
        name: _next_to(getattr(settings, name), folder)
        for name in (
            "access_token_file",
            "heartbeat_file",
            "links_file",
            "replies_file",
            "webhook_secret_file",
        )
        if getattr(settings, name) is not None
    }
    feeds = []
    for feed in settings.feeds:
        if is_local(feed.url) and not feed.url.lower().startswith("file:"):
            local = Path(feed.url).expanduser()
            if not local.is_absolute():
                feed = feed.model_copy(update={"url": str(folder / local)})
        feeds.append(feed)
    accounts = {
        name: account.model_copy(
            update={"access_token_file": _next_to(account.access_token_file, folder)}
        )
        if account.access_token_file is not None
        else account
        for name, account in settings.accounts.items()
    }
    return settings.model_copy(
        update={"state_file": state_file, "feeds": feeds, "accounts": accounts, **paths}
    )


def _next_to(path: Path, folder: Path) -> Path:
    path = path.expanduser()
    return path if path.is_absolute() else folder / path


def _read_yaml(path: Path) -> tuple[dict[str, Any], Source]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the configuration: {error.strerror}") from None
    try:
        node, data = _compose(text, _FAST_LOADER)
    except yaml.YAMLError:
        try:
            # libyaml words its errors its own way; the hints know PyYAML's.
            node, data = _compose(text, yaml.SafeLoader)
        except yaml.MarkedYAMLError as error:
            raise ConfigError(describe_yaml_error(error, Source(path, text))) from None
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the configuration must be a mapping of keys to values")
    _refuse_repeated_keys(node, path)
    _warn_literal_newlines(node, path)
    return data, Source(path, text, node)


# libyaml's parser when PyYAML was built with it: a thousand feeds read in 40 ms, not 300.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose(text: str, loader_class: type) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (each string knows how it was quoted, and where it
    is) and the values built from it."""
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        return node, loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()


def _refuse_repeated_keys(root: yaml.Node | None, path: Path) -> None:
    """A key given twice in one mapping: YAML keeps the last silently, and a second `feeds:`
    pasted at the end of the file, or a feed's second `url:`, would drop the first."""
    nodes = [root] if root is not None else []
    while nodes:
        node = nodes.pop()
        if isinstance(node, yaml.SequenceNode):
            nodes += node.value
        if not isinstance(node, yaml.MappingNode):
            continue
        first: dict[str, yaml.Node] = {}
        for key, value in node.value:
            nodes.append(value)
            # `<<` merges another mapping in, and may be given more than once.
            if not isinstance(key, yaml.ScalarNode) or key.value == "<<":
                continue
            if key.value in first:
                mark = key.start_mark
                raise ConfigError(
                    f"{path}:{mark.line + 1}:{mark.column + 1}: {key.value} is given twice "
                    f"(first on line {first[key.value].start_mark.line + 1}); keep one"
                )
            first[key.value] = key


def _warn_literal_newlines(root: yaml.Node | None, path: Path) -> None:
    """A template's \\n in single quotes (or none) stays a backslash and an n: say so."""
    if not isinstance(root, yaml.MappingNode):
        return
    templates: list[tuple[str, yaml.Node]] = []
    for key, value in root.value:
        if key.value == "defaults" and isinstance(value, yaml.MappingNode):
            templates += [("defaults", v) for k, v in value.value if k.value == "template"]
        if key.value == "feeds" and isinstance(value, yaml.SequenceNode):
            for index, feed in enumerate(value.value):
                if isinstance(feed, yaml.MappingNode):
                    name = next((v.value for k, v in feed.value if k.value == "name"), None)
                    label = f"feed {name}" if isinstance(name, str) else f"feeds[{index}]"
                    templates += [(label, v) for k, v in feed.value if k.value == "template"]
    for label, node in templates:
        if isinstance(node, yaml.ScalarNode) and node.style != '"' and "\\n" in node.value:
            log.warning(
                "%s:%d: %s: the template's \\n stays a backslash and an n: YAML keeps \\n "
                "literal in single quotes and unquoted; use double quotes or a | block "
                "for a new line",
                path,
                node.start_mark.line + 1,
                label,
            )


def _apply_defaults(raw: dict[str, Any], source: Source) -> dict[str, Any]:
    """Give every feed the `defaults:` it does not set itself.

    A key of `defaults:` that is not a feed setting is left with `defaults:`, where
    it is reported once, instead of again under every feed.
    """
    defaults = raw.get("defaults") or {}
    feeds = raw.get("feeds") or []
    if not isinstance(defaults, dict):
        expected = "feed settings (key: value, indented under it)"
        raise ConfigError(f"{source.at(['defaults'])}: defaults: {takes(expected, defaults)}")
    if not isinstance(feeds, list):
        expected = "a list, a '- name: ...' entry for each feed"
        raise ConfigError(f"{source.at(['feeds'])}: feeds: {takes(expected, feeds)}")
    inherited = {key: value for key, value in defaults.items() if key in FeedOptions.model_fields}
    merged = []
    for index, feed in enumerate(feeds):
        if not isinstance(feed, dict):
            expected = "a feed's settings (name: ..., url: ..., indented under its '- ')"
            where = source.at(["feeds", index])
            raise ConfigError(f"{where}: feeds[{index}]: {takes(expected, feed)}")
        merged.append({**inherited, **feed})
    return {**raw, "feeds": merged}
