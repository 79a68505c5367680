"""The package's public surface: every name in ``__all__`` is importable, lazily."""

from __future__ import annotations

import subprocess
import sys

import asa_bulk
import asa_bulk.sandbox


def test_every_exported_name_resolves() -> None:
    # (ruff's RUF022 keeps __all__ sorted; here we check that each name really exists)
    for module in (asa_bulk, asa_bulk.sandbox):
        assert len(set(module.__all__)) == len(module.__all__)
        for name in module.__all__:
            assert getattr(module, name) is not None


def test_import_is_lazy() -> None:
    code = "import sys, asa_bulk; print('pandas' in sys.modules, 'aiohttp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
