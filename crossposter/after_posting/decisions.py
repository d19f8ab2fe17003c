"""What happens to a toot after it went out: whether to edit it, whether its article is gone.

Pure decisions, no I/O: crossposter.after_posting.follow_up acts on them.

An edit is earned by the article, never by crossposter: only when the fields the
feed gave at posting (title, the summary's source, link, categories, image) have
changed *and* the toot composed from them now differs from the one posted. So an
upgrade, a settings change or turning `on_change: edit` on edits nothing by itself.

A feed lists only its latest items: an article absent from it is merely checked at
its own link, and only a 404 or 410 seen twice, an hour apart, counts as removed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from crossposter.models import Article, Toot

# How often an absent article's link is checked, and how far apart two answers of
# "gone" must be before its toot is deleted.
CHECK_INTERVAL = timedelta(hours=1)
GONE_STATUSES = (404, 410)
# The guard against mass deletion: more than this many "gone" answers in one run...
MASS_DELETION_MIN = 5
# ...that are also more than this share of the articles checked, delete nothing.
MASS_DELETION_SHARE = 1 / 3
# Mastodon allows 30 deletions per 30 minutes per account (MASTODON-RULES §3), counted
# over runs: the state records each deletion.
DELETIONS_PER_WINDOW = 30
DELETION_WINDOW = timedelta(minutes=30)


def article_change(
    recorded: Article | None,
    current: Article,
    *,
    posted_at: datetime | None,
    now: datetime,
    window: float,
) -> str | None:
    """Which of the article's own fields changed since its toot was posted, in words, when
    that toot may still be edited; else None.

    `recorded` is None for a toot posted before articles were recorded: never edited.
    Whether the recomposed toot differs too is `toot_differs`'s to say.
    """
    if recorded is None or posted_at is None:
        return None
    if now - posted_at > timedelta(seconds=window):
        return None
    changed = [name for name in _FIELDS if getattr(recorded, name) != getattr(current, name)]
    return f"its {', '.join(changed)} changed" if changed else None


_FIELDS = ("title", "summary", "link", "categories", "image")


def toot_differs(posted: Toot, recomposed: Toot) -> bool:
    """Whether what readers see would change: the text, or the image attached."""
    return posted.text != recomposed.text or posted.image_url != recomposed.image_url


def check_due(last_checked: datetime | None, now: datetime) -> bool:
    """An absent article's link is asked at most once an hour."""
    return last_checked is None or now - last_checked >= CHECK_INTERVAL


def removal_confirmed(gone_since: datetime | None, now: datetime) -> bool:
    """Whether a link answering 404/410 now was already gone on a check an hour ago or more."""
    return gone_since is not None and now - gone_since >= CHECK_INTERVAL


def mass_deletion(checked: int, gone: int) -> bool:
    """Too many articles gone at once: a permalink migration or a site answering 404 everywhere."""
    return gone > MASS_DELETION_MIN and gone > checked * MASS_DELETION_SHARE
