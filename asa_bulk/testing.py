"""Testing support for pipelines built on asa_bulk: virtual time and fixed randomness.

Clients created while testing is set use its clock (nothing waits for real: backoffs,
cool-downs and rate limits all pass on the :class:`FakeClock`) and seed the retry jitter, so a
run against the sandbox or aioresponses is fast and repeatable::

    from asa_bulk.testing import FakeClock, set_testing

    async def test_my_pipeline(asa_sandbox):
        with set_testing(clock=FakeClock(), seed=0):
            df = await my_pipeline(base_url=asa_sandbox.url, keys=[asa_sandbox.key])

``set_testing(...)`` also works as a plain call (it stays set until ``set_testing(False)``),
like stamina's ``set_testing``. The sandbox's pytest fixtures live in
:mod:`asa_bulk.sandbox.pytest_plugin`.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

from ._clock import Clock, FakeClock

__all__ = ["FakeClock", "TestingState", "is_testing", "set_testing"]


@dataclass(frozen=True, slots=True)
class TestingState:
    """What Clients use while testing is set (None: the normal behaviour)."""

    clock: Clock | None = None
    seed: int | None = None


_state: TestingState | None = None


class set_testing:
    """Set the testing state for Clients created from now on; restores the previous state when
    used as a context manager. ``set_testing(False)`` turns testing off."""

    def __init__(
        self, testing: bool = True, *, clock: Clock | None = None, seed: int | None = None
    ) -> None:
        global _state
        self._previous = _state
        _state = TestingState(clock=clock, seed=seed) if testing else None

    def __enter__(self) -> TestingState | None:
        return _state

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        global _state
        _state = self._previous


def is_testing() -> bool:
    """True while :func:`set_testing` is in effect."""
    return _state is not None


def current() -> TestingState:
    """The state in effect (all None when not testing)."""
    return _state or TestingState()
