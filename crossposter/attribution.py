"""The author's byline under a toot's link card ("More from @user"), and what it needs.

Since Mastodon 4.3 a link card credits the article's author when the page carries
`<meta name="fediverse:creator" content="@user@instance">` (docs content/en/user/profile.md,
"Author attribution"; entities/PreviewCard.md, `authors`, "4.3.0 - added") and that
account lists the page's domain among its attribution domains: `source.attribution_domains`
of verify_credentials, settable with `attribution_domains[]` in update_credentials from
4.4 (API version 3; methods/accounts.md). A listed domain covers its subdomains
(Mastodon's app/models/concerns/account/attribution_domains.rb, `can_be_attributed_from?`).

The page comes from a feed: it is fetched under the public-address rule (net.public),
bounded in size and time (net.bounded). Reading the page is pure.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from crossposter.accounts import Account, accounts_in_use, feed_accounts, handle, with_token
from crossposter.config import Settings
from crossposter.errors import ConfigError, FeedError
from crossposter.feeds.fetch import FetchRequest, fetch_all
from crossposter.mastodon.capabilities import Capabilities
from crossposter.mastodon.client import mastodon_client
from crossposter.mastodon.instance import look_up_instance
from crossposter.mastodon.profile import attribution_domains, set_attribution_domains
from crossposter.mastodon.publish import translate_error
from crossposter.net.addresses import AddressPolicy, BlockedAddress
from crossposter.net.bounded import CutOff
from crossposter.net.limits import TooLarge
from crossposter.net.public import get_public, public_session
from crossposter.web import USER_AGENT, root_cause

CREATOR = "fediverse:creator"
# An article page is read up to here: the <head> comes first, and it is all that matters.
MAX_PAGE_BYTES = 2 * 1024 * 1024
MAX_REDIRECTS = 5
WORDPRESS_HINT = (
    "WordPress: in the theme's header.php, before </head>, under Appearance → Theme File "
    "Editor, or with a plugin that adds code to the <head>"
)
# Where a person lists the domains whose pages may credit their account.
ATTRIBUTION_SETTING = "Preferences → Public profile → Verification → Author attribution"


class PageUnavailable(Exception):
    """The article page could not be read; the message says why."""


@dataclass(frozen=True)
class Page:
    """What an article page says about its author."""

    url: str
    creators: tuple[str, ...] = ()
    wordpress: bool = False


def read_page(url: str, html: bytes) -> Page:
    """The `fediverse:creator` values of a page's <meta> tags, and whether WordPress made it."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    creators = []
    generators = []
    for meta in soup.find_all("meta"):
        name = str(meta.get("name") or meta.get("property") or "").strip().lower()
        content = str(meta.get("content") or "").strip()
        if name == CREATOR and content:
            creators.append(content[:300])
        elif name == "generator":
            generators.append(content.lower())
    return Page(url, tuple(creators), any("wordpress" in g for g in generators))


def meta_line(handle: str) -> str:
    """The exact tag for the page's <head>: `handle` as `@user@instance`."""
    return f'<meta name="{CREATOR}" content="@{handle.lstrip("@")}">'


def creator_advice(handle: str, *, wordpress: bool = True, domains: bool = True) -> tuple[str, str]:
    """What gives a page's cards the byline of `handle`: words ending in ':' (with `domains`,
    the attribution-domains step; where the line goes) and the <meta> line they introduce."""
    step = (
        "list the blog's domain among the account's attribution domains "
        f"({ATTRIBUTION_SETTING}, or run: crossposter attribution --apply) and "
        if domains
        else ""
    )
    where = f" ({WORDPRESS_HINT})" if wordpress else ""
    return f"{step}add this line to the <head> of the blog's pages{where}:", meta_line(handle)


def names(creator: str, handle: str) -> bool:
    """Whether a `fediverse:creator` value names the account `handle` (user@instance)."""
    return creator.strip().lstrip("@").lower() == handle.lstrip("@").lower()


def site_domain(url: str | None) -> str | None:
    host = urlsplit(url or "").hostname
    return host.rstrip(".").lower() if host else None


def covers(domains: Iterable[str], host: str) -> bool:
    """Whether the account's attribution domains let `host` credit it (subdomains count)."""
    segments = host.lower().split(".")
    variants = {".".join(segments[i:]) for i in range(len(segments))}
    return bool({domain.lower() for domain in domains} & variants)


def domains_to_add(current: Iterable[str], wanted: Iterable[str]) -> list[str]:
    """The wanted domains that `current` does not cover yet, each once, in order."""
    current = list(current)
    missing: list[str] = []
    for domain in wanted:
        if not covers(current + missing, domain) and domain not in missing:
            missing.append(domain)
    return missing


