"""The feeds' event loop: run by its caller while it waits, kept running by a thread of
its own while the caller is away, handed back whole."""

from __future__ import annotations

import asyncio
import random
import threading
import time

from crossposter.net.shared_loop import SharedLoop


def test_the_caller_gets_each_result_in_its_own_thread():
    shared = SharedLoop()
    ran_in = []

    async def where() -> str:
        ran_in.append(threading.current_thread().name)
        return "done"

    try:
        assert shared.run(where()) == "done"
    finally:
        shared.close()
    assert ran_in == [threading.current_thread().name]


def test_work_goes_on_while_the_caller_is_away_and_not_while_it_is_back_in_time():
    shared = SharedLoop(away=0.05)
    ticks: list[float] = []

    async def ticking() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    try:
        task = shared.run(_started(ticking()))
        left = time.monotonic()
        time.sleep(0.5)  # a slow post
        came_back = time.monotonic()
        while_away = [tick for tick in ticks if left < tick < came_back]
        assert while_away and while_away[0] - left < 0.3, "the keeper took over"
        shared.run(asyncio.sleep(0.05))
        task.cancel()
        shared.run(asyncio.gather(task, return_exceptions=True))
    finally:
        shared.close()


def test_the_loop_is_handed_back_and_forth_without_losing_work():
    shared = SharedLoop(away=0.005)
    rng = random.Random(7)

    async def answer(value: int, after: float) -> int:
        await asyncio.sleep(after)
        return value

    try:
        tasks = shared.run(_all_started([answer(n, rng.random() / 50) for n in range(60)]))
        got = []
        for task in tasks:
            got.append(shared.run(task))
            time.sleep(rng.choice([0, 0, 0.001, 0.01]))  # the caller, fast or slow
    finally:
        shared.close()
    assert got == list(range(60))


def test_closing_ends_the_keeper_and_the_loop():
    shared = SharedLoop()
    shared.close(asyncio.sleep(0))
    assert shared.loop.is_closed()
    assert "feeds" not in [thread.name for thread in threading.enumerate()]


async def _started(coroutine):
    return asyncio.get_running_loop().create_task(coroutine)


async def _all_started(coroutines):
    return [asyncio.get_running_loop().create_task(c) for c in coroutines]
