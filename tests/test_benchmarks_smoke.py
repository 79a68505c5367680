"""The benchmark suite must not rot: ``python -m benchmarks --smoke`` runs every benchmark on
tiny inputs and prints its tables. Only sanity is asserted (numbers present and positive), never
speed, so a slow or busy machine cannot fail this. The scale suite's target logic is checked on
made-up rows."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import runpy
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

import asa_bulk.sandbox
from benchmarks import scale
from benchmarks.__main__ import parse_sizes
from benchmarks._common import asins, markdown_table, measure_process, steady_rate
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
        elif not line.strip():
            header = None  # a blank line ends a table; the next one has its own header
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


def test_scale_rows_are_sane(smoke_output: str) -> None:
    rows = _tables(smoke_output)["6"]
    _, mode = scale.sandbox_mode()
    assert f"sandbox mode: {mode}" in smoke_output
    for n in scale.SMOKE_SIZES:
        at_n = {r["case"]: r for r in rows if r["N"] == f"{n:,}"}
        for case in (scale.CLI_FRESH, scale.CLI_RESUME, scale.SYNC, scale.BARE):
            row = at_n[case]
            assert row["exit"] == "0", row
            assert _num(row["rows"]) == n, row
            assert row["not_ok"] == "0", row
            assert _num(row["peak_rss_mb"]) > 0
            assert _num(row["cpu_per_item_us"]) > 0
        assert _num(at_n[scale.CLI_FRESH]["ck_kb_per_row"]) > 0
        assert _num(at_n[scale.CLI_RESUME]["vs_fresh"]) > 0
        assert _num(at_n[scale.SYNC]["frame_mb"]) > 0
        assert _num(at_n[scale.SYNC]["vs_bare"]) > 0
        streamed = at_n[scale.ITER]
        if scale.client_available():
            assert streamed["exit"] == "0", streamed
            assert _num(streamed["rows"]) == n, streamed
        else:
            assert streamed["target"].startswith("not available")
            assert streamed["exit"] == "-"
    summary = [r for r in _tables(smoke_output)["Summary"] if r["benchmark"] == "scale"]
    assert {"metric": "sandbox mode", "value": mode} in [
        {k: r[k] for k in ("metric", "value")} for r in summary
    ]


def test_parse_sizes() -> None:
    assert parse_sizes("10k,100k,1M") == [10_000, 100_000, 1_000_000]
    assert parse_sizes("250, 1.5k") == [250, 1500]
    for bad in ("ten", "0", "10k,", "-5"):
        with pytest.raises(argparse.ArgumentTypeError, match="--sizes"):
            parse_sizes(bad)


def test_the_flat_catalog_sandbox_is_used_when_present(monkeypatch: pytest.MonkeyPatch) -> None:
    settings, mode = scale.sandbox_mode()
    assert settings["fixed_latency"] == 0
    assert not settings.get("faults")
    stock = asa_bulk.sandbox.SandboxSettings
    assert mode == (
        "flat_catalog" if "flat_catalog" in {f.name for f in dataclasses.fields(stock)} else "stock"
    )

    @dataclasses.dataclass(frozen=True)
    class WithFlat(stock):  # type: ignore[valid-type,misc]
        flat_catalog: bool = False

    monkeypatch.setattr(asa_bulk.sandbox, "SandboxSettings", WithFlat)
    settings, mode = scale.sandbox_mode()
    assert mode == "flat_catalog"
    assert settings["flat_catalog"] is True


def test_projection_needs_two_points() -> None:
    assert scale.projected_rss([(10_000, 300.0)], 100_000) is None
    assert scale.projected_rss([(10_000, 300.0), (100_000, 1200.0)], 1_000_000) == 10_200.0


def test_measured_peak_rss_is_the_childs_own() -> None:
    """The launcher keeps this (large) process's high-water mark out of the child's figure,
    and kills a child that passes its memory budget."""
    mb = 2**20
    big = measure_process(
        [sys.executable, "-c", f"x = b'x' * {150 * mb}"], cwd=ROOT, env=os.environ
    )
    small = measure_process([sys.executable, "-c", "pass"], cwd=ROOT, env=os.environ)
    assert big.exit == 0
    assert big.rss >= 150 * mb
    assert small.exit == 0
    assert small.rss < 60 * mb
    grow = (
        "import time\nchunks = []\nfor _ in range(50):\n"
        f"    chunks.append(b'x' * {10 * mb}); time.sleep(0.02)"
    )
    killed = measure_process([sys.executable, "-c", grow], cwd=ROOT, env=os.environ, budget=60 * mb)
    assert killed.exit != 0
    assert 60 * mb < killed.killed < 500 * mb


def _row(case: str, n: int, **fields: Any) -> dict[str, Any]:
    return {"case": case, "N": n, "exit": 0, "sandbox": "flat_catalog", **fields}


def _against(ref_us: float, cpu_us: float) -> dict[str, Any]:
    """What :func:`scale._bracketed` adds to a large run measured between two 10k runs."""
    return {"ref_us": ref_us, "ref_n": 10_000, "vs_ref": cpu_us / ref_us}


def test_scale_targets_on_made_up_rows() -> None:
    rows = [
        _row(scale.CLI_FRESH, 10_000, peak_rss_mb=250.0, net_cpu_us=100.0, ck_kb_per_row=1.2),
        _row(scale.CLI_FRESH, 100_000, peak_rss_mb=300.0, net_cpu_us=105.0, ck_kb_per_row=1.2),
        _row(
            scale.CLI_FRESH,
            1_000_000,
            peak_rss_mb=420.0,
            net_cpu_us=120.0,
            ck_kb_per_row=1.6,
            **_against(100.0, 120.0),
        ),
        _row(scale.CLI_RESUME, 100_000, peak_rss_mb=200.0, wall_s=9.0, vs_fresh=0.2),
        _row(scale.CLI_RESUME, 1_000_000, peak_rss_mb=210.0, wall_s=61.0, vs_fresh=0.3),
        _row(scale.BARE, 100_000, cpu_per_item_us=120.0, wall_s=10.0),
        _row(
            scale.SYNC,
            100_000,
            peak_rss_mb=500.0,
            frame_mb=140.0,
            frame_true_mb=90.0,  # 2 x 90 + 300 = 480: over, though under 2 x 140 + 300
            cpu_per_item_us=150.0,
            vs_bare=1.4,
            vs_bare_wall=1.2,
            pairs=3,
        ),
        _row(
            scale.SYNC,
            1_000_000,
            peak_rss_mb=9000.0,
            frame_mb=1400.0,
            frame_true_mb=6000.0,
            cpu_per_item_us=150.0,
            **_against(140.0, 150.0),
        ),
        {"case": scale.ITER, "N": 100_000, "target": "not available: no asa_bulk.Client"},
    ]
    met = {h["metric"]: h["met"] for h in scale.headline(rows)}
    assert met["sandbox mode"] is None
    assert met["CLI peak RSS, N=100k"] is True
    assert met["CLI peak RSS, N=1M"] is False
    assert met["CLI: RSS growth per 900k items"] is False  # 120 MB from 100k to 1M
    assert met["CLI resume: RSS growth per 900k items"] is True  # 10 MB
    assert met["checkpoint per row, N=10k"] is True
    assert met["checkpoint per row, N=1M"] is False
    assert met["resume of the finished job, wall, N=100k"] is None  # the target is at 1M
    assert met["resume of the finished job, wall, N=1M"] is False
    assert met["CLI (net of its fixed cost): CPU per item, N=1M vs 10k around it"] is False  # x1.2
    assert met["fetch_products_sync: CPU per item, N=1M vs 10k around it"] is True  # x1.07
    assert met["fetch_products_sync peak RSS vs frame, N=100k"] is False  # 500 > 2 x 90 + 300
    assert met["fetch_products_sync peak RSS vs frame, N=1M"] is True  # 9000 <= 2 x 6000 + 300
    assert met["fetch_products_sync CPU vs bare aiohttp, N=100k"] is True
    assert met["iter_products peak RSS"] is None  # not available, not a pass


def test_the_streaming_child_uses_the_client_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Until ``asa_bulk.Client`` lands the smoke run cannot reach the ``iter`` child, so its
    code is run here against a stand-in that checks the calls it receives."""
    import pandas as pd

    import asa_bulk

    calls: list[dict[str, Any]] = []

    class StandIn:
        def __init__(self, **options: Any) -> None:
            calls.append(options)

        async def __aenter__(self) -> StandIn:
            return self

        async def __aexit__(self, *exc_info: object) -> None:
            return None

        async def iter_products(self, lazy: Iterable[str], *, chunk_rows: int) -> Any:
            items = list(lazy)
            for i in range(0, len(items), 7):  # chunks smaller than asked: boundaries may vary
                yield pd.DataFrame({"status": ["ok"] * len(items[i : i + 7])})

    items = tmp_path / "items.txt"
    items.write_text("\n".join(asins(20, "T")) + "\n", encoding="utf-8")
    spec = tmp_path / "spec.json"
    url = "http://127.0.0.1:1"
    spec.write_text(
        json.dumps(
            {"items": str(items), "base_url": url, "keys": ["k"], "concurrency": 3, "rps": 9.0}
        ),
        encoding="utf-8",
    )
    child = tmp_path / "child.py"
    child.write_text(scale._CHILD, encoding="utf-8")
    monkeypatch.setattr(asa_bulk, "Client", StandIn, raising=False)
    monkeypatch.setattr(sys, "argv", [str(child), "iter", str(spec)])
    runpy.run_path(str(child), run_name="__main__")
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (out["rows"], out["ok"]) == (20, 20)
    assert out["wall"] >= 0
    assert calls == [
        {"keys": ["k"], "base_url": url, "concurrency": 3, "rps": 9.0, "progress": False}
    ]