def fetch_page(
    url: str,
    policy: AddressPolicy,
    *,
    timeout: float,
    deadline: float,
    stop: threading.Event | None = None,
) -> Page:
    """The article page at `url`, read; PageUnavailable when it cannot be."""
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise PageUnavailable(f"{url}: only http(s) pages can be read")
    session = public_session(policy, USER_AGENT)
    session.max_redirects = MAX_REDIRECTS
    try:
        answer = get_public(
            url,
            session,
            accept="text/html",
            max_bytes=MAX_PAGE_BYTES,
            timeout=timeout,
            deadline=deadline,
            stop=stop,
        )
    except TooLarge:
        raise PageUnavailable(f"{url}: larger than {MAX_PAGE_BYTES} bytes") from None
    except CutOff as error:
        raise PageUnavailable(f"{url}: {error}") from None
    except BlockedAddress as error:
        raise PageUnavailable(
            f"{url}: {error}; feeds may point only at public addresses "
            "(allow_private_urls_in_feeds: true lifts this)"
        ) from None
    except requests.RequestException as error:
        raise PageUnavailable(f"{url}: {root_cause(error)}") from None
    finally:
        session.close()
    if answer.status != 200:
        raise PageUnavailable(f"{url} answered HTTP {answer.status}")
    return read_page(answer.url, answer.body)


@dataclass
class AccountDomains:
    """One account's attribution domains, against the sites its feeds announce."""

    account: Account
    # `user@instance`, once the instance confirmed the token.
    handle: str | None = None
    # source.attribution_domains; None when the instance does not say (before 4.4).
    current: list[str] | None = None
    # The domain of each feed's articles, in the configuration's order.
    wanted: list[str] = field(default_factory=list)
    # Whether the instance takes attribution_domains[] (mastodon.capabilities).
    settable: bool = False
    problem: str | None = None

    @property
    def missing(self) -> list[str]:
        return domains_to_add(self.current or [], self.wanted)


def plan_attribution(settings: Settings) -> list[AccountDomains]:
    """Each account in use: its attribution domains and its feeds' sites. Changes nothing."""
    sites = _feed_sites(settings)
    accounts = feed_accounts(settings)
    plans = []
    for account in accounts_in_use(settings):
        plan = AccountDomains(account)
        plan.wanted = list(
            dict.fromkeys(
                sites[feed]
                for feed, owner in accounts.items()
                if owner.name == account.name and sites.get(feed)
            )
        )
        _read_account(settings, plan)
        plans.append(plan)
    return plans


def apply_attribution(settings: Settings, plan: AccountDomains) -> list[str] | None:
    """Add the missing domains to the account's, keeping those it has; what it then lists.

    PublishError when the instance refuses (a 422 in its own words, a token without
    write:accounts).
    """
    api = _client(settings, plan.account)
    return set_attribution_domains(api, [*(plan.current or []), *plan.missing])


def _client(settings: Settings, account: Account) -> Any:
    account = with_token(settings, account)
    return mastodon_client(
        account.instance_url, timeout=settings.request_timeout, access_token=account.token
    )


def _read_account(settings: Settings, plan: AccountDomains) -> None:
    from mastodon import errors as mastodon_errors

    lookup = look_up_instance(plan.account.instance_url, timeout=settings.request_timeout)
    plan.settable = Capabilities.of(lookup.limits).attribution_domains
    try:
        api = _client(settings, plan.account)
        verified = api.account_verify_credentials()
    except ConfigError as error:
        plan.problem = str(error)
        return
    except mastodon_errors.MastodonError as error:
        plan.problem = f"the token cannot be verified: {translate_error(error, api)}"
        return
    plan.handle = handle(verified["acct"], lookup.limits.domain or plan.account.instance_url)
    plan.current = attribution_domains(verified)


def _feed_sites(settings: Settings) -> dict[str, str]:
    """Feed name → the domain of its articles (the newest one's link, else the feed's own)."""
    from crossposter.feeds.parse import parse_feed

    feeds = settings.enabled_feeds
    fetched = fetch_all([FetchRequest(f.name, f.url) for f in feeds], settings.fetch_options())
    sites = {}
    for result in fetched:
        links = []
        if result.error is None:
            try:
                parsed = parse_feed(result.content, url=result.final_url, headers=result.headers)
            except FeedError:
                parsed = None
            if parsed is not None:
                links = [entry.link for entry in parsed.entries] + [parsed.info.link]
        domain = next((site_domain(link) for link in links if site_domain(link)), None)
        domain = domain or site_domain(result.url)
        if domain:
            sites[result.name] = domain
    return sites
