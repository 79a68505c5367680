"""Shared fixtures: every test is hermetic (no ASA_* variables, no stray .env)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def hermetic_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Clear ASA_* settings and run in an empty directory, so no developer .env leaks in."""
    for name in list(os.environ):
        if name.startswith("ASA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
