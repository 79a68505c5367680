"""``asa-bulk products|search``: read a file, send every row, write the table, exit with a code.

What the two commands do differently (input column, output rows, the Client call, snapshot
keys, dry-run counts) is their :class:`~._kinds.CommandKind`; the rest is here, shared.

Everything that can be checked locally is checked before the first request: the input, the
output/report/snapshot paths, pyarrow for parquet, the checkpoint file, the settings and keys
(the engine raises its configuration errors before sending). Data goes to the output (stdout
by default), everything else to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from asa_bulk._envfile import DEFAULT_ENV_FILE, read_env_file
from asa_bulk._errors import AsaBulkError, ConfigError, NoKeysError
from asa_bulk._keys import ApiKey, parse_keys, redact, resolve_keys
from asa_bulk._options import SETTINGS
from asa_bulk._settings import parse_setting, resolve_settings
from asa_bulk._values import parse_text

if TYPE_CHECKING:
    from asa_bulk._checkpoint import SqliteCheckpoint

from ._dryrun import dry_run
from ._keep import KeptResults
from ._kept_parts import KeptParts, UnreadablePart, in_input_order
from ._kinds import CommandKind, batch_mode
from ._parser import (
    EXIT_NOT_SAVED,
    EXIT_NOTHING_SUCCEEDED,
    EXIT_OK,
    EXIT_SKIPPED,
    EXIT_USAGE,
)
from ._parts import open_output
from ._readers import read_input
from ._report import render_report, write_report
from ._signals import GracefulStop, graceful_stop, interrupts_raise
from ._snapshot import check_snapshot_dir, open_snapshot
from ._space import check_free_space
from ._writers import (
    check_writable_dir,
    check_writable_file,
    output_format,
    require_pyarrow,
)


class CommandAborted(AsaBulkError):
    """A second SIGINT/SIGTERM abandoned the run; ``exit_code`` is 128 + the signal."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


log = logging.getLogger("asa_bulk.cli")

#: Rows per chunk written: the engine holds about a chunk and a quarter of rows not yet written
#: (each body as ~4 KB of JSON text) and the chunk being written holds its products' lists and
#: dicts (~7.5 KB a row), so this sets the memory floor.
CHUNK_ROWS = 2_500


def keys_from_env(name: str, env_file: str | None) -> list[ApiKey]:
    """``--keys-env NAME``: the keys in environment variable NAME, else NAME in the env file,
    normalised and checked like ``ASA_API_KEYS`` (an empty value counts as unset)."""
    text, source = os.environ.get(name), name
    if not text and env_file is not None:
        text, source = read_env_file(env_file).get(name), f"{name} in {env_file}"
    if not text:
        raise NoKeysError(
            f"--keys-env {name}: no API key in environment variable {name}"
            + (f" nor in {env_file}" if env_file else "")
        )
    return parse_keys(text, source=source)


def _snapshot_day(text: str | None) -> date:
    if text is None:
        return datetime.now(timezone.utc).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--snapshot-date must be YYYY-MM-DD, got {text!r}") from None


def _engine_options(args: argparse.Namespace) -> dict[str, Any]:
    """The library settings the user set by flag; None leaves them to the environment / .env /
    defaults. A flag whose value is not plain text (a number, say) is parsed and checked like
    its ``ASA_*`` variable, so a bad one is one line naming the flag and the setting."""
    options: dict[str, Any] = {}
    for option in SETTINGS:
        if option.cli is None or not hasattr(args, option.cli.dest):
            continue  # a test knob (its variable only), or not a flag of this command
        value = getattr(args, option.cli.dest)
        if isinstance(value, str) and option.parse is not parse_text:
            value = parse_setting(option.name, value, source=option.cli.flags[0])
        options[option.name] = value
    return options


def _space_needed(
    args: argparse.Namespace, kind: CommandKind, rows: int
) -> list[tuple[str, Path, int]]:
    sizes, requests = kind.bytes_per_row, rows * kind.requests_per_row(args)
    checkpoint = Path(args.checkpoint or tempfile.gettempdir())
    per_request = sizes["checkpoint"]
    if kind.keeps_parts and args.output is not None and output_format(args.output) == "parquet":
        per_request += sizes["parquet"]  # the parts kept beside the records
    needs = [("checkpoint", checkpoint, requests * per_request)]
    if args.output is not None:
        size = requests * sizes[output_format(args.output)]
        needs.append(("output", Path(args.output), size))
    if args.snapshot_dir is not None:
        needs.append(("snapshot", Path(args.snapshot_dir), requests * sizes["parquet"]))
    return needs


