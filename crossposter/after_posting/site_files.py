"""The way back to the blog as files: `links_file` and `replies_file`, rewritten after a
run (or a retraction) that changed them."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from crossposter.after_posting.links import configured_accounts, links_json
from crossposter.after_posting.replies_file import replies_json
from crossposter.files import replace_if_changed
from crossposter.state import now_utc

if TYPE_CHECKING:
    from crossposter.config import Settings
    from crossposter.state import AfterPostingRole

log = logging.getLogger(__name__)


def write_site_files(settings: Settings, state: AfterPostingRole) -> bool:
    """Rewrite `links_file` and `replies_file` (those configured) when their content changed,
    readable by the site generator (0644), replaced whole; whether all could be.

    Each is tried: one that cannot be written is one ERROR (the toots went out and the
    state says so: the next run writes it again), and does not keep the other from being.
    """
    if settings.links_file is None and settings.replies_file is None:
        return True
    posts = state.announced()
    documents = []
    if settings.links_file is not None:
        documents.append((settings.links_file, links_json(posts, configured_accounts(settings))))
    if settings.replies_file is not None:
        window = timedelta(seconds=settings.replies_window)
        documents.append((settings.replies_file, replies_json(posts, now_utc(), window)))
    written = True
    for path, text in documents:
        try:
            if replace_if_changed(path, text, 0o644):
                log.debug("%s rewritten", path)
        except OSError as error:
            log.error("%s: cannot write it: %s", error.filename or path, error.strerror)
            written = False
    return written
