"""``asa-bulk search`` end to end: the real command in a subprocess against the sandbox."""

from __future__ import annotations

import json
import signal
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from asa_bulk.sandbox import make_test_keys, serve_in_thread
from tests.support.cli import Cli, finish_cli, sandbox_settings, wait_until

from .test_cli_products import read_output

#: What identifies a result row whatever run fetched it (run metadata left out).
CARD = ["query", "domain", "sort_by", "page", "slot", "position", "sponsored_position", "asin"]


@pytest.fixture
def search(cli: Cli) -> Cli:
    return replace(cli, command="search")


def _queries(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "queries.csv"
    path.write_text(text)
    return path


def _report(tmp_path: Path, name: str = "report.json") -> dict[str, object]:
    document: dict[str, object] = json.loads((tmp_path / name).read_text())
    return document


def test_a_keyword_file_gives_every_query_its_rows_pages_in_order(
    search: Cli, tmp_path: Path
) -> None:
    """Multi-page search to csv: query order, then page and slot; the empty query is an invalid
    row naming its line; the no-results query one row; duplicates searched once, fanned out."""
    _queries(
        tmp_path,
        "query,domain\nwireless earbuds,com\nkopfhörer,de\n,com\nzzzz nothing,com\n"
        "  wireless   earbuds ,com\n",
    )
    result = search.run("queries.csv", "-o", "out.csv", "--pages", "2", "--report", "report.json")
    result.expect(0)
    frame = read_output(result, tmp_path / "out.csv")
    queries = list(dict.fromkeys(frame["query"]))
    assert queries == ["wireless earbuds", "kopfhörer", "", "zzzz nothing"]
    first = frame[frame["query"] == "wireless earbuds"]
    half = len(first) // 2
    cards = first[CARD].reset_index(drop=True)
    assert cards.iloc[:half].reset_index(drop=True).equals(cards.iloc[half:].reset_index(drop=True))
    one = first.iloc[:half]
    assert list(one["page"]) == sorted(one["page"])
    assert set(one["page"]) == {"1", "2"}
    organic = one[one["is_sponsored"] == "False"]["position"].astype(int)
    assert list(organic) == list(range(1, len(organic) + 1)), "ranks continue across pages"
    assert (one[one["is_sponsored"] == "True"]["position"] == "").all()
    empty = frame[frame["query"] == ""]
    assert list(empty["status"]) == ["invalid"]
    assert list(empty["error"]) == ["invalid_query"]
    assert empty["error_message"].iloc[0].startswith("line 4: ")  # where it is in the file
    nothing = frame[frame["query"] == "zzzz nothing"]
    assert list(nothing["no_results"]) == ["True"]
    assert list(nothing["status"]) == ["ok"]
    assert set(frame.loc[frame["query"] == "kopfhörer", "domain"]) == {"de"}

    report = _report(tmp_path)
    pages = 3 * 2  # three distinct valid queries, two pages each
    assert search.sandbox.stats.search_pages_billed == pages
    assert (report["counts"], report["billed_requests"], report["credits"]) == (
        "pages",
        pages,
        5 * pages,
    )
    assert report["cli"]["result_rows"] == len(frame)  # type: ignore[index]


def test_budget_dry_run_and_resume_never_bill_a_page_twice(search: Cli, tmp_path: Path) -> None:
    """A budget stops a run (exit 1, the rest skipped); the dry run then counts only the pages
    left at 5 credits each; the resume fetches exactly those and matches a run in one go."""
    _queries(tmp_path, "query\ndesk lamp\nusb c cable\ncast iron skillet\n")
    args = ("queries.csv", "--pages", "3", "--checkpoint", "ck.sqlite")
    stopped = search.run(*args, "-o", "first.parquet", "--max-credits", "20")
    stopped.expect(1)
    assert "budget_exhausted" in stopped.stderr
    assert search.sandbox.stats.search_pages_billed == 4

    dry = search.run(*args, "--dry-run").expect(0)
    assert "already done in the checkpoint: 4 (not sent again)" in dry.stdout
    assert "requests to send: 5" in dry.stdout
    assert "worst-case cost: 25 credits (5 per successful page" in dry.stdout
    assert search.sandbox.stats.search_pages_billed == 4, "a dry run sends nothing"

    search.run(*args, "-o", "resumed.parquet").expect(0)
    assert search.sandbox.stats.search_pages_billed == 9, "only the five pages left"
    again = search.run(*args, "-o", "again.parquet").expect(0)
    assert search.sandbox.stats.search_pages_billed == 9, "a finished run sends nothing"
    assert "requests sent: 0" in again.stderr
    search.run("queries.csv", "--pages", "3", "-o", "fresh.parquet").expect(0)

    resumed = pd.read_parquet(tmp_path / "resumed.parquet")
    fresh = pd.read_parquet(tmp_path / "fresh.parquet")
    assert resumed[CARD].equals(fresh[CARD])
    assert len(fresh) > 9
    assert resumed[CARD].equals(pd.read_parquet(tmp_path / "again.parquet")[CARD])
    first = pd.read_parquet(tmp_path / "first.parquet")
    assert (first["status"] == "skipped").sum() == 5  # one row per page not bought


def test_input_formats_flags_and_per_row_overrides(search: Cli, tmp_path: Path) -> None:
    """txt and stdin, --column, --domain/--sort-by defaults under per-row columns."""
    (tmp_path / "q.txt").write_text('# my keywords\nquery\nfrying pan\n\n"saucepan"\n')
    pd.DataFrame({"keyword": ["frying pan", "pan"], "sort_by": [None, "price_asc"]}).to_parquet(
        tmp_path / "q.parquet"
    )
    runs = search.run_many(
        ("q.txt", "-o", "txt.csv", "--domain", "de"),
        ("q.parquet", "--column", "keyword", "--sort-by", "newest", "-o", "pq.jsonl"),
    )
    for run in runs:
        run.expect(0)
    txt = read_output(runs[0], tmp_path / "txt.csv")
    assert list(dict.fromkeys(txt["query"])) == ["frying pan", "saucepan"]
    assert set(txt["domain"]) == {"de"}
    pq = read_output(runs[1], tmp_path / "pq.jsonl")
    assert list(dict.fromkeys(zip(pq["query"], pq["sort_by"], strict=True))) == [
        ("frying pan", "newest"),
        ("pan", "price_asc"),
    ]
    piped = search.run("-", stdin=b"frying pan\nsaucepan\n").expect(0)
    assert list(dict.fromkeys(read_output(piped, None)["query"])) == ["frying pan", "saucepan"]


def test_bad_flags_and_inputs_are_one_line_and_send_nothing(search: Cli, tmp_path: Path) -> None:
    _queries(tmp_path, "keyword\nfrying pan\n")
    results = search.run_many(
        ("queries.csv",),
        ("queries.csv", "--column", "keyword", "--pages", "0"),
        ("queries.csv", "--column", "keyword", "--pages", "two"),
        ("queries.csv", "--column", "keyword", "--start-page", "9", "--pages", "3"),
        ("queries.csv", "--column", "keyword", "--sort-by", "cheapest"),
        ("queries.csv", "--column", "keyword", "--language", "de_DE"),
    )
    expected = [
        "no column 'query' in queries.csv (name it with --column)",
        "--pages must be 1 or more, got 0",
        "--pages must be a whole number, got 'two'",
        "would reach page 11; the API serves pages 1 to 10",
        "invalid choice: 'cheapest'",
        "unrecognized arguments: --language de_DE",
    ]
    for result, message in zip(results, expected, strict=True):
        result.expect(2)
        assert message in result.stderr, result.explain()
        assert "Traceback" not in result.stderr
    assert search.sandbox.stats.search_pages_billed == 0


def test_the_snapshot_keeps_one_pull_per_query_and_day(search: Cli, tmp_path: Path) -> None:
    """Two pulls the same day: a query of the second replaces all the first's rows of it,
    the others stay; a product snapshot folder is refused before anything is sent."""
    _queries(tmp_path, "query\nfrying pan\nsaucepan\nfrying pan\n")
    (tmp_path / "later.txt").write_text("saucepan\n")
    day = ("--snapshot-dir", "snaps", "--snapshot-date", "2026-05-15")
    search.run("queries.csv", "--pages", "2", *day).expect(0)
    second = search.run("later.txt", *day).expect(0)
    assert "earlier rows of the day replaced" in second.stderr
    snapshot = pd.read_parquet(tmp_path / "snaps")
    assert list(dict.fromkeys(snapshot["query"])) == ["frying pan", "saucepan"]
    pan = snapshot[snapshot["query"] == "frying pan"]
    assert set(pan["page"]) == {1, 2}
    assert not pan.duplicated(CARD).any(), "the duplicate query is kept once"
    assert set(snapshot.loc[snapshot["query"] == "saucepan", "page"]) == {1}, "replaced whole"
    assert str(snapshot["date"].iloc[0]) == "2026-05-15"

    products = Cli(cwd=tmp_path, sandbox=search.sandbox, keys=search.keys)
    (tmp_path / "asins.txt").write_text("B0TEST0001\n")
    products.run("asins.txt", "--snapshot-dir", "products", "-o", "p.csv").expect(0)
    billed = search.sandbox.stats.search_pages_billed
    refused = search.run("queries.csv", "--snapshot-dir", "products").expect(2)
    assert "holds other snapshots" in refused.stderr
    assert "no query" in refused.stderr
    assert search.sandbox.stats.search_pages_billed == billed


def test_no_page_succeeding_is_exit_3_and_every_query_keeps_its_row(tmp_path: Path) -> None:
    """Every key revoked: no row succeeded, exit 3, every query still has its row."""
    keys = make_test_keys(1)
    with serve_in_thread(**sandbox_settings(revoked=keys)) as sandbox:
        search = Cli(cwd=tmp_path, sandbox=sandbox, keys=keys, command="search")
        _queries(tmp_path, "query\nfrying pan\nsaucepan\n")
        result = search.run("queries.csv", "-o", "out.csv").expect(3)
    frame = read_output(result, tmp_path / "out.csv")
    assert list(frame["query"]) == ["frying pan", "saucepan"]
    assert set(frame["status"]) == {"skipped"}
    assert "no row succeeded" in result.stderr


def test_an_interrupt_keeps_every_query_and_the_resume_buys_only_the_rest(
    tmp_path: Path,
) -> None:
    queries = [f"garden hose {n}" for n in range(40)]
    (tmp_path / "q.txt").write_text("\n".join(queries) + "\n")
    args = ["q.txt", "--pages", "2", "-o", "out.csv", "--checkpoint", "run.ckpt"]
    with serve_in_thread(**sandbox_settings(fixed_latency=0.05)) as sandbox:
        search = Cli(cwd=tmp_path, sandbox=sandbox, keys=make_test_keys(1), command="search")
        proc = search.start(*args, "--concurrency", "4")
        wait_until(lambda: sandbox.stats.search_pages_billed >= 8, proc, "the first pages")
        proc.send_signal(signal.SIGINT)
        stopped = finish_cli(proc, args).expect(130)
        billed = sandbox.stats.search_pages_billed
        assert billed < 2 * len(queries), "stopped too late to test anything"
        frame = read_output(stopped, tmp_path / "out.csv")
        assert list(dict.fromkeys(frame["query"])) == queries, "every query has its rows"
        assert set(frame["status"]) == {"ok", "skipped"}, stopped.explain()
        assert set(frame.loc[frame["status"] == "skipped", "error"]) == {"interrupted"}

        search.run(*args).expect(0)
        assert sandbox.stats.search_pages_billed == 2 * len(queries), "no page bought twice"
    final = read_output(stopped, tmp_path / "out.csv")
    assert set(final["status"]) == {"ok"}
