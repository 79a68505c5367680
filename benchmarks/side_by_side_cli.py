"""The CLI on two checkouts, side by side: ``python -m benchmarks.side_by_side_cli N OLD NEW``.

For each round and checkout (alternating, so the machine's drift hits both alike): the command
``products N.txt -o out.parquet --checkpoint ck.sqlite`` fresh, then the same again (a resume),
against one sandbox (``flat_catalog``, zero latency, 3 keys). Prints wall time, the CLI
process's CPU per item (user+system, its start-up included) and its own peak RSS.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from asa_bulk.sandbox import make_test_keys, serve_in_thread

ROUNDS = 2


# Runs the command as its only child, so that RUSAGE_CHILDREN is that one process's own.
_WRAPPER = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
    "r = resource.getrusage(resource.RUSAGE_CHILDREN); "
    "print(r.ru_utime + r.ru_stime, r.ru_maxrss)"
)


def _run(tree: str, args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS MB) of one CLI run with ``tree`` on the path."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, sys.executable, "-m", "asa_bulk", "products", *args],
        cwd=cwd,
        env={**env, "PYTHONPATH": tree},
        check=True,
        capture_output=True,
        text=True,
    )
    cpu, maxrss_kb = done.stdout.split()
    return time.perf_counter() - started, float(cpu), int(maxrss_kb) / 1024


def main(argv: list[str]) -> None:
    n, trees = int(argv[0]), argv[1:]
    with tempfile.TemporaryDirectory(prefix="asa-side-by-side-") as tmp:
        _compare(n, trees, Path(tmp))


def _compare(n: int, trees: list[str], work: Path) -> None:
    (work / "in.txt").write_text("\n".join(f"B{i:09d}" for i in range(n)) + "\n")
    args = ["in.txt", "-o", "out.parquet", "--checkpoint", "ck.sqlite"]
    args += ["--concurrency", "16", "--rps", "1000000", "-q"]
    with serve_in_thread(
        fixed_latency=0.0, rps=1e6, burst_rps=2e6, concurrency=1000, flat_catalog=True
    ) as sandbox:
        env = {
            **os.environ,
            "ASA_API_KEYS": ",".join(make_test_keys(3)),
            "ASA_BASE_URL": sandbox.base_url,
        }
        for round_ in range(ROUNDS):
            for tree in trees:
                for stale in work.glob("ck.sqlite*"):
                    stale.unlink()
                for phase in ("fresh", "resume"):
                    wall, cpu, rss = _run(tree, args, env, work)
                    print(
                        f"round {round_} {tree} {phase}: {wall:.1f} s, "
                        f"{cpu / n * 1e6:.0f} us CPU/item, peak RSS {rss:.0f} MB",
                        flush=True,
                    )


if __name__ == "__main__":
    main(sys.argv[1:])
