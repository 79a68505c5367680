"""The files in samples/ work as documented: each script runs against the sandbox when no key
is configured, and the data files hold what the README and notebooks say."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from asa_bulk._keys import ENV_KEY, ENV_KEYS
from asa_bulk._marketplaces import normalize_domain
from asa_bulk._settings import ENV_NAMES

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
FULL_KEY = re.compile(r"asa_(?:live|test)_[A-Za-z0-9]{13,}")


def run_script(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a sample as a user would, with no key anywhere (conftest cleared ASA_*)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    assert not [name for name in env if name.startswith("ASA_")]
    done = subprocess.run(
        [sys.executable, str(SAMPLES / name), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert not FULL_KEY.search(done.stdout + done.stderr), "a sample printed a full key"
    return done


def test_enrich_catalog_joins_results_row_for_row_on_the_sandbox(tmp_path: Path) -> None:
    done = run_script(
        "enrich_catalog.py", str(SAMPLES / "catalog.csv"), "-o", "out.csv", "--quiet", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "SANDBOX" in done.stderr
    catalog = pd.read_csv(SAMPLES / "catalog.csv", dtype=str, keep_default_na=False)
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    # Same rows, same order, catalogue columns untouched, results joined on.
    assert out["sku"].tolist() == catalog["sku"].tolist()
    assert out[catalog.columns].equals(catalog)
    status = dict(zip(out["sku"], out["amazon_status"], strict=True))
    assert status["SKU-1017"] == "not_found"  # an ASIN ending in 404 (the sandbox's rule)
    assert status["SKU-1018"] == "invalid"  # no ASIN: never sent
    assert status["SKU-1013"] == "ok"  # a product URL, looked up on amazon.co.uk
    by_sku = out.set_index("sku")
    assert by_sku.loc["SKU-1013", "amazon_currency"] == "GBP"
    assert by_sku.loc["SKU-1010", "amazon_currency"] == "EUR"
    # A duplicate ASIN (two SKUs) gets the same product on both rows.
    assert by_sku.loc["SKU-1008", "amazon_price"] == by_sku.loc["SKU-1009", "amazon_price"]
    gap = pd.to_numeric(by_sku["price_gap_pct"], errors="coerce")
    ours = pd.to_numeric(by_sku["our_price"])
    theirs = pd.to_numeric(by_sku["amazon_price"], errors="coerce")
    expected = ((ours - theirs) / theirs * 100).round(1)
    assert gap.dropna().equals(expected[gap.notna()])
    assert gap.notna().sum() == 18


def test_scheduled_pull_builds_snapshots_and_reports_changes(tmp_path: Path) -> None:
    watchlist = str(SAMPLES / "watchlist.csv")
    first = run_script("scheduled_pull.py", watchlist, "--date", "2026-05-01", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "first pull" in first.stdout
    day1 = tmp_path / "pulls" / "snapshots" / "date=2026-05-01" / "part-0.parquet"
    pulls = tmp_path / "pulls"
    assert (pulls / "out" / "products-2026-05-01.parquet").is_file()
    assert (pulls / "state" / "2026-05-01.ckpt").is_file()
    assert (pulls / "logs" / "2026-05-01.json").is_file()

    # Make yesterday's price of one product different, as the real service's would be.
    frame = pd.read_parquet(day1)
    asin = frame.loc[frame["status"] == "ok", "asin"].iloc[0]
    frame.loc[frame["asin"] == asin, "price"] = 1.23
    frame.to_parquet(day1, index=False)

    second = run_script("scheduled_pull.py", watchlist, "--date", "2026-05-02", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "1 product(s) changed since 2026-05-01" in second.stdout
    assert asin in second.stdout

    # A capped run skips rows (exit 1); skipped rows are "not checked", not changes.
    third = run_script(
        "scheduled_pull.py", watchlist, "--date", "2026-05-03", "--max-credits", "40", cwd=tmp_path
    )
    assert third.returncode == 1, third.stderr
    assert "no price changes since 2026-05-02" in third.stdout
    history = pd.read_parquet(tmp_path / "pulls" / "snapshots")
    days = sorted(history["date"].astype(str).unique())
    assert days == ["2026-05-01", "2026-05-02", "2026-05-03"]


def test_env_example_lists_every_setting_commented_and_no_key() -> None:
    text = (SAMPLES / ".env.example").read_text(encoding="utf-8")
    names = {*ENV_NAMES.values(), ENV_KEYS, ENV_KEY}
    documented = set(re.findall(r"^# (ASA_[A-Z_]+)=", text, flags=re.MULTILINE))
    assert names <= documented, f"missing: {sorted(names - documented)}"
    assert documented - names == {"ASA_BULK_SANDBOX"}  # the samples' switch, labelled as such
    active = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert active == [], "every setting must stay commented out"
    assert not FULL_KEY.search(text)


def test_marketplaces_csv_is_one_asin_list_across_marketplaces() -> None:
    frame = pd.read_csv(SAMPLES / "marketplaces.csv", dtype=str)
    assert list(frame.columns) == ["asin", "domain"]
    assert frame["domain"].map(normalize_domain).eq(frame["domain"]).all()
    per_asin = frame.groupby("asin")["domain"].apply(frozenset)
    assert per_asin.nunique() == 1  # every ASIN in the same marketplaces
    assert len(per_asin.iloc[0]) >= 5
    assert not frame.duplicated().any()


@pytest.mark.parametrize("name", ["enrich_catalog.py", "scheduled_pull.py"])
def test_sample_scripts_document_the_sandbox_switch(name: str) -> None:
    text = (SAMPLES / name).read_text(encoding="utf-8")
    assert "--sandbox" in text
    assert "ASA_BULK_SANDBOX" in text


def test_the_keyword_list_has_what_the_readme_says() -> None:
    from asa_bulk._search_inputs import clean_query, iter_query_rows

    frame = pd.read_csv(SAMPLES / "keywords.csv", dtype=str, keep_default_na=False)
    assert list(frame.columns) == ["query", "domain", "sort_by"]
    assert set(frame["domain"]) == {"com", "de", "co.uk"}
    assert len(frame) >= 30
    rows = list(iter_query_rows(frame))
    assert [row.error for row in rows if row.request is None] == ["invalid_query"]  # one empty
    cleaned = [clean_query(query) for query in frame["query"]]
    assert len(cleaned) - len(set(zip(cleaned, frame["domain"], strict=True))) >= 2  # repeats
    assert any("zzzz" in query for query in frame["query"])  # the sandbox's no-results rule
