"""Shared fixtures: every test is hermetic (no ASA_* variables, no stray .env)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from aioresponses import aioresponses
from hypothesis import settings

from tests.support.aioresponses_compat import patch_aioresponses_for_aiohttp_314
from tests.support.fakeapi import FakeApi

# Property-based tests (test_fuzz.py). CI runs a fixed set: derandomized, so every run tries the
# same examples and a red build reproduces from the commit alone, with no example database to
# carry between machines. `pytest --hypothesis-profile=asa-fuzz` hunts with many random examples.
# No deadline: a slow example (GC, a loaded CI machine) is not a bug.
settings.register_profile("asa-ci", derandomize=True, database=None, deadline=None)
settings.register_profile("asa-fuzz", max_examples=2000, database=None, deadline=None)
settings.load_profile("asa-ci")


@pytest.fixture
def api() -> Iterator[FakeApi]:
    """The scripted product endpoint (see ``tests.support.fakeapi``), installed for the test."""
    fake = FakeApi()
    with aioresponses() as mocked:
        fake.install(mocked)
        yield fake


@pytest.fixture(autouse=True)
def hermetic_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Clear ASA_* settings and run in an empty directory, so no developer .env leaks in."""
    for name in list(os.environ):
        if name.startswith("ASA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


patch_aioresponses_for_aiohttp_314()