def preflight(args: argparse.Namespace, kind: CommandKind) -> None:
    """Checks of every path the run will write (and of an --env-file given), before anything is
    read or sent."""
    if args.env_file is not DEFAULT_ENV_FILE and not Path(args.env_file).is_file():
        raise ConfigError(f"--env-file {args.env_file} does not exist")
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
        check_snapshot_dir(args.snapshot_dir, kind.snapshot_key)
    elif args.snapshot_date is not None:
        raise ConfigError("--snapshot-date needs --snapshot-dir")


def _run_dry(
    args: argparse.Namespace, kind: CommandKind, table: Any, options: dict[str, Any]
) -> int:
    settings = resolve_settings(options, env_file=args.env_file)
    resolved: list[ApiKey] | ConfigError
    try:  # the same checks, and so the same message, as a real run's
        keys = keys_from_env(args.keys_env, args.env_file) if args.keys_env else None
        resolved = resolve_keys(keys, env_file=args.env_file)
    except ConfigError as exc:
        resolved = exc
    result = dry_run(
        table,
        settings=settings,
        keys=resolved,
        checkpoint=args.checkpoint,
        rows_of=kind.rows_of(args),
        unit=kind.unit,
        item_label=kind.item_label,
    )
    print(redact(result.render()), flush=True)  # a key pasted as a setting is never echoed
    if args.report is not None:
        write_report(args.report, result.as_dict())
    return EXIT_USAGE if result.key_error else EXIT_OK


async def run_command(args: argparse.Namespace, kind: CommandKind) -> int:
    """The ``kind`` command; returns the exit code (raises AsaBulkError for usage errors)."""
    options = _engine_options(args)  # a bad flag is reported before any file is read
    kind.check(args)
    preflight(args, kind)
    table = read_input(
        args.input, column=args.column, input_format=args.input_format, shape=kind.input
    )
    log.info("read %d %s from %s (%s)", len(table.frame), kind.item_label, table.source,
             table.format)  # fmt: skip
    if args.dry_run:
        return _run_dry(args, kind, table, options)
    keys = keys_from_env(args.keys_env, args.env_file) if args.keys_env else None
    check_free_space(_space_needed(args, kind, len(table.frame)))

    import asa_bulk  # the engine (aiohttp and friends) only when something is sent

    progress = args.progress if args.progress is not None else sys.stderr.isatty()
    # Opened here rather than by the engine so that it is closed in every case (Ctrl-C too).
    kept = KeptResults.open(args.checkpoint)
    if kept.automatic:
        log.info("no --checkpoint: results are kept in %s until the output is written", kept.path)
    try:
        with graceful_stop() as stopping, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", asa_bulk.RunStoppedWarning)
            client = asa_bulk.Client(
                keys=keys,
                progress=progress,
                checkpoint=kept.store,
                allow_origin_change=args.allow_origin_change,
                repost_unconfirmed=args.repost_unconfirmed,
                env_file=args.env_file,
                **options,
            )
            async with client:
                result = await write_results(args, kind, table, client, stopping, kept.store)
    except asyncio.CancelledError:
        kept.close()
        if stopping.signum is None:
            raise
        raise CommandAborted(
            f"aborted; the results finished so far are kept in {kept.path} "
            f"({kept.resume_hint()} to resume)",
            stopping.exit_code,
        ) from None
    except BaseException:
        if kept.automatic and len(kept.store) == 0:
            kept.discard()  # refused before anything was fetched (a config error, say)
        else:
            kept.close()
        raise
    kept.close()
    for warning in caught:  # one clean log line each instead of "file:line: Warning: ..."
        log.warning("%s", warning.message)
    with interrupts_raise() as interrupt:
        try:
            return finish(args, result, kept, stopping)
        except KeyboardInterrupt:
            raise CommandAborted(
                f"interrupted while writing the report; the results are kept in {kept.path} "
                f"({kept.resume_hint()} to write them without paying again)",
                interrupt.exit_code,
            ) from None


@dataclass
class RunResult:
    """What the command needs once the run is over: its summary, counts and files."""

    summary: dict[str, Any] = field(default_factory=dict)
    rows: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    skipped_reasons: Counter[str] = field(default_factory=Counter)
    snapshot: str | None = None
    #: The file that could not be written, and why (the run stopped buying then).
    write_error: tuple[str, OSError] | None = None
    #: Rows written from parts kept in the checkpoint by an earlier run.
    kept_rows: int = 0
    #: Why a kept part could not be read (the output was not written, either).
    bad_part: str | None = None


