"""The preview as a page (`run --dry-run --html`, `check --html`): each toot as Mastodon shows
it, with the link card the instance will build and what spoils it.

Imported only when a page is asked for: it brings Jinja2.
"""

from crossposter.preview_page.build import write_check_page, write_run_page

__all__ = ["write_check_page", "write_run_page"]
