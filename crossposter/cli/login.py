"""`crossposter login` and `logout`: the conversation at the terminal.

The OAuth work is crossposter.mastodon.login's; this module asks for the code
and says where the token went, or that it is gone.
"""

from __future__ import annotations

import argparse
import sys

from crossposter.cli.common import log
from crossposter.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE


def add_login_arguments(login: argparse.ArgumentParser) -> None:
    login.description = (
        "Register crossposter on your instance, authorize it in a browser, paste "
        "the code it shows, and get an access token (scopes: write:statuses write:media "
        "read:accounts read:statuses). The token is saved where `crossposter run` finds it."
    )
    login.add_argument(
        "--instance", required=True, metavar="URL", help="your instance, e.g. mastodon.social"
    )
    login.add_argument(
        "--scope",
        action="append",
        choices=["attribution"],
        default=[],
        help="also ask for write:accounts, which `crossposter attribution --apply` needs",
    )
    where = login.add_mutually_exclusive_group()
    where.add_argument(
        "--token-file",
        metavar="PATH",
        help="save the token here, readable by you only "
        "(default: $XDG_CONFIG_HOME/crossposter/<instance>.token)",
    )
    where.add_argument(
        "--print",
        action="store_true",
        help="print the token instead, for an environment variable or a secret",
    )


def command_login(args: argparse.Namespace) -> int:
    from crossposter.accounts import app_file, default_token_file
    from crossposter.config import TOKEN_FILE_VARIABLE
    from crossposter.mastodon.login import (
        finish_login,
        instance_base_url,
        save_token,
        scopes_for,
        start_login,
    )

    instance_url = instance_base_url(args.instance)
    token_file = args.token_file or default_token_file(instance_url)
    authorization = start_login(
        instance_url, app_file=app_file(token_file, instance_url), scopes=scopes_for(args.scope)
    )
    if authorization.app_not_kept:
        say(
            f"note: the app registered on the instance could not be kept in "
            f"{authorization.app_not_kept}; the next login registers another"
        )
    say(
        "Open this address in a browser where you are logged in to the account that "
        "will post, and authorize crossposter:\n\n"
        f"  {authorization.url}\n"
    )
    say("Then paste the code it shows here: ", end="")
    code = sys.stdin.readline().strip()
    if not code:
        log.error("no code given; nothing was saved")
        return EXIT_USAGE
    logged_in = finish_login(authorization, code)
    account = f"@{logged_in.account}" if logged_in.account else "your account"
    if args.print:
        say(f"Access token for {account}; keep it secret:")
        print(logged_in.token)
        return EXIT_OK
    try:
        path = save_token(logged_in.token, token_file)
    except OSError as error:
        log.error(
            "cannot save the token to %s: %s; log in again with --print or --token-file PATH",
            token_file,
            error.strerror or error,
        )
        return EXIT_FAILED
    say(f"Access token for {account} saved to {path} (readable by you only).")
    if not args.token_file:
        say("`crossposter run` finds it there for this instance.")
    else:
        say(f"Point crossposter at it: access_token_file: {path}  (or {TOKEN_FILE_VARIABLE})")
    return EXIT_OK


def say(message: str, end: str = "\n") -> None:
    """A word to the person at the terminal; stdout stays for what they asked to print."""
    print(message, end=end, file=sys.stderr, flush=True)


def add_logout_arguments(logout: argparse.ArgumentParser) -> None:
    logout.description = (
        "Revoke the token `crossposter login` saved for the instance (POST "
        "/oauth/revoke), then delete the token and app files. A token the instance already "
        "refuses is still deleted here (exit 0); an instance that cannot be reached keeps "
        "both (exit 75)."
    )
    logout.add_argument("--instance", required=True, metavar="URL", help="e.g. mastodon.social")
    logout.add_argument(
        "--token-file",
        metavar="PATH",
        help="the token to revoke, as given to `login --token-file` "
        "(default: $XDG_CONFIG_HOME/crossposter/<instance>.token)",
    )


def command_logout(args: argparse.Namespace) -> int:
    from pathlib import Path

    from crossposter.accounts import app_file, default_token_file, read_token_file
    from crossposter.mastodon.login import instance_base_url, read_app, revoke

    instance_url = instance_base_url(args.instance)
    token_file = Path(args.token_file or default_token_file(instance_url)).expanduser()
    apps = app_file(token_file, instance_url)
    if not token_file.exists():
        # Logged out already: the wish is fulfilled.
        say(f"No token saved in {token_file}: nothing to revoke.")
        apps.unlink(missing_ok=True)
        return EXIT_OK
    token = read_token_file(token_file)
    if revoke(instance_url, token, read_app(apps, instance_url)):
        say(f"The token was revoked at {instance_url}.")
    elif not apps.exists():
        say(
            f"No app file beside the token: it cannot be revoked from here; revoke "
            f"crossposter at {instance_url}/oauth/authorized_applications."
        )
    else:
        say(f"{instance_url} no longer accepts the token.")
    token_file.unlink()
    apps.unlink(missing_ok=True)
    say(f"Deleted {token_file} and its app file.")
    return EXIT_OK