def test_repeated_runs_keep_each_cases_median_run() -> None:
    def trial(sync_cpu: float, cli_net: float, cli_exit: int = 0) -> list[dict[str, Any]]:
        return [
            _row(scale.SYNC, 10_000, cpu_per_item_us=sync_cpu),
            _row(scale.CLI_FRESH, 10_000, net_cpu_us=cli_net, exit=cli_exit),
        ]

    rows = scale.median_rows([trial(700, 900), trial(500, 1200), trial(600, 800)])
    assert rows[0]["cpu_per_item_us"] == 600
    assert rows[1]["net_cpu_us"] == 900
    assert rows[0]["repeats"] == "3x, 500-700 µs"
    failed = scale.median_rows([trial(700, 900), trial(500, 1200, cli_exit=1)])
    assert failed[1]["exit"] == 1  # a failure is shown, not hidden behind a good run
    assert scale.median_rows([trial(1, 1), trial(2, 2)[:1]]) == trial(1, 1)  # cases differ


class _NothingSkipped:
    def skip(self, case: str, n: int) -> dict[str, Any] | None:
        return None


def test_a_large_run_is_judged_against_the_small_runs_around_it() -> None:
    """The flatness ratio divides by runs of the smallest N made just before and just after the
    large run (a machine whose speed drifts over an hour moves both alike)."""
    order: list[str] = []

    def references(*cpu: float) -> Any:
        made = iter(cpu)

        def reference() -> dict[str, Any]:
            order.append("ref")
            return _row(scale.ITER, 10_000, cpu_per_item_us=next(made))

        return reference

    def runs() -> list[dict[str, Any]]:
        order.append("big")
        return [_row(scale.ITER, 1_000_000, cpu_per_item_us=660.0, peak_rss_mb=300.0)]

    suite: Any = _NothingSkipped()
    rows = scale._bracketed(suite, scale.ITER, 1_000_000, "cpu_per_item_us", runs,
                            references(500.0, 700.0))  # fmt: skip
    assert order == ["ref", "big", "ref"]
    reference = f"{scale.ITER} (reference)"
    assert [r["case"] for r in rows] == [reference, scale.ITER, reference]
    assert rows[0]["met"] is None  # a reference is not judged against the large run's target
    big = rows[1]
    assert big["ref_us"] == 600.0
    assert big["vs_ref"] == pytest.approx(1.1)
    assert big["ref_n"] == 10_000
    met = {h["metric"]: h for h in scale.headline(rows)}
    judged = met["iter_products: CPU per item, N=1M vs 10k around it"]
    assert judged["met"] is True
    assert judged["value"] == "x1.10 (660 vs 600 µs)"

    failed = _row(scale.ITER, 10_000, exit=1)
    half = scale._bracketed(suite, scale.ITER, 1_000_000, "cpu_per_item_us", runs,
                            lambda: dict(failed))  # fmt: skip
    assert "vs_ref" not in half[1]  # one reference is not enough to judge by
    assert scale._bracketed(suite, scale.ITER, 10_000, "cpu_per_item_us", runs, None) == runs()


