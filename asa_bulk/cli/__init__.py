"""The ``asa-bulk`` command: ``products`` and ``search`` (files in, tables out), ``diff`` and
``history`` (questions to a snapshot folder), ``sandbox``, ``demo``.

``main(argv)`` parses and runs a command and returns its exit code; ``run(args)`` is the
importable coroutine behind ``products`` and ``search``. Data goes to stdout or files; logs,
the progress bar and the run report go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Sequence

from asa_bulk._errors import AsaBulkError
from asa_bulk._keys import RedactingFilter, redact

from ._parser import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    LAZY_COMMANDS,
    build_lazy_parser,
    build_parser,
)

__all__ = ["build_parser", "main", "run"]


@contextlib.contextmanager
def _logging_to_stderr(verbose: int, quiet: bool) -> Iterator[None]:
    """Log lines go to stderr for the command's duration (the previous setup is restored, so
    calling main() in-process, e.g. from tests, leaves logging as it was)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("asa-bulk: %(levelname)s: %(message)s"))
    handler.addFilter(RedactingFilter())  # third-party lines too (aiohttp) never show a key
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers[:] = [handler]
    # Default WARNING keeps a usage error to one line; -v adds INFO, -vv DEBUG.
    level = logging.WARNING if quiet or verbose == 0 else logging.INFO
    root.setLevel(logging.DEBUG if verbose >= 2 and not quiet else level)
    try:
        yield
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


async def run(args: argparse.Namespace) -> int:
    """Run the ``products`` or ``search`` command described by parsed ``args``; returns the
    exit code."""
    from ._command import run_command
    from ._kinds import KINDS

    return await run_command(args, KINDS[args.command])


def _run_lazy(name: str, argv: list[str]) -> int:
    _, module_name, adder_name, runner_name = LAZY_COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
        adder = getattr(module, adder_name)
        runner = getattr(module, runner_name)
    except (ImportError, AttributeError) as exc:
        print(
            f"asa-bulk {name}: this command is not available in this installation ({exc})",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        args = build_lazy_parser(name, adder).parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    return int(runner(args))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``asa-bulk`` and ``python -m asa_bulk``; returns the exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in LAZY_COMMANDS:
        return _run_lazy(arguments[0], arguments[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        with _logging_to_stderr(args.verbose, args.quiet):
            return asyncio.run(run(args))
    except AsaBulkError as exc:
        code = getattr(exc, "exit_code", EXIT_USAGE)  # CommandAborted carries 128 + signal
        # Redacted: a key pasted where a setting or a variable name goes must not be echoed.
        said = redact(str(exc))
        print(f"asa-bulk: {'error' if code == EXIT_USAGE else 'stopped'}: {said}", file=sys.stderr)
        return int(code)
    except KeyboardInterrupt:
        where = (
            f" are kept in {args.checkpoint}" if args.checkpoint else " are lost (no --checkpoint)"
        )
        print(
            f"asa-bulk: interrupted; results finished so far{where}. "
            "Re-run the same command to resume.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of stdout went away (`... | head`): stop quietly, as other tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as exc:  # a bug: its own exit code, never 1 ("the output holds every row")
        print(
            f"asa-bulk: internal error: {redact(f'{type(exc).__name__}: {exc}')} "
            f"(exit code {EXIT_INTERNAL}; -vv shows the traceback)",
            file=sys.stderr,
        )
        if args.verbose >= 2:
            print(redact(traceback.format_exc()), file=sys.stderr)
        return EXIT_INTERNAL
