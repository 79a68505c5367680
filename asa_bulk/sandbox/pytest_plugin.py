"""pytest fixtures for testing code that calls Amazon Scraper API, against the offline sandbox.

Registered as the ``asa_bulk_sandbox`` pytest11 entry point, so installing asa_bulk makes them
available everywhere; nothing is started (or even imported beyond pytest) until a test asks:

- ``asa_sandbox``: a sandbox with zero latency on a fixed day, running in a thread for one test; use
  ``asa_sandbox.base_url`` and ``asa_sandbox.test_keys(n)``. Works in sync and async tests
  (no pytest-asyncio needed).
- ``asa_sandbox_factory``: call it with settings overrides (``plan="free"``,
  ``faults={"internal_error": 0.2}``, ...) to start as many sandboxes as a test needs; each is
  stopped at teardown.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._serve import Sandbox


@pytest.fixture
def asa_sandbox_factory() -> Iterator[Callable[..., Sandbox]]:
    """A function ``(**overrides) -> Sandbox``; latency is zero and the day is 2026-05-15 (no
    day-to-day drift, so answers are exact) unless overridden."""
    from ._drift import EPOCH
    from ._serve import serve_in_thread

    with contextlib.ExitStack() as stack:

        def start(**overrides: Any) -> Sandbox:
            if "fixed_latency" not in overrides and "latency_scale" not in overrides:
                overrides["fixed_latency"] = 0.0
            overrides.setdefault("today", EPOCH)
            return stack.enter_context(serve_in_thread(**overrides))

        yield start


@pytest.fixture
def asa_sandbox(asa_sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    """A running sandbox with zero latency (default settings otherwise)."""
    return asa_sandbox_factory()
