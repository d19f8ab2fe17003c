"""The way back to the blog as files: `links_file` and `replies_file`, rewritten after a
run (or a retraction) that changed them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from crossposter.after_posting.links import configured_accounts, links_json
from crossposter.after_posting.replies import replies_json
from crossposter.files import replace_if_changed

if TYPE_CHECKING:
    from crossposter.config import Settings
    from crossposter.state import AfterPostingRole


def write_site_files(settings: Settings, state: AfterPostingRole) -> list[Path]:
    """Rewrite `links_file` and `replies_file` (those configured) when their content changed;
    the files written. Readable by the site generator (0644), replaced whole."""
    if settings.links_file is None and settings.replies_file is None:
        return []
    posts = state.announced()
    documents = []
    if settings.links_file is not None:
        documents.append((settings.links_file, links_json(posts, configured_accounts(settings))))
    if settings.replies_file is not None:
        documents.append((settings.replies_file, replies_json(posts)))
    return [path for path, text in documents if replace_if_changed(path, text, 0o644)]
