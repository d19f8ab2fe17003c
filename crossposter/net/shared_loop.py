"""An event loop its caller runs while it waits, and a thread of its own keeps running
once the caller has been away a while.

Feeds are fetched on one loop while the caller handles those already in. In the caller's
thread, the loop costs no handover of the interpreter lock: two threads taking turns at
every socket call cost a 304 about a third more CPU (BENCHMARKS.md, round three). But a
loop that runs only while the caller waits stands still while it posts a feed's articles,
which may take a minute: the fetches in flight would pass their deadline, and servers
would give up on connections that send nothing. So after `away` seconds without its
caller, the keeper thread runs the loop until the caller comes back.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")

_CALLER, _AWAY, _KEEPER = "caller", "away", "keeper"


class SharedLoop:
    """`run(awaitable)` from the caller's thread; `close()` when done."""

    def __init__(self, away: float = 0.05) -> None:
        self.loop = asyncio.new_event_loop()
        self._away = away
        self._turn = threading.Condition()
        self._state = _AWAY
        self._left_at = time.monotonic()
        self._handback: asyncio.Future[None] | None = None
        self._closed = False
        self._keeper = threading.Thread(target=self._keep, name="feeds", daemon=True)
        self._keeper.start()

    def run(self, awaitable: Awaitable[T]) -> T:
        """The loop run in this thread until `awaitable` is done; its result."""
        self._take_over()
        try:
            return self.loop.run_until_complete(awaitable)
        finally:
            with self._turn:
                self._state, self._left_at = _AWAY, time.monotonic()

    def close(self, last: Awaitable[Any] | None = None) -> None:
        """`last` run (the loop's own clean-up), then the keeper and the loop ended."""
        try:
            if last is not None:
                self.run(last)
        finally:
            with self._turn:
                self._closed = True
                self._turn.notify_all()
            self._keeper.join()
            self.loop.close()

    def _take_over(self) -> None:
        with self._turn:
            if self._state == _KEEPER:
                assert self._handback is not None
                self.loop.call_soon_threadsafe(_set_once, self._handback)
                while self._state == _KEEPER:
                    self._turn.wait()
            self._state = _CALLER

    def _keep(self) -> None:
        while True:
            with self._turn:
                self._turn.wait(self._away)
                if self._closed:
                    return
                if self._state != _AWAY or time.monotonic() - self._left_at < self._away:
                    continue
                self._state = _KEEPER
                self._handback = handback = self.loop.create_future()
            try:
                self.loop.run_until_complete(handback)
            finally:
                with self._turn:
                    self._state, self._handback = _AWAY, None
                    self._turn.notify_all()


def _set_once(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
