"""``asa-bulk diff`` and ``asa-bulk history``: questions to a snapshot folder, tables out.

Both read what ``--snapshot-dir`` wrote (see :mod:`asa_bulk._history`), send nothing and exit 0
when they ran, whatever changed: ``diff`` writes only the rows that changed (``--all`` for every
row), so a scheduler can alert on a non-empty output. A bad folder, date or column is one line
on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from asa_bulk._errors import AsaBulkError, ConfigError
from asa_bulk._keys import redact

from ._parser import EXIT_NOT_SAVED, EXIT_OK, EXIT_USAGE


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("snapshot_dir", metavar="SNAPSHOT_DIR", help="a --snapshot-dir folder")
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUTPUT",
        default=None,
        help="a .csv, .parquet or .jsonl file (by extension); default: JSON lines on stdout",
    )
    parser.add_argument(
        "--columns",
        metavar="A,B",
        default=None,
        help="only these columns (comma-separated; the keys and status always come along)",
    )


def add_diff_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Compare two pulls of a snapshot folder (default: the last two): one row per product "
        "that was added, removed, changed or failed; the counts on stderr."
    )
    _common(parser)
    parser.add_argument("--from", dest="a", metavar="YYYY-MM-DD", help="the earlier pull")
    parser.add_argument("--to", dest="b", metavar="YYYY-MM-DD", help="the later pull")
    parser.add_argument(
        "--key",
        metavar="A,B",
        default="asin,domain",
        help="the columns that identify a row (search snapshots: query,domain,asin)",
    )
    parser.add_argument(
        "--tolerance",
        metavar="X",
        default="0",
        help="a number changes only when it moves by more than X (default 0)",
    )
    parser.add_argument("--all", action="store_true", help="write unchanged rows too")


def add_history_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = "Every pull of a snapshot folder as one table, snapshot_date first."
    _common(parser)
    parser.add_argument("--asin", action="append", metavar="ASIN", help="only this ASIN (repeat)")
    parser.add_argument(
        "--domain", action="append", metavar="DOMAIN", help="only this marketplace (repeat)"
    )
    parser.add_argument("--from", dest="start", metavar="YYYY-MM-DD", help="the first day")
    parser.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="the last day")


def _names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [name.strip() for name in text.split(",") if name.strip()]


def _run(work: Any) -> int:
    try:
        work()
    except AsaBulkError as exc:
        print(f"asa-bulk: error: {redact(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # the output could not be written (a full disk, say)
        print(f"asa-bulk: error: cannot write the output: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_NOT_SAVED
    return EXIT_OK


def run_diff_command(args: argparse.Namespace) -> int:
    def work() -> None:
        from asa_bulk._diff import CHANGES, diff

        from ._writers import write_output

        try:
            tolerance = float(args.tolerance)
        except ValueError:
            raise ConfigError(f"--tolerance must be a number, got {args.tolerance!r}") from None
        table = diff(
            args.snapshot_dir,
            args.a,
            args.b,
            key=_names(args.key) or [],
            columns=_names(args.columns),
            tolerance=tolerance,
        )
        summary = table.attrs["summary"]
        if not args.all:
            table = table[table["change"] != "unchanged"]
        write_output(table, args.output)
        counts = ", ".join(f"{name} {summary[name]}" for name in CHANGES)
        print(f"asa-bulk diff {summary['a']} -> {summary['b']}: {counts}", file=sys.stderr)

    return _run(work)


def run_history_command(args: argparse.Namespace) -> int:
    def work() -> None:
        from asa_bulk._history import history

        from ._writers import write_output

        table = history(
            args.snapshot_dir,
            asins=args.asin,
            domains=args.domain,
            start=args.start,
            end=args.end,
            columns=_names(args.columns),
        )
        write_output(table, args.output)
        print(f"asa-bulk history: {len(table)} row(s)", file=sys.stderr)

    return _run(work)
