"""Mastodon's Account::MENTION_RE (app/models/account.rb), transliterated.

ProcessMentionsService applies it to the whole text of a toot, links included: whatever
it matches notifies someone. Onigmo's [[:word:]] is Alphabetic | Mark | Decimal_Number |
Connector_Punctuation. Group 1 is the user name.
"""

from __future__ import annotations

import regex

__all__ = ["MENTION_RE"]

_W = r"[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}]"
MENTION_RE = regex.compile(
    rf"(?<![=/\p{{Alphabetic}}\p{{M}}\p{{Nd}}\p{{Pc}}])@([a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)"
    rf"(?:@{_W}+(?:[.-]+{_W}+)*)?",
    regex.IGNORECASE,
)
