"""The notebooks run top to bottom against the sandbox, and the committed copies are fresh.

All notebooks execute once per session, concurrently, each in its own kernel, through the same
functions as ``make notebooks`` (``notebooks/run_notebooks.py``); a full run takes seconds.
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = (
    "marketplace-comparison.ipynb",
    "quickstart.ipynb",
    "rank-tracking.ipynb",
    "scheduled-pull.ipynb",
)
#: A full key: the prefix and more than the 12 characters of a key_id.
FULL_KEY = re.compile(r"asa_(?:live|test)_[A-Za-z0-9]{13,}")
#: Text each notebook's outputs must show: the behaviour it exists to demonstrate.
EXPECTED = {
    "quickstart.ipynb": [
        "retired (revoked)",  # a key revoked mid-run is retired ...
        "skipped: 0",  # ... and no row is lost
        "invalid_asin",
        "product_not_found",
    ],
    "marketplace-comparison.ipynb": ["com (USD)", "de (EUR)", "co.jp (JPY)", "cheapest"],
    "rank-tracking.ipynb": [
        "30 day(s)",  # a month of daily searches on the sandbox ...
        "credits: 1800 (5 a page)",  # ... billed 5 credits a page
        "'found'",
        "not_in_pages",
        "moved",
    ],
    "scheduled-pull.ipynb": [
        "2026-05-03 exit code 1 --max-credits 40",
        "re-run exit code 0",
        "600 rows; 0 duplicates",  # thirty days of 20 products, one row each
        "'changed':",  # diff of the last two pulls
        "below the 30-day low",
    ],
}


def _load_runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "run_notebooks", ROOT / "notebooks" / "run_notebooks.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = _load_runner()


@pytest.fixture(scope="module")
def executed() -> dict[str, Any]:
    """name -> the freshly executed notebook (or the exception it raised)."""
    paths = runner.notebook_paths()
    results = asyncio.run(runner.execute_all(paths))
    return {path.name: result for path, result in zip(paths, results, strict=True)}


def _output_text(nb: Any) -> str:
    parts: list[str] = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.extend(str(value) for value in output.get("data", {}).values())
            parts.extend(output.get("traceback", []))
    return "\n".join(parts)


def _has_chart(nb: Any) -> bool:
    return any(
        "image/png" in output.get("data", {})
        for cell in nb.cells
        for output in cell.get("outputs", [])
    )


def test_the_notebooks_are_all_here() -> None:
    assert tuple(path.name for path in runner.notebook_paths()) == NOTEBOOKS


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_without_error_and_shows_what_it_is_for(
    name: str, executed: dict[str, Any]
) -> None:
    nb = executed[name]
    if isinstance(nb, BaseException):
        pytest.fail(f"{name} failed against the sandbox:\n{nb}")
    text = _output_text(nb)
    for expected in EXPECTED[name]:
        assert expected in text, f"{name}: outputs lack {expected!r}"
    assert "no key found: using the sandbox" in text  # the kernel never saw a key
    assert _has_chart(nb), f"{name} drew no chart"
    assert not FULL_KEY.search(text), f"{name} printed a full key"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_is_fresh(name: str, executed: dict[str, Any]) -> None:
    """The committed copy was saved by ``make notebooks`` after its last code edit, every cell
    that has output when run has output in it, and it holds no error, key or local path."""
    path = ROOT / "notebooks" / name
    committed = nbformat.read(path, as_version=4)
    saved_hash = committed.metadata.get(runner.HASH_FIELD, {}).get("code_sha256")
    assert saved_hash == runner.code_hash(committed), (
        f"{name}: code changed since its outputs were saved; run `make notebooks` and commit"
    )
    code = [cell for cell in committed.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1)), (
        f"{name}: not saved from one top-to-bottom run; run `make notebooks`"
    )
    fresh = executed[name]
    if not isinstance(fresh, BaseException):
        fresh_code = [cell for cell in fresh.cells if cell.cell_type == "code"]
        assert [bool(c.outputs) for c in code] == [bool(c.outputs) for c in fresh_code], (
            f"{name}: committed outputs differ in shape from a fresh run; run `make notebooks`"
        )
    outputs = [output for cell in code for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"], f"{name}: a saved error"
    raw = path.read_text(encoding="utf-8")
    assert not FULL_KEY.search(raw), f"{name} contains a full key"
    assert str(ROOT) not in _output_text(committed), f"{name} shows a local path"
    assert _has_chart(committed)
