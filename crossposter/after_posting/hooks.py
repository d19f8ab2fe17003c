"""`on_posted`: the user's command, run after a toot is posted, edited or retracted.

It is how a blog learns its toot (a WordPress custom field, a Micropub
`syndication` link). The command never holds up or undoes the work: a failure
or an overrun is a warning, and neither the state nor the exit code changes.
It runs at most once per event: the state notes the event before the command
starts, so a crash during it never runs it again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

from crossposter.config import TOKEN_VARIABLE, WEBHOOK_SECRET_VARIABLE, Settings
from crossposter.state import AfterPostingRole

log = logging.getLogger(__name__)

HOOK_DEADLINE = 30.0
EVENTS = ("posted", "edited", "retracted")
# What a failing command's output may add to the warning.
OUTPUT_SHOWN = 500


@dataclass(frozen=True)
class HookEvent:
    """What happened to one entry's toot; `occurrence` tells two edits of the same toot apart."""

    event: str
    feed: str
    entry_id: str
    article_url: str | None
    toot_id: str
    toot_url: str | None
    occurrence: str = ""

    def environment(self) -> dict[str, str]:
        return {
            "CROSSPOSTER_EVENT": self.event,
            "CROSSPOSTER_FEED": self.feed,
            "CROSSPOSTER_ARTICLE_URL": self.article_url or "",
            "CROSSPOSTER_TOOT_URL": self.toot_url or "",
            "CROSSPOSTER_TOOT_ID": self.toot_id,
        }


def notify(
    state: AfterPostingRole,
    command: str | None,
    event: HookEvent,
    *,
    hidden: Iterable[str] = (),
    deadline: float = HOOK_DEADLINE,
) -> bool:
    """Run `command` for `event` unless it already ran for it; whether it ran and succeeded.

    `hidden` names variables the command must not see (the access tokens).
    """
    if not command:
        return False
    if event.event not in EVENTS:
        raise ValueError(f"unknown hook event {event.event!r}")
    occurrence = event.occurrence or event.toot_id
    if not state.claim_hook(event.feed, event.entry_id, event.event, occurrence):
        log.debug("feed %s: on_posted already ran for %s", event.feed, event.entry_id)
        return False
    return run_command(command, event, hidden=hidden, deadline=deadline)


def notify_feed(state: AfterPostingRole, settings: Settings, event: HookEvent) -> bool:
    """`notify` with the `on_posted` of the event's feed, hiding this configuration's tokens."""
    feed = settings.feed_named(event.feed)
    if feed is None:
        return False
    return notify(state, feed.on_posted, event, hidden=token_variables(settings))


def run_command(
    command: str,
    event: HookEvent,
    *,
    hidden: Iterable[str] = (),
    deadline: float = HOOK_DEADLINE,
) -> bool:
    """Run `command` through the shell with the event in its environment; True on exit 0."""
    environment = hook_environment(os.environ, hidden)
    environment.update(event.environment())
    # A session of its own: at the deadline the whole group goes, a shell's children too.
    process = subprocess.Popen(
        command,
        shell=True,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=deadline)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        output, _ = process.communicate()
        log.warning(
            "feed %s: on_posted (%s) stopped after %g s: %s",
            event.feed,
            event.event,
            deadline,
            _tail(output),
        )
        return False
    if process.returncode != 0:
        log.warning(
            "feed %s: on_posted (%s) failed with exit status %s: %s",
            event.feed,
            event.event,
            process.returncode,
            _tail(output),
        )
        return False
    log.debug("feed %s: on_posted (%s) done for %s", event.feed, event.event, event.entry_id)
    return True


def token_variables(settings: Settings) -> set[str]:
    """Every variable a token of this configuration may come from."""
    named = {account.access_token_env for account in settings.accounts.values()}
    return {TOKEN_VARIABLE, *(name for name in named if name)}


def hook_environment(environment: dict[str, str] | os._Environ, hidden: Iterable[str]) -> dict:
    """The environment without any token or secret crossposter reads."""
    secret = {TOKEN_VARIABLE, WEBHOOK_SECRET_VARIABLE, *hidden}
    return {name: value for name, value in environment.items() if name not in secret}


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _tail(output: bytes | None) -> str:
    text = (output or b"").decode("utf-8", "replace").strip()
    return text[-OUTPUT_SHOWN:] or "(no output)"
