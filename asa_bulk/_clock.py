"""Time for the runner: the event loop's clock, or a fake one in tests (nothing sleeps for real)."""

from __future__ import annotations

import asyncio
from typing import Protocol


class Clock(Protocol):
    """Monotonic seconds and an async sleep on the same time line."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class LoopClock:
    """The running event loop's monotonic clock (create it inside the loop)."""

    def __init__(self) -> None:
        self.now = asyncio.get_running_loop().time  # bound once: called several times a request

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """Virtual time for tests: ``sleep`` first lets every ready task run, then jumps ahead.

    A sleep that is cancelled (because something else woke the sleeper first) does not move
    time, so time only advances when nothing else could happen before the wake-up.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.time = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        target = self.time + max(0.0, seconds)
        for _ in range(5):
            await asyncio.sleep(0)
        self.sleeps.append(seconds)
        self.time = max(self.time, target)


async def wake_or_time(wake: asyncio.Event, clock: Clock, until: float | None) -> None:
    """Wait until ``wake`` is set or ``clock`` reaches ``until`` (None: no time limit)."""
    if until is None:
        await wake.wait()
        return
    delay = until - clock.now()
    if delay <= 0:
        await asyncio.sleep(0)
        return
    waiter = asyncio.ensure_future(wake.wait())
    sleeper = asyncio.ensure_future(clock.sleep(delay))
    try:
        await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        sleeper.cancel()
