"""`crossposter config-schema`: the JSON Schema of the configuration, for editors."""

from __future__ import annotations

import argparse
import sys

from crossposter.exit_codes import EXIT_OK


def add_config_schema_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Print the JSON Schema of feeds.yaml. Save it and point your editor at it "
        "with a `# yaml-language-server: $schema=crossposter.schema.json` line."
    )


def command_config_schema(args: argparse.Namespace) -> int:
    from crossposter.schema import config_schema_text

    sys.stdout.write(config_schema_text())
    return EXIT_OK
