"""Fixtures for CLI tests: a sandbox in this process and a runner for the real command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from asa_bulk.sandbox import Sandbox, make_test_keys, serve_in_thread
from tests.support.cli import Cli, sandbox_settings


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with serve_in_thread(**sandbox_settings()) as sb:
        yield sb


@pytest.fixture
def cli(sandbox: Sandbox, tmp_path: Path) -> Cli:
    return Cli(cwd=tmp_path, sandbox=sandbox, keys=make_test_keys(2))
