"""Which feeds this process works on: those it leased, kept while it works on them.

Several processes on one state database split the feeds between them: a feed is
leased to one at a time (State.take_leases), renewed here every third of
`lease_timeout` by a thread while the pass works, and released once its handling
is committed. A process that dies stops renewing; its feeds are taken over by
another once their leases expire, and their pending posts retried with the same
keys. A state file is one process's alone: there every lease is granted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import timedelta

from crossposter.errors import StateError
from crossposter.state import State

log = logging.getLogger(__name__)


class FeedLeases:
    """The leases of one pass. Use as a context manager: leaving it releases what is left."""

    def __init__(self, state: State, worker: str, timeout: float):
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
        taken = self.state.take_leases(wanted, self.worker, self.duration) if wanted else set()
        with self._lock:
            self._held |= taken
        for feed in sorted(wanted - taken):
            log.debug("feed %s: another process is working on it; skipped this pass", feed)
        return taken

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
            log.warning("could not release the leases of %d feeds: %s", len(feeds), error)

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
