"""What every HTTP request crossposter makes shares: who it says it is, and how a
failed connection is told to a person."""

from __future__ import annotations

import re

from crossposter import __version__

# Feeds, images, the instance: every server sees the same name, with where to read about it.
USER_AGENT = f"crossposter/{__version__} (+https://pypi.org/project/crossposter/)"

_CONNECTION_REPR = re.compile(r"^<?\w*Connection(?:Pool)?\b[^:]*: ")


def root_cause(error: BaseException) -> str:
    """What went wrong, in words a person reads in a cron mail.

    requests wraps urllib3's errors, which wrap the socket's: the innermost one
    says what happened; urllib3's messages start with a connection repr that
    says nothing new.
    """
    for _ in range(5):
        inner = getattr(error, "reason", None)
        if not isinstance(inner, BaseException):
            inner = next(
                (arg for arg in reversed(error.args) if isinstance(arg, BaseException)), None
            )
        if inner is None:
            break
        error = inner
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(error.args[0]) if error.args and isinstance(error.args[0], str) else str(error)
    return _CONNECTION_REPR.sub("", text)[:200] or type(error).__name__
