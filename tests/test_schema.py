"""`crossposter config-schema`: the JSON Schema of feeds.yaml, generated from the models
that validate it, shipped as crossposter.schema.json, and named by the shipped configs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from crossposter.cli import main
from crossposter.config import load_settings

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "crossposter.schema.json"
SCHEMA_COMMENT = re.compile(r"^# yaml-language-server: \$schema=(\S+)$", re.MULTILINE)
SHIPPED_CONFIGS = [ROOT / "feeds.yaml", ROOT / "examples" / "demo.yaml"]


def validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def problems(document) -> list[str]:
    return [error.message for error in validator().iter_errors(document)]


def test_the_shipped_schema_is_what_config_schema_prints(capsys):
    assert main(["config-schema"]) == 0
    printed = capsys.readouterr().out
    assert printed == SCHEMA_FILE.read_text(encoding="utf-8"), (
        "crossposter.schema.json is stale; regenerate it: "
        "crossposter config-schema > crossposter.schema.json"
    )


def test_the_schema_is_a_valid_json_schema():
    Draft202012Validator.check_schema(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def test_the_token_is_not_in_the_schema_since_it_never_goes_in_the_file():
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert "access_token" not in schema["properties"]
    assert "access_token_file" in schema["properties"]


@pytest.mark.parametrize("config", SHIPPED_CONFIGS, ids=lambda path: path.name)
def test_shipped_configs_point_editors_at_the_shipped_schema(config):
    match = SCHEMA_COMMENT.search(config.read_text(encoding="utf-8"))
    assert match, f"{config.name} lacks the yaml-language-server comment"
    assert (config.parent / match.group(1)).resolve() == SCHEMA_FILE


def every_config_naming_the_schema() -> list[Path]:
    candidates = [ROOT / "feeds.yaml", *sorted((ROOT / "examples").rglob("*.yaml"))]
    return [path for path in candidates if SCHEMA_COMMENT.search(path.read_text("utf-8"))]


@pytest.mark.parametrize("config", every_config_naming_the_schema(), ids=lambda path: path.name)
def test_configs_naming_the_schema_validate_against_it_and_load(config):
    assert problems(yaml.safe_load(config.read_text(encoding="utf-8"))) == []
    assert load_settings(config).feeds


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"feeds": []}, "is not valid under any of the given schemas"),
        (
            {"accounts": {}, "feeds": [{"name": "b", "url": "u", "account": "w"}]},
            "is not valid under any of the given schemas",
        ),
        (
            {"instance": "https://m.example", "feeds": [{"name": "b", "url": "u", "bakfill": 1}]},
            "'bakfill' was unexpected",
        ),
        (
            {"instance": "https://m.example", "defaults": {"visibility": "everyone"}},
            "'everyone' is not valid",
        ),
        ({"instance": "https://m.example", "access_token": "abc"}, "'access_token' was unexpected"),
    ],
)
def test_the_schema_underlines_what_the_loader_would_refuse(document, expected):
    assert any(expected in problem for problem in problems(document)), problems(document)
