"""Log lines that show what the network sent rather than doing what it says.

Feed titles, URLs, HTTP reason phrases and servers' error messages end up in log
messages; an escape sequence among them (a reason phrase of "\\x1b[2J") would act
on the terminal reading the log, a line break would forge a log line, a
bidirectional override would reorder what follows. Escaping the final message
in the formatter means no call site can forget.
"""

from __future__ import annotations

import copy
import logging
import re
from urllib.parse import urlsplit

__all__ = ["EscapingFormatter", "escape", "plural"]

# C0 and C1 controls and DEL, bidirectional embeddings, overrides and isolates, the
# invisible U+200B, U+2060 and U+FEFF, and the Unicode line and paragraph separators.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069\ufeff]")


def escape(text: str, *, keep: str = "") -> str:
    """`text` with each unsafe character but those in `keep` written as Python would
    write it in a string literal (`\\x1b`, `\\n`, `\\u202e`)."""
    return _UNSAFE.sub(lambda match: _escaped(match.group(0), keep), text)


def _escaped(char: str, keep: str) -> str:
    if char in keep:
        return char
    return repr(char)[1:-1]


class EscapingFormatter(logging.Formatter):
    """Formats with `inner` a copy of the record whose message is escaped, and
    whose traceback is escaped but for its line breaks."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        safe = copy.copy(record)
        safe.msg, safe.args = escape(record.getMessage()), None
        if record.exc_info or record.exc_text:
            trace = record.exc_text or self.inner.formatException(record.exc_info)
            safe.exc_info, safe.exc_text = None, escape(trace, keep="\n")
        if record.stack_info:
            safe.stack_info = escape(record.stack_info, keep="\n")
        return self.inner.format(safe)


def plural(count: int, noun: str, many: str | None = None) -> str:
    """ "1 feed", "2 feeds", "0 entries" (with many="entries"): counts as a person writes them."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"


def redacted_url(url: str) -> str:
    """The URL as logs, `check` and `state` show it: any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    return parts._replace(netloc=f"{user}:***@{netloc[2]}").geturl()