async def write_results(
    args: argparse.Namespace,
    kind: CommandKind,
    table: Any,
    client: Any,
    stopping: GracefulStop,
    store: SqliteCheckpoint | None = None,
) -> RunResult:
    """Stream the run's chunks, in input order, into the output (and the snapshot) as they
    come: nothing holds the whole result. A file that cannot be written stops the run (the
    answers in flight are still checkpointed) instead of buying what could not be kept.

    A parquet output of a kind that keeps parts keeps them in ``store`` (the checkpoint), and
    the chunks kept by an earlier run are written from there instead of being built again
    (see ``_kept_parts``)."""
    result = RunResult()
    writing = f"the output {args.output or '(stdout)'}"
    stream, parts = None, None
    started = time.perf_counter()
    try:
        with contextlib.ExitStack() as files:  # on any error, both files are dropped
            template = kind.template(args)
            out = files.enter_context(open_output(args.output, template=template))
            snapshot = None
            if args.snapshot_dir is not None:
                day = _snapshot_day(args.snapshot_date)
                snapshot = files.enter_context(
                    open_snapshot(
                        args.snapshot_dir, day=day, template=template, key=kind.snapshot_key
                    )
                )
            positions, items = None, table.frame
            keeps = (
                kind.keeps_parts
                and out.schema is not None
                and snapshot is None
                and batch_mode(args) is False  # a batch run's parts carry batch_id: not kept
            )
            if keeps and store is not None:
                parts = KeptParts.open(
                    store,
                    table,
                    settings=client.settings,
                    keys=client.keys,
                    raw=args.raw,
                    schema=out.schema,
                    chunk_rows=CHUNK_ROWS,
                )
            if parts is not None:
                positions = parts.fetch_positions()
                if parts.any_kept:
                    # Numbered 0..k-1 by the engine: in_file_terms maps its messages back.
                    items = table.frame.iloc[positions].reset_index(drop=True)
                    log.info(
                        "%d of %d row(s) are written from parts kept in the checkpoint",
                        parts.rows - len(positions),
                        parts.rows,
                    )
            stream = kind.stream(client, items, args, stop=stopping.event, chunk_rows=CHUNK_ROWS)
            async for number, chunk, numbered in in_input_order(stream, parts, positions):
                writing = f"the output {args.output or '(stdout)'}"
                if chunk is None:  # a kept part (so there are parts, and it has a number)
                    out.write_table(parts.load(number))  # type: ignore[union-attr,arg-type]
                    continue
                chunk = table.in_file_terms(chunk, numbered)
                _count(result, chunk)
                written = out.write(chunk)
                if parts is not None and number is not None:
                    parts.keep(number, chunk, written)
                if snapshot is not None:
                    writing = f"the snapshot in {args.snapshot_dir}"
                    snapshot.write(chunk)
            writing = f"the output {args.output or '(stdout)'}"
            out.commit()
            if snapshot is not None:
                writing = f"the snapshot in {args.snapshot_dir}"
                snap = snapshot.finish()
                result.snapshot = (
                    f"{snap.path} ({snap.rows} rows; {snap.written} from this run, "
                    f"{snap.replaced} earlier rows of the day replaced)"
                )
    except OSError as exc:
        result.write_error = (writing, exc)
        if stream is not None:
            await stream.aclose()  # stop buying: what is in flight still reaches the checkpoint
    except UnreadablePart as exc:
        result.bad_part = str(exc)
        if stream is not None:
            await stream.aclose()
    result.summary = (stream.summary if stream is not None else None) or {}
    if parts is not None:
        parts.renew()
        parts.add_to(result.summary, time.perf_counter() - started)
        result.rows += parts.written_rows
        result.statuses.update(parts.statuses)
        result.kept_rows = parts.written_rows
    return result


def _count(result: RunResult, chunk: pd.DataFrame) -> None:
    statuses = chunk["status"]
    result.rows += len(chunk)
    result.statuses.update({str(k): int(v) for k, v in statuses.value_counts().items()})
    skipped = chunk.loc[statuses == "skipped", "error"]
    if len(skipped):
        reasons = skipped.astype(object).fillna("None").value_counts()
        result.skipped_reasons.update({str(k): int(v) for k, v in reasons.items()})


#: Stops that say nothing is broken: the command exits 1 (some rows skipped), never 3.
PLAIN_STOPS: Final = frozenset(
    {"budget_exhausted", "insufficient_credits", "batch_deadline", "batch_unconfirmed"}
)