def test_the_bare_loop_and_sync_alternate_and_their_pairs_are_compared(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    cpu = {scale.BARE: iter([400.0, 500.0, 300.0]), scale.SYNC: iter([560.0, 900.0, 480.0])}

    def library(suite: Any, mode: str, case: str, items: Path, n: int) -> dict[str, Any]:
        calls.append(mode)
        value = next(cpu[case])
        return _row(case, n, cpu_per_item_us=value, wall_s=value / 10)

    monkeypatch.setattr(scale, "_library", library)
    suite: Any = None
    bare, sync = scale._bare_and_sync(suite, 100_000, Path("items"), pairs=3)
    assert calls == ["bare", "sync"] * 3
    assert bare["cpu_per_item_us"] == 400.0  # each case's median run
    assert sync["cpu_per_item_us"] == 560.0
    assert bare["repeats"] == "3x, 300-500 µs"
    # The pairs' ratios are 1.4, 1.8 and 1.6: their median, not the ratio of the medians (1.4).
    assert sync["vs_bare"] == pytest.approx(1.6)
    assert sync["vs_bare_wall"] == pytest.approx(1.6)
    assert sync["pairs"] == 3


def test_history_read_rows_are_sane(smoke_output: str) -> None:
    filtered, everything = _tables(smoke_output)["7"]
    assert _num(everything["rows"]) == 5 * 200  # every day of every product read back
    assert _num(filtered["rows"]) == 5 * 100  # 100 ASINs a day, no more, no fewer
    assert _num(filtered["seconds"]) >= 0
    assert _num(filtered["ratio_to_full"]) >= 0


def test_batch_mode_rows_are_sane(smoke_output: str) -> None:
    sync, batch = _tables(smoke_output)["8"]
    assert (sync["mode"], batch["mode"]) == ("sync", "batch")
    assert _num(sync["items"]) == _num(batch["items"]) == 40
    assert _num(sync["key_requests"]) == 40  # one per item
    assert _num(batch["key_requests"]) < 40  # a POST and a few polls
    # The batch worker's documented pace (a minute to start) dwarfs 40 sync lookups.
    assert _num(batch["service_s"]) >= 60 > _num(sync["service_s"])


def test_dask_cluster_rows_are_sane(smoke_output: str) -> None:
    alone, cluster = _tables(smoke_output)["9"]
    assert (alone["runner"], cluster["runner"]) == ("one process", "2 workers")
    assert _num(alone["items"]) == _num(cluster["items"]) == 160
    assert _num(alone["vs_one_process"]) == 1.0
    assert 0 < _num(cluster["of_ceiling"]) <= 1.05  # no run beats the keys' ceiling
