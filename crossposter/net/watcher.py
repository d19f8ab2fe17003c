"""One thread that ends every bounded exchange of the process on time.

A deadline must be enforced from outside the thread blocked on a socket. A
thread per exchange did that at the price of a thread start for every fetch
(1,000 feeds, 1,000 threads). Here one daemon thread keeps the deadlines in a
heap and sleeps until the nearest; while an exchange a stop request may end is
in flight, it also looks every POLL seconds whether that stop was requested
(a plain threading.Event cannot tell anyone it was set).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from typing import Protocol

log = logging.getLogger(__name__)

# How soon a stop request ends the exchanges in flight, at worst.
POLL = 0.1


class Watched(Protocol):
    """What the watcher needs of an exchange: when it ends, whether a stop may end it
    sooner, whether it is due now, and how to end it."""

    deadline: float

    @property
    def stoppable(self) -> bool: ...

    def due(self) -> bool: ...

    def fire(self) -> None: ...


class DeadlineWatcher:
    """Fires each watched exchange once it is due, unless it was forgotten first."""

    def __init__(self, name: str = "deadlines") -> None:
        self._name = name
        self._wakeup = threading.Condition()
        self._heap: list[tuple[float, int, Watched]] = []
        self._order = itertools.count()
        # In flight: forgotten ones leave the heap when their deadline comes up, or when
        # they outnumber the live ones (a heap has no cheap removal).
        self._live: set[Watched] = set()
        self._stoppable: set[Watched] = set()
        self._thread: threading.Thread | None = None

    def watch(self, item: Watched) -> None:
        with self._wakeup:
            self._live.add(item)
            heapq.heappush(self._heap, (item.deadline, next(self._order), item))
            sooner = self._heap[0][2] is item
            if item.stoppable:
                sooner = sooner or not self._stoppable
                self._stoppable.add(item)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            elif sooner:
                self._wakeup.notify()

    def forget(self, item: Watched) -> None:
        with self._wakeup:
            self._live.discard(item)
            self._stoppable.discard(item)
            if len(self._heap) > 64 and len(self._heap) > 2 * len(self._live):
                self._heap = [entry for entry in self._heap if entry[2] in self._live]
                heapq.heapify(self._heap)

    def _run(self) -> None:
        while True:
            for item in self._wait_for_due():
                try:
                    item.fire()
                except Exception:  # this thread ending would leave every later deadline unkept
                    log.exception("ending an exchange at its deadline failed")

    def _wait_for_due(self) -> list[Watched]:
        """Sleep until something is due, then take it out (fired outside the lock)."""
        with self._wakeup:
            while True:
                now = time.monotonic()
                due = []
                while self._heap and self._heap[0][0] <= now:
                    _, _, item = heapq.heappop(self._heap)
                    if item in self._live:
                        due.append(item)
                due += [item for item in self._stoppable if item not in due and item.due()]
                for item in due:
                    self._live.discard(item)
                    self._stoppable.discard(item)
                if due:
                    return due
                timeout = self._heap[0][0] - now if self._heap else None
                if self._stoppable:
                    timeout = POLL if timeout is None else min(timeout, POLL)
                self._wakeup.wait(timeout)


WATCHER = DeadlineWatcher()
