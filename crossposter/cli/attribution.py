"""`crossposter attribution`: the sites that may credit the account in link cards.

Lists each account's attribution domains against its feeds' sites; `--apply` adds
the missing ones, keeping those already there. The work is crossposter.attribution's.
"""

from __future__ import annotations

import argparse

from crossposter.cli.common import add_common, log
from crossposter.exit_codes import EXIT_FAILED, EXIT_OK


def add_attribution_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Mastodon (4.3+) shows an article's author under its link card when the "
        "page names the account (fediverse:creator) and the account lists the page's domain "
        "among its attribution domains. Lists each account's domains and its feeds' sites; "
        "--apply adds the missing ones (Mastodon 4.4+, a token with write:accounts: "
        "`crossposter login --scope attribution`), keeping those already there."
    )
    add_common(parser)
    parser.add_argument(
        "--apply", action="store_true", help="add the missing domains to the account's"
    )


def command_attribution(args: argparse.Namespace) -> int:
    from crossposter.attribution import ATTRIBUTION_SETTING, apply_attribution, plan_attribution
    from crossposter.config import load_settings
    from crossposter.errors import PublishError

    settings = load_settings(args.config)
    failed = False
    for plan in plan_attribution(settings):
        who = f"@{plan.handle}" if plan.handle else plan.account.instance_url
        name = f"account {plan.account.name} ({who})"
        if plan.problem:
            log.error("%s: %s", name, plan.problem)
            failed = True
            continue
        sites = ", ".join(plan.wanted) or "none"
        if plan.current is None:
            print(
                f"{name}: the instance does not say its attribution domains "
                "(Mastodon 4.4 does); feeds' sites: " + sites
            )
            print(f"  set them in {ATTRIBUTION_SETTING}")
            # --apply cannot do what it was asked: a person must.
            failed = failed or args.apply
            continue
        print(f"{name}: attribution domains: {', '.join(plan.current) or 'none'}")
        print(f"  feeds' sites: {sites}")
        missing = plan.missing
        if not missing:
            print("  nothing to add")
            continue
        if not args.apply:
            print(f"  missing: {', '.join(missing)} (add them: --apply)")
            continue
        if not plan.settable:
            log.error(
                "%s: the instance cannot set attribution domains through its API "
                "(Mastodon 4.4 can); add %s in %s",
                name,
                ", ".join(missing),
                ATTRIBUTION_SETTING,
            )
            failed = True
            continue
        try:
            now = apply_attribution(settings, plan)
        except PublishError as error:
            hint = ""
            if "403" in str(error):
                hint = (
                    f"; the token needs write:accounts: crossposter login --instance "
                    f"{plan.account.instance_url} --scope attribution"
                )
            log.error("%s: the instance refused: %s%s", name, error, hint)
            failed = True
            continue
        print(f"  added: {', '.join(missing)}; attribution domains now: {', '.join(now or [])}")
    return EXIT_FAILED if failed else EXIT_OK