def _exit_code(result: RunResult, stopping: GracefulStop | None) -> int:
    if stopping is not None and stopping.signum is not None:
        return stopping.exit_code
    stopped = result.summary.get("stopped")
    if result.write_error or result.bad_part or stopped == "checkpoint_failed":
        return EXIT_NOT_SAVED
    # A budget or the workspace's credits running out, or batches still out at the deadline
    # (or unconfirmed), is a plain stop (1), even before the first product: 3 says the
    # endpoint or the keys are broken.
    plain = stopped in PLAIN_STOPS
    succeeded = result.statuses["ok"] + result.statuses["not_found"]
    if result.rows and not plain and not succeeded:
        return EXIT_NOTHING_SUCCEEDED
    return EXIT_SKIPPED if result.statuses["skipped"] else EXIT_OK


def finish(
    args: argparse.Namespace,
    result: RunResult,
    kept: KeptResults | None = None,
    stopping: GracefulStop | None = None,
) -> int:
    """Report the run and pick the exit code (the output and snapshot are written already).

    When a file could not be written (a full disk, say) the results stay in the checkpoint,
    one line says where and how to write them without paying again, and the exit code is 4.
    """
    summary = result.summary
    code = _exit_code(result, stopping)
    if result.write_error is not None:
        writing, exc = result.write_error
        where = f"kept in {kept.path}" if kept is not None else "lost (no checkpoint)"
        hint = f": free some space and {kept.resume_hint()}" if kept is not None else ""
        log.error(
            "cannot write %s: %s; the results fetched are %s%s (nothing finished is sent "
            "again): exit code %d",
            writing,
            exc.strerror or exc,
            where,
            hint,
            EXIT_NOT_SAVED,
        )
        return EXIT_NOT_SAVED
    if result.bad_part is not None:
        log.error("%s: exit code %d", result.bad_part, EXIT_NOT_SAVED)
        return EXIT_NOT_SAVED
    extra: dict[str, Any] = {"input": args.input, "output": args.output or "stdout"}
    if summary.get("counts") == "pages":  # search: the summary counts pages, not these rows
        extra["result_rows"] = result.rows
    if result.snapshot is not None:
        extra["snapshot"] = result.snapshot
    extra["checkpoint"] = args.checkpoint
    if result.kept_rows:
        extra["kept_parts"] = f"{result.kept_rows} row(s) written as the checkpoint kept them"
    extra["exit_code"] = code
    try:
        if not args.quiet:
            print(render_report(summary, extra), file=sys.stderr, flush=True)
        if args.report is not None:
            write_report(args.report, json.loads(json.dumps(summary, default=str)), extra)
    except OSError as exc:
        log.error(
            "cannot write the report %s: %s; the output is complete: exit code %d",
            args.report,
            exc.strerror or exc,
            EXIT_NOT_SAVED,
        )
        return EXIT_NOT_SAVED
    _explain(result, code, kept)
    finished = code in (EXIT_OK, EXIT_SKIPPED, EXIT_NOTHING_SUCCEEDED)
    # An automatic checkpoint has served its purpose, unless it holds batches still open.
    if kept is not None and finished and not kept.discard() and kept.automatic:
        log.warning(
            "batches of this run are still open on the service: they are kept in %s; "
            "re-run the same command with --checkpoint %s to collect them (nothing is "
            "posted again)",
            kept.path,
            kept.path,
        )
    return code


def _explain(result: RunResult, code: int, kept: KeptResults | None) -> None:
    """The one warning line a scheduler's log needs when the exit code is not 0."""
    summary, statuses = result.summary, result.statuses
    skipped = statuses["skipped"]
    done = result.rows - skipped
    hint = kept.resume_hint() if kept is not None else "re-run the same command"
    where = f" (kept in {kept.path})" if kept is not None else ""
    if summary.get("stopped") == "interrupted" or code >= 128:
        log.warning(
            "interrupted: %d of %d row(s) done%s; %s to fetch the other %d: exit code %d",
            done, result.rows, where, hint, skipped, code,
        )  # fmt: skip
    elif code == EXIT_NOT_SAVED:
        log.error(
            "%s; the output holds every row, %d of them fetched, and the checkpoint what it "
            "could keep; free some space and %s to fetch the other %d: exit code %d",
            summary.get("stop_message") or "the checkpoint could not be written",
            done, hint, skipped, code,
        )  # fmt: skip
    elif code == EXIT_NOTHING_SUCCEEDED:
        why = ", ".join(f"{status}: {count}" for status, count in statuses.most_common() if count)
        log.warning("no row succeeded (%s): exit code %d", why, code)
    elif skipped:
        reasons = result.skipped_reasons.most_common()
        why = ", ".join(f"{reason}: {count}" for reason, count in reasons)
        log.warning("%d row(s) skipped (%s): exit code %d", skipped, why, code)
