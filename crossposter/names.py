"""How a category, tag or author name is compared: as a reader would read it.

Feeds and configurations spell one name many ways ("C++", "c++ ", "Ｃ＋＋",
"Développement  Web"); every comparison of names goes through `category_key`, so
that a filter, a content-warning category and a hashtag mapping agree on what
"the same name" means.
"""

from __future__ import annotations

import unicodedata

__all__ = ["category_key"]


def category_key(name: str, *, hashtag: bool = False) -> str:
    """`name` with case, Unicode width and form, and spacing aside.

    With `hashtag`, a leading "#" is aside too: a hashtag mapping's "#Python" and a
    feed's "Python" are the same name.
    """
    key = unicodedata.normalize("NFKC", name).casefold()
    if hashtag:
        # NFKC has made a full-width "＃" a "#".
        key = key.strip().lstrip("#")
    return " ".join(key.split())
