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
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from crossposter.config import SECRET_VARIABLES, Settings
from crossposter.state import AfterPostingRole

log = logging.getLogger(__name__)

HOOK_DEADLINE = 30.0
EVENTS = ("posted", "edited", "retracted")
# What a failing command's output may add to the warning.
OUTPUT_SHOWN = 500
# How long the output is still read once the command ended or was killed.
READ_AFTER_END = 1.0
_POLL = 0.05


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
    stop: threading.Event | None = None,
) -> bool:
    """Run `command` for `event` unless it already ran for it; whether it ran and succeeded.

    `hidden` names variables the command must not see (the access tokens); once `stop` is
    set, the command is stopped.
    """
    if not command:
        return False
    if event.event not in EVENTS:
        raise ValueError(f"unknown hook event {event.event!r}")
    occurrence = event.occurrence or event.toot_id
    if not state.claim_hook(event.feed, event.entry_id, event.event, occurrence):
        log.debug("feed %s: on_posted already ran for %s", event.feed, event.entry_id)
        return False
    return run_command(command, event, hidden=hidden, deadline=deadline, stop=stop)


def notify_feed(
    state: AfterPostingRole,
    settings: Settings,
    event: HookEvent,
    stop: threading.Event | None = None,
) -> bool:
    """`notify` with the `on_posted` of the event's feed, hiding this configuration's tokens."""
    feed = settings.feed_named(event.feed)
    if feed is None:
        return False
    return notify(state, feed.on_posted, event, hidden=secret_variables(settings), stop=stop)


def run_command(
    command: str,
    event: HookEvent,
    *,
    hidden: Iterable[str] = (),
    deadline: float = HOOK_DEADLINE,
    stop: threading.Event | None = None,
) -> bool:
    """Run `command` through the shell with the event in its environment; True on exit 0.

    At `deadline`, or once `stop` is set, the command is stopped with every process of its
    group."""
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
    output, stopped = _outcome(process, deadline, stop)
    if stopped:
        log.warning(
            "feed %s: on_posted (%s) stopped %s: %s",
            event.feed,
            event.event,
            stopped,
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


def secret_variables(settings: Settings) -> set[str]:
    """Every variable a secret of this configuration may come from, its tokens included."""
    named = {account.access_token_env for account in settings.accounts.values()}
    return {*SECRET_VARIABLES, *(name for name in named if name)}


def hook_environment(environment: dict[str, str] | os._Environ, hidden: Iterable[str]) -> dict:
    """The environment without any secret crossposter reads."""
    secret = {*SECRET_VARIABLES, *hidden}
    return {name: value for name, value in environment.items() if name not in secret}


def _outcome(
    process: subprocess.Popen, deadline: float, stop: threading.Event | None
) -> tuple[bytes, str | None]:
    """The command's output, and why it was stopped (None: it ended by itself).

    Its output is read until the pipe closes, but for at most READ_AFTER_END once the
    command has ended or been killed: a child it detached (setsid) left its group, and may
    hold the pipe open for as long as it lives."""
    started = time.monotonic()
    ended_at: float | None = None
    stopped: str | None = None
    output = b""
    while True:
        try:
            output, _ = process.communicate(timeout=_POLL)
            return output, stopped
        except subprocess.TimeoutExpired as partial:
            # Each call goes on reading where the last one left off.
            output = partial.output or b""
        now = time.monotonic()
        if stopped is None and ended_at is None:
            if stop is not None and stop.is_set():
                stopped = "on a stop request"
            elif now - started >= deadline:
                stopped = f"after {deadline:g} s"
            if stopped:
                _kill_group(process)
        if ended_at is None and process.poll() is not None:
            ended_at = now
        if ended_at is not None and now - ended_at >= READ_AFTER_END:
            process.stdout.close()
            return output, stopped


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _tail(output: bytes | None) -> str:
    text = (output or b"").decode("utf-8", "replace").strip()
    return text[-OUTPUT_SHOWN:] or "(no output)"
