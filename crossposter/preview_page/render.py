"""The page from its view, through Jinja2 templates with autoescaping: nothing from a feed or a
page reaches the HTML unescaped, and no link leads anywhere but http(s)."""

from __future__ import annotations

from urllib.parse import urlsplit

import jinja2

from crossposter.preview_page.view import Page

# The page asks for nothing: no script, no font, no image but those inlined in it.
CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def safe_href(url: str) -> str:
    """`url` when it is an http(s) address, else "": a `javascript:` link never becomes one."""
    return url if urlsplit(url.strip()).scheme.lower() in ("http", "https") else ""


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("crossposter.preview_page", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["safe_href"] = safe_href
    return environment


def render_page(page: Page) -> str:
    template = _environment().get_template("page.html.j2")
    return template.render(page=page, csp=CONTENT_SECURITY_POLICY)
