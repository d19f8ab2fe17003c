"""A log line shows what the network sent; it never acts on the terminal reading it."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from crossposter.cli import JsonFormatter
from crossposter.logsafe import EscapingFormatter, escape


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[2J", "\\x1b[2J"),
        ("a\nINFO forged line", "a\\nINFO forged line"),
        ("\x9b31m", "\\x9b31m"),
        ("file\u202etxt.exe", "file\\u202etxt.exe"),
        ("Café 👨\u200d👩\u200d👧 می\u200cخواهم", "Café 👨\u200d👩\u200d👧 می\u200cخواهم"),
    ],
)
def test_escape(text, shown):
    assert escape(text) == shown


def record_with_traceback(message: str, *args: object) -> logging.LogRecord:
    try:
        raise ValueError("server said \x1b]0;pwned\x07")
    except ValueError:
        exc_info = sys.exc_info()
    return logging.LogRecord("crossposter", logging.ERROR, __file__, 1, message, args, exc_info)


def test_a_text_line_and_its_traceback_are_escaped_but_for_the_tracebacks_line_breaks():
    formatter = EscapingFormatter(logging.Formatter("%(levelname)s %(message)s"))
    line = formatter.format(record_with_traceback("feed %s: %s", "blog", "HTTP 503 \x1b[2J"))
    assert line.startswith("ERROR feed blog: HTTP 503 \\x1b[2J\nTraceback")
    assert "\x1b" not in line and "\x07" not in line
    assert "ValueError: server said \\x1b]0;pwned\\x07" in line


def test_a_json_line_and_its_traceback_are_escaped():
    formatter = EscapingFormatter(JsonFormatter())
    document = json.loads(formatter.format(record_with_traceback("title %s", "a\u202eb")))
    assert document["message"] == "title a\\u202eb"
    assert "ValueError: server said \\x1b]0;pwned\\x07" in document["exception"]
