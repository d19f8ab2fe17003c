"""The account's attribution domains: the sites whose pages may credit it (Mastodon 4.4+).

Read from `source.attribution_domains` of GET /api/v1/accounts/verify_credentials and set
with `attribution_domains[]` in PATCH /api/v1/accounts/update_credentials (docs
content/en/methods/accounts.md: "4.4.0 (`mastodon` API version 3) - added
`attribution_domains` parameter"), through Mastodon.py's `account_update_credentials`.
"""

from __future__ import annotations

from typing import Any

from crossposter.mastodon.publish import translate_error


def attribution_domains(verified: Any) -> list[str] | None:
    """The domains a verify_credentials answer lists; None when the server does not say."""
    source = verified.get("source") if isinstance(verified, dict) else None
    domains = source.get("attribution_domains") if isinstance(source, dict) else None
    if not isinstance(domains, list):
        return None
    return [str(domain) for domain in domains]


def set_attribution_domains(api: Any, domains: list[str]) -> list[str] | None:
    """Replace the account's attribution domains; those the instance then lists.

    PublishError (mastodon.publish.translate_error) when the instance refuses: a 422
    carries its own words (an invalid domain, too many of them).
    """
    from mastodon import errors as mastodon_errors

    try:
        account = api.account_update_credentials(attribution_domains=list(domains))
    except mastodon_errors.MastodonError as error:
        raise translate_error(error, api) from None
    return attribution_domains(account)
