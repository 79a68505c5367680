"""One version source: ``asa_bulk/_version.py`` feeds the package metadata, ``__version__``,
the User-Agent actually sent and ``asa-bulk --version``; the LICENSE agrees with pyproject."""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import asa_bulk
from asa_bulk._version import __version__
from tests.support.fakeapi import FakeApi, fetch

ROOT = Path(asa_bulk.__file__).resolve().parent.parent
PYPROJECT = (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def test_version_file_is_the_only_source() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+(?:[.-]?\w+)?", __version__)
    assert asa_bulk.__version__ == __version__
    # pyproject takes it from the file (hatch), it does not repeat it.
    assert 'dynamic = ["version"]' in PYPROJECT
    assert re.search(r'\[tool\.hatch\.version\]\s+path = "asa_bulk/_version\.py"', PYPROJECT)
    assert not re.search(r"(?m)^version\s*=", PYPROJECT)


def test_installed_metadata_agrees() -> None:
    dist = importlib.metadata.distribution("asa-bulk")
    direct = json.loads(dist.read_text("direct_url.json") or "{}")
    installed_from = direct.get("url", "").removeprefix("file://")
    if installed_from and Path(installed_from).resolve() != ROOT:
        # An editable install of another checkout (a worktree under test): its metadata
        # describes that checkout's _version.py, not this one.
        pytest.skip(f"asa-bulk is installed from {installed_from}, not {ROOT}")
    assert dist.version == __version__


async def test_user_agent_sent_carries_the_version(api: FakeApi) -> None:
    await fetch(api, ["B09HN3Q81F"], keys=["asa_live_AAAAAAAAAAAAsecretAsecre"])
    assert api.calls[0].headers["User-Agent"] == f"asa-bulk/{__version__} (+aiohttp)"


def test_cli_version_prints_it() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "asa_bulk", "--version"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"asa-bulk {__version__}"


def test_license_is_mit_as_pyproject_says() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 the asa_bulk authors" in text
    assert re.search(r'(?m)^license = \{ text = "MIT" \}$', PYPROJECT)
