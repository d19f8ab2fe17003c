"""The JSON Schema of feeds.yaml, from the same models that validate it, for editors."""

from __future__ import annotations

import json
from typing import Any

from crossposter.config import ENVIRONMENT_ONLY, Settings


def config_schema() -> dict[str, Any]:
    """What may be written in the configuration file: every setting but the env-only ones."""
    schema = Settings.model_json_schema()
    for name in ENVIRONMENT_ONLY:
        schema["properties"].pop(name, None)
        if name in schema.get("required", ()):
            schema["required"].remove(name)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": "crossposter configuration",
        "description": "feeds.yaml: the Mastodon instance, the feeds and how their toots look. "
        "The access token is never written here.",
    }


def config_schema_text() -> str:
    return json.dumps(config_schema(), indent=2, ensure_ascii=False) + "\n"
