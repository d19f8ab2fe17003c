"""Durations as people write them in a crontab or a compose file (30s, 15m, 1h, 1h30m),
and as the logs say them back (30 s, 15 min, 1 h 30 min)."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_duration(text: str) -> float:
    """Seconds in `text`; a bare number is seconds. Raises ValueError when it is not a duration."""
    text = text.strip().lower()
    try:
        seconds = float(text)
    except ValueError:
        parts = _PART.findall(text)
        if not parts or "".join(number + unit for number, unit in parts) != text:
            raise ValueError(f"{text!r} is not a duration such as 30s, 15m, 1h or 1h30m") from None
        seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    if seconds <= 0:
        raise ValueError(f"{text!r}: a duration must be longer than zero")
    return seconds


_WORDS = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))


def format_duration(seconds: float) -> str:
    """`seconds` for people, in its two largest units: 45 s, 15 min, 1 h 30 min, 2 d 3 h.

    A wait is approximate anyway: 2 d 3 h 4 min 5 s reads better as 2 d 3 h.
    Under ten seconds, tenths are kept (2.5 s).
    """
    if seconds < 10:
        return f"{round(seconds, 1):g} s"
    remaining = round(seconds)
    parts = []
    for unit, size in _WORDS:
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count} {unit}")
    return " ".join(parts[:2])
