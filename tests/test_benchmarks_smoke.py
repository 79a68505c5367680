"""The benchmark suite must not rot: ``python -m benchmarks --smoke`` runs every benchmark on
tiny inputs and prints its tables. Only sanity is asserted (numbers present and positive), never
speed, so a slow or busy machine cannot fail this."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks._common import asins, markdown_table, steady_rate
from benchmarks.ceiling import Case, time_to_fraction

ROOT = Path(__file__).resolve().parents[1]


def _tables(text: str) -> dict[str, list[dict[str, str]]]:
    """Markdown tables by the number of the ``## N. ...`` heading above them ("Summary" too)."""
    tables: dict[str, list[dict[str, str]]] = {}
    section = None
    header: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            section, header = line[3:].split(".")[0].strip(), None
            tables[section] = []
        elif line.startswith("|") and section is not None:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if header is None:
                header = cells
            elif not set(line) <= set("|-"):
                tables[section].append(dict(zip(header, cells, strict=True)))
    return tables


def _num(cell: str) -> float:
    return float(cell.replace(",", ""))


@pytest.fixture(scope="module")
def smoke_output() -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASA_")}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,  # generous: the point is that it finishes, not how fast
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_header_names_the_machine(smoke_output: str) -> None:
    for label in ("- CPU: ", "- cores: ", "- Python: ", "- packages: asa-bulk "):
        assert label in smoke_output


def test_ceiling_rows_are_sane(smoke_output: str) -> None:
    rows = _tables(smoke_output)["1"]
    asa = [r for r in rows if r["client"] == "asa_bulk"]
    assert {r["case"] for r in asa} >= {"concurrency-bound", "rps-bound", "ramp (rps-bound)"}
    for row in asa:
        assert _num(row["achieved_per_s"]) > 0
        assert _num(row["efficiency"]) > 0
        assert 0 <= _num(row["429_pct"]) <= 100
    assert any(r["client"] == "bare aiohttp" for r in rows)


def test_overhead_sdk_memory_startup_rows_are_sane(smoke_output: str) -> None:
    tables = _tables(smoke_output)
    for row in tables["2"]:
        assert _num(row["time_ratio"]) > 0
        assert _num(row["asa_cpu_us"]) > 0
    sdk = tables["3"]
    assert len(sdk) == 3
    assert all(_num(r["per_s"]) > 0 and r["errors"] == "0" for r in sdk)
    memory = tables["4"]
    cli = [r for r in memory if r["case"].startswith("CLI")]
    assert cli
    assert all(r["exit"] == "0" and _num(r["peak_rss_mb"]) > 0 for r in cli)
    frame = [r for r in memory if r["case"].startswith("build_frame")]
    assert _num(frame[0]["items_per_s"]) > 0
    startup = tables["5"]
    assert all(_num(r["median_ms"]) > 0 for r in startup)
    assert any(r["measure"].startswith("first request") for r in startup)
    assert len(tables["Summary"]) >= 8


def test_time_to_fraction_finds_the_first_full_window() -> None:
    slow = [i * 0.1 for i in range(10)]  # 10/s for 1 s
    fast = [1.0 + i * 0.01 for i in range(1, 101)]  # then 100/s
    # 90% of 100/s over a 0.2 s window needs 18 completions in the window.
    t90 = time_to_fraction(slow + fast, ceiling=100, fraction=0.9, window=0.2)
    assert t90 is not None
    assert 1.15 < t90 < 1.2
    assert time_to_fraction(slow, ceiling=100, fraction=0.9, window=0.2) is None


def test_ideal_time_counts_the_burst_and_the_binding_limit() -> None:
    rps_bound = Case("r", 0.05, 100, 50.0, True, 3000)
    assert rps_bound.ceiling == 150
    assert rps_bound.ideal_seconds == pytest.approx((1000 - 50) / 50 + 0.05)
    conc_bound = Case("c", 0.05, 10, 1000.0, True, 3000)
    assert conc_bound.ceiling == 600
    assert conc_bound.ideal_seconds == pytest.approx(5.0)


def test_helpers() -> None:
    items = asins(1000, "Z")
    assert len(set(items)) == 1000
    assert all(len(a) == 10 and not a.endswith("404") for a in items)
    assert steady_rate([i / 100 for i in range(101)]) == pytest.approx(100)
    table = markdown_table([{"a": 1234.5, "b": None}], ["a", "b"])
    assert table.splitlines()[2] == "| 1,234 | - |"
