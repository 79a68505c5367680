"""``asa-bulk products``: read a file, look every row up, write the table, exit with a code.

Everything that can be checked locally is checked before the first request: the input, the
output/report/snapshot paths, pyarrow for parquet, the checkpoint file, the settings and keys
(the engine raises its configuration errors before sending). Data goes to the output (stdout
by default), everything else to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from dotenv import dotenv_values

from asa_bulk._checkpoint import SqliteCheckpoint
from asa_bulk._errors import ConfigError, NoKeysError
from asa_bulk._keys import KEY_PREFIXES, ApiKey, resolve_keys, split_keys
from asa_bulk._settings import resolve_settings

from ._dryrun import dry_run
from ._parser import EXIT_OK, EXIT_SKIPPED, EXIT_USAGE
from ._readers import read_input
from ._report import render_report, write_report
from ._snapshot import write_snapshot
from ._writers import (
    check_writable_dir,
    check_writable_file,
    output_format,
    require_pyarrow,
    write_output,
)

log = logging.getLogger("asa_bulk.cli")


def keys_from_env(name: str, env_file: str | None) -> list[str]:
    """``--keys-env NAME``: the keys in environment variable NAME, else NAME in the env file."""
    text = os.environ.get(name)
    if not (text and text.strip()) and env_file and Path(env_file).is_file():
        text = dotenv_values(env_file).get(name)
    keys = split_keys(text or "")
    if not keys:
        raise NoKeysError(
            f"--keys-env {name}: no API key in environment variable {name}"
            + (f" nor in {env_file}" if env_file else "")
        )
    return keys


def _snapshot_day(text: str | None) -> date:
    if text is None:
        return datetime.now(timezone.utc).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--snapshot-date must be YYYY-MM-DD, got {text!r}") from None


def _engine_options(args: argparse.Namespace) -> dict[str, Any]:
    """The library options the user set; None leaves them to the environment / .env / defaults."""
    return {
        "base_url": args.base_url,
        "domain": args.domain,
        "language": args.language,
        "country": args.country,
        "concurrency": args.concurrency,
        "rps": args.rps,
        "timeout": args.timeout,
        "max_attempts": args.max_attempts,
        "auth": args.auth,
        "max_credits": args.max_credits,
    }


def preflight(args: argparse.Namespace) -> None:
    """Checks of every path the run will write, before anything is read or sent."""
    if args.output is not None:
        if output_format(args.output) == "parquet":
            require_pyarrow("parquet output")
        check_writable_file(args.output)
    if args.report is not None:
        check_writable_file(args.report, "report")
    if args.snapshot_dir is not None:
        require_pyarrow("--snapshot-dir")
        _snapshot_day(args.snapshot_date)
        check_writable_dir(args.snapshot_dir, "snapshot directory")
    elif args.snapshot_date is not None:
        raise ConfigError("--snapshot-date needs --snapshot-dir")


def _run_dry(args: argparse.Namespace, table: Any, keys: list[str] | None) -> int:
    settings = resolve_settings(_engine_options(args), env_file=args.env_file)
    resolved: list[ApiKey] | NoKeysError
    try:
        resolved = resolve_keys(keys, env_file=args.env_file)
    except NoKeysError as exc:
        resolved = exc
    result = dry_run(table, settings=settings, keys=resolved, checkpoint=args.checkpoint)
    print(result.render(), flush=True)
    for key in [] if isinstance(resolved, NoKeysError) else resolved:
        if not key.key_id.startswith(KEY_PREFIXES):
            log.warning("key %s does not start with %s", key.key_id, " or ".join(KEY_PREFIXES))
    if args.report is not None:
        write_report(args.report, result.as_dict())
    return EXIT_USAGE if result.key_error else EXIT_OK


async def run_products(args: argparse.Namespace) -> int:
    """The products command; returns the exit code (raises AsaBulkError for usage errors)."""
    preflight(args)
    table = read_input(args.input, column=args.column, input_format=args.input_format)
    log.info("read %d item(s) from %s (%s)", len(table.frame), table.source, table.format)
    keys = keys_from_env(args.keys_env, args.env_file) if args.keys_env else None
    if args.dry_run:
        return _run_dry(args, table, keys)

    import asa_bulk  # the engine (aiohttp and friends) only when something is sent

    progress = args.progress if args.progress is not None else sys.stderr.isatty()
    # Opened here rather than by the engine so that it is closed in every case (Ctrl-C too).
    store = SqliteCheckpoint(args.checkpoint) if args.checkpoint else None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", asa_bulk.RunStoppedWarning)
            frame: pd.DataFrame = await asa_bulk.fetch_products(
                table.frame,
                keys=keys,
                progress=progress,
                raw=args.raw,
                checkpoint=store,
                env_file=args.env_file,
                **_engine_options(args),
            )
    finally:
        if store is not None:
            store.close()  # every record is already committed; this folds the WAL back in
    for warning in caught:  # one clean log line each instead of "file:line: Warning: ..."
        log.warning("%s", warning.message)
    return finish(args, table.in_file_terms(frame))


def finish(args: argparse.Namespace, frame: pd.DataFrame) -> int:
    """Write the output, snapshot and report; pick the exit code."""
    write_output(frame, args.output)
    extra: dict[str, Any] = {"input": args.input, "output": args.output or "stdout"}
    if args.snapshot_dir is not None:
        snap = write_snapshot(frame, args.snapshot_dir, day=_snapshot_day(args.snapshot_date))
        extra["snapshot"] = (
            f"{snap.path} ({snap.rows} rows; {snap.written} from this run, "
            f"{snap.replaced} earlier rows of the day replaced)"
        )
    skipped = int((frame["status"] == "skipped").sum())
    code = EXIT_SKIPPED if skipped else EXIT_OK
    extra["checkpoint"] = args.checkpoint
    extra["exit_code"] = code
    summary = frame.attrs.get("run") or {}
    if not args.quiet:
        print(render_report(summary, extra), file=sys.stderr, flush=True)
    if skipped:
        reasons = frame.loc[frame["status"] == "skipped", "error"].value_counts(dropna=False)
        why = ", ".join(f"{reason}: {count}" for reason, count in reasons.items())
        log.warning("%d row(s) skipped (%s): exit code 1", skipped, why)
    if args.report is not None:
        write_report(args.report, json.loads(json.dumps(summary, default=str)), extra)
    return code
