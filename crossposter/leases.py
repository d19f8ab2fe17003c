"""Which feeds this process works on: those it leased, kept while it works on them.

Several processes on one state database split the feeds between them: a feed is
leased to one at a time (LeasesRole.take_leases), renewed here every third of
`lease_timeout` by a thread while the pass works, and released once its handling
is committed. A process that dies stops renewing; its feeds are taken over by
another once their leases expire, and their pending posts retried with the same
keys. A state file is one process's alone: there every lease is granted.

A repair by hand (`state retry`, `retract`...) leases the feeds it changes too
(`leased_for_repair`), so it never changes a feed under a run working on it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING

from crossposter.errors import StateError, StateLocked
from crossposter.health import worker_id
from crossposter.logsafe import plural
from crossposter.state import LeasesRole

if TYPE_CHECKING:
    from crossposter.config import Settings

log = logging.getLogger(__name__)


class FeedLeases:
    """The leases of one pass. Use as a context manager: leaving it releases what is left."""

    def __init__(self, state: LeasesRole, worker: str, timeout: float):
        self.state = state
        self.worker = worker
        self.duration = timedelta(seconds=timeout)
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._renewer = threading.Thread(
            target=self._renew_until_done, args=(timeout / 3,), name="lease-renewer", daemon=True
        )

    def __enter__(self) -> FeedLeases:
        self._renewer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._renewer.join()
        with self._lock:
            left, self._held = self._held, set()
        if left:
            self._release(left)

    def take(self, feeds: Iterable[str]) -> set[str]:
        """Those of `feeds` this process may work on now; the others are another's."""
        wanted = set(feeds)
        taken = self._take(wanted)
        for feed in sorted(wanted - taken):
            log.debug("feed %s: another process is working on it; skipped this pass", feed)
        return taken

    def _take(self, feeds: set[str]) -> set[str]:
        taken = self.state.take_leases(feeds, self.worker, self.duration) if feeds else set()
        with self._lock:
            self._held |= taken
        return taken

    def take_all(self, feeds: Iterable[str], wait: float) -> None:
        """Every one of `feeds`, waiting up to `wait` seconds for the processes working on
        them to let go; StateLocked naming one of them otherwise (then none is kept)."""
        missing = set(feeds)
        deadline = time.monotonic() + wait
        while missing := missing - self._take(missing):
            left = deadline - time.monotonic()
            if left <= 0:
                raise StateLocked(self._held_by_others(missing))
            # Runs let go of a feed as soon as it is handled, a pass's slice at a time.
            time.sleep(min(0.2, left))

    def _held_by_others(self, feeds: set[str]) -> str:
        leases = sorted(
            (lease for lease in self.state.leases() if lease.feed in feeds),
            key=lambda lease: lease.feed,
        )
        if not leases:  # let go of just now
            holder = f"feed {min(feeds)}: another crossposter run is working on it"
        else:
            lease = leases[0]
            holder = (
                f"feed {lease.feed}: another crossposter run ({lease.worker}) is working on it, "
                f"its lease runs until {lease.expires_at:%H:%M:%S} UTC unless renewed"
            )
            if len(leases) > 1:
                holder += f" (and {len(leases) - 1} more feeds)"
        return f"{holder}; nothing was changed (set lock_timeout to wait for it)"

    def release(self, feeds: Iterable[str]) -> None:
        """Done with `feeds`: call once what was done with them is committed."""
        feeds = set(feeds)
        with self._lock:
            self._held -= feeds
            if feeds:
                self._release(feeds)

    def _release(self, feeds: set[str]) -> None:
        try:
            self.state.release_leases(feeds, self.worker)
        except StateError as error:
            # They expire on their own: another process waits lease_timeout, no more.
            log.warning("could not release the leases of %s: %s", plural(len(feeds), "feed"), error)

    def _renew_until_done(self, every: float) -> None:
        while not self._done.wait(every):
            # Under the lock: a feed released meanwhile must not look lost.
            with self._lock:
                held = set(self._held)
                if not held:
                    continue
                try:
                    kept = self.state.renew_leases(held, self.worker, self.duration)
                except StateError as error:
                    log.warning("could not renew the feeds' leases: %s", error)
                    continue
            for feed in sorted(held - kept):
                # This process stalled past lease_timeout: another may already work on it.
                log.warning("feed %s: its lease was lost; another process may take it", feed)


@contextlib.contextmanager
def leased_for_repair(
    state: LeasesRole, settings: Settings, feeds: Iterable[str], command: str
) -> Iterator[None]:
    """Hold `feeds` while `command` (a repair by hand) changes them, waiting up to
    `lock_timeout` for the runs working on them, as a state file's lock is waited for."""
    # Not the worker's own name: a command run inside a replica's container (same
    # CROSSPOSTER_WORKER_ID) would otherwise renew, then release, that replica's leases.
    worker = f"{worker_id()} ({command}, pid {os.getpid()})"
    with FeedLeases(state, worker, settings.lease_timeout) as leases:
        leases.take_all(feeds, wait=settings.lock_timeout)
        yield
