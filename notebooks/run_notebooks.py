"""Execute the notebooks top to bottom against the offline sandbox and save them with outputs.

    python notebooks/run_notebooks.py                      # every notebook (``make notebooks``)
    python notebooks/run_notebooks.py quickstart.ipynb     # just one

The kernel never sees your keys: every ``ASA_*`` variable is removed from its environment and
``ASA_BULK_SANDBOX=1`` makes the notebooks use the built-in sandbox even if a ``.env`` holds keys,
so committed outputs only ever show sandbox key_ids. The notebooks run concurrently, each in its
own kernel. ``tests/test_notebooks.py`` uses the same functions, and checks that the committed
notebooks were saved by this script after their last edit (:data:`HASH_FIELD`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

NOTEBOOKS_DIR = Path(__file__).resolve().parent
#: Notebook metadata field holding the hash of the code cells the saved outputs came from.
HASH_FIELD = "asa_bulk"
#: Seconds one cell may run; a whole notebook takes a few seconds against the sandbox.
CELL_TIMEOUT = 120


def notebook_paths() -> list[Path]:
    """Every notebook in ``notebooks/``, sorted."""
    return sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def code_hash(nb: Any) -> str:
    """SHA-256 of the code cells' sources: changes whenever code is edited."""
    sources = [cell.source for cell in nb.cells if cell.cell_type == "code"]
    return hashlib.sha256(json.dumps(sources).encode()).hexdigest()


def kernel_env() -> dict[str, str]:
    """The kernel's environment: no ASA_* settings, the sandbox forced, inline charts."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("ASA_")}
    env["ASA_BULK_SANDBOX"] = "1"
    env.pop("MPLBACKEND", None)  # a headless MPLBACKEND=Agg would hide the charts
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # silences a debugger warning at kernel start
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    return env


async def execute(path: Path, *, timeout: int = CELL_TIMEOUT) -> Any:
    """Run ``path`` top to bottom in a fresh kernel (cwd: its folder); return the notebook.

    Raises nbclient's ``CellExecutionError`` on the first cell that fails.
    """
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        # The kernel listens on loopback only; its warning about unencrypted TCP is noise here.
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,  # no timestamps in cell metadata: saved notebooks diff cleanly
    )
    await client.async_execute(env=kernel_env())
    nb.metadata[HASH_FIELD] = {"code_sha256": code_hash(nb)}
    return nb


async def execute_started(path: Path) -> Any:
    """:func:`execute`, once more if the kernel died before it answered: kernels started side by
    side can pick the same free port, and such a kernel ran nothing (seen once with four)."""
    try:
        return await execute(path)
    except RuntimeError as exc:
        if "Kernel died before replying" not in str(exc):
            raise
        return await execute(path)


async def execute_all(paths: list[Path]) -> list[Any]:
    """Execute ``paths`` concurrently; results (notebooks or exceptions) in the same order."""
    runs = (execute_started(path) for path in paths)
    return list(await asyncio.gather(*runs, return_exceptions=True))


def main(argv: list[str]) -> int:
    paths = [NOTEBOOKS_DIR / name for name in argv] if argv else notebook_paths()
    failed = 0
    for path, result in zip(paths, asyncio.run(execute_all(paths)), strict=True):
        if isinstance(result, BaseException):
            failed += 1
            print(f"FAILED {path.name}: {result}", file=sys.stderr)
            continue
        nbformat.write(result, path)
        print(f"saved {path.relative_to(NOTEBOOKS_DIR.parent)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
