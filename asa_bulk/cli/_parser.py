"""The argument parser: ``asa-bulk products|search|diff|history|sandbox|demo``.

The flags of the library's options come from their declarations in ``_options`` (spelling,
metavar, help, variable, default); only the command's own flags (input, output, snapshot,
report) are written here. A setting's flag left out is None, so the engine resolves it (flag >
``ASA_*`` environment > ``--env-file`` > default). Numeric flags are kept as text here:
``_settings.parse_setting`` parses and checks them like their ``ASA_*`` variables, so both get
the same checks and a bad value is one line on stderr.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable
from typing import Final

from asa_bulk._option import Flag, Option
from asa_bulk._options import OPTIONS
from asa_bulk._records import SEARCH_SORTS
from asa_bulk._version import __version__

INPUT_FORMATS: Final = ("txt", "csv", "tsv", "jsonl", "parquet")

#: Exit codes a scheduler can act on.
EXIT_OK: Final = 0  # every row reached a final status other than "skipped"
EXIT_SKIPPED: Final = 1  # some rows "skipped" (no usable key, credits or budget); output complete
EXIT_USAGE: Final = 2  # usage or input error, nothing sent
EXIT_NOTHING_SUCCEEDED: Final = 3  # not one row ok or not_found: a dead or wrong endpoint, say
EXIT_NOT_SAVED: Final = 4  # the output or the checkpoint could not be written; results kept
EXIT_INTERNAL: Final = 70  # a bug (EX_SOFTWARE); -vv shows the traceback
EXIT_INTERRUPTED: Final = 130  # SIGINT (128 + 2): in-flight answers recorded, output written
EXIT_TERMINATED: Final = 143  # SIGTERM (128 + 15), likewise

#: Every exit code and what it means (the --help epilog and the README's table say the same).
EXIT_CODES: Final = {
    EXIT_OK: "every row reached a final status (ok, not_found, invalid, failed)",
    EXIT_SKIPPED: "some rows are skipped (no usable key, credits or --max-credits exhausted, "
    "the API unreachable); the output still holds every row",
    EXIT_USAGE: "usage or input error (bad file, setting or key, unwritable output, too little "
    "disk space): nothing was sent",
    EXIT_NOTHING_SUCCEEDED: "no row succeeded (none ok or not_found): a dead or wrong "
    "endpoint, every key revoked, or no valid row (a budget or credits stop is 1)",
    EXIT_NOT_SAVED: "the output, report or checkpoint could not be written (a full disk); "
    "what was fetched is kept in the checkpoint named on stderr",
    EXIT_INTERNAL: "internal error (a bug): one line on stderr, the traceback with -vv",
    EXIT_INTERRUPTED: "SIGINT (Ctrl-C): answers in flight recorded, output written, the rest "
    "skipped; a second signal aborts at once",
    EXIT_TERMINATED: "SIGTERM: the same as SIGINT",
}

_EPILOG = "exit codes:\n" + "\n".join(
    textwrap.fill(meaning, 96, initial_indent=f"  {code:>3}  ", subsequent_indent=" " * 7)
    for code, meaning in EXIT_CODES.items()
)


def _flag_help(option: Option, flag: Flag) -> str:
    """The option's help for ``--help``: a setting's names its variable and default."""
    text = flag.help or option.help.rstrip(".")
    if text[1:2].islower():  # a sentence in the docs, argparse's lower case here ("API" stays)
        text = text[0].lower() + text[1:]
    if not option.setting:
        return text
    if option.default is None:
        default = f"unset: {option.unset}" if option.unset else "unset"
    else:
        default = f"default {option.default}"
    return f"{text} ({option.env[0]}; {default})"


def _add_option_flag(group: argparse._ArgumentGroup, option: Option, flag: Flag) -> None:
    """``flag`` of ``option``. Left out, a setting's flag is None, so that the engine reads the
    variable; a value with a parser stays text here (``_engine_options`` parses it)."""
    help_text = _flag_help(option, flag)
    if flag.action == "on_off":
        pair = group.add_mutually_exclusive_group()
        on, off = flag.flags
        pair.add_argument(on, dest=flag.dest, action="store_true", default=None, help=help_text)
        pair.add_argument(off, dest=flag.dest, action="store_false", help=flag.off_help)
    elif flag.action == "switch":
        default = None if option.setting else option.default
        group.add_argument(*flag.flags, action="store_true", default=default, help=help_text)
    else:
        group.add_argument(
            *flag.flags,
            metavar=flag.metavar,
            choices=option.choices,
            default=None if option.setting else option.default,
            help=help_text,
        )


#: Options of products only: search has no language/country parameter and no raw column.
_PRODUCT_ONLY: Final = frozenset({"language", "country", "raw"})


def _add_table_command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    *,
    help_text: str,
    description: str,
    items: str,
    plural: str,
    column: str,
) -> argparse.ArgumentParser:
    """A files-in, table-out command (products, search): its input, output and run flags."""
    p = sub.add_parser(
        name,
        help=help_text,
        description=textwrap.fill(description, 96),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "input",
        metavar="INPUT",
        help=f"a .txt (one {items} a line), .csv, .tsv, .jsonl or .parquet file, "
        "or - for stdin (.gz accepted for text formats)",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="OUTPUT",
        help="a .csv, .parquet or .jsonl file (format by extension; written atomically); "
        "default: JSON lines on stdout",
    )
    io = p.add_argument_group("input")
    io.add_argument(
        "--column",
        metavar="NAME",
        default=None,
        help=f"the column holding {plural} in csv/tsv/jsonl/parquet input (default: {column})",
    )
    io.add_argument(
        "--input-format",
        choices=INPUT_FORMATS,
        default=None,
        help="read INPUT as this format instead of guessing from its extension "
        "(stdin default: guessed from the first line)",
    )

    groups = {
        "service": p.add_argument_group("service and keys (unset: ASA_* environment, then .env)"),
        "limits": p.add_argument_group("limits"),
        "run": p.add_argument_group("run"),
    }
    for option in OPTIONS.values():
        if option.cli is not None and (name == "products" or option.name not in _PRODUCT_ONLY):
            _add_option_flag(groups[option.cli.group], option, option.cli)
    run = groups["run"]
    run.add_argument(
        "--snapshot-dir",
        metavar="DIR",
        default=None,
        help="also write DIR/date=YYYY-MM-DD/part-0.parquet (one day's rows; a second pull "
        "the same day replaces the rows of what it fetched again)",
    )
    run.add_argument(
        "--snapshot-date",
        metavar="YYYY-MM-DD",
        default=None,
        help="the snapshot's date partition (default: today, UTC)",
    )
    run.add_argument("--report", metavar="PATH", default=None, help="write the run summary as JSON")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="validate the input and the keys' format, show counts and the worst-case credit "
        "cost; send nothing",
    )
    run.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log lines (-vv: debug)"
    )
    run.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    p.set_defaults(command=name)
    return p


def _add_products(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _add_table_command(
        sub,
        "products",
        help_text="look up products for a file of ASINs/URLs and write a table",
        description="Look up one product per input row and write one output row per input row.",
        items="ASIN or URL",
        plural="ASINs/URLs",
        column="asin",
    )


def _add_search(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _add_table_command(
        sub,
        "search",
        help_text="search a file of keywords and write one row per result",
        description="Search each input query and write one output row per result card (a query "
        "with no results, or one that failed, is one row; none is ever missing). Each page is "
        "one request of 5 credits.",
        items="query",
        plural="queries",
        column="query",
    )
    pages = p.add_argument_group("search")
    pages.add_argument(
        "--pages",
        metavar="N",
        default="1",
        help="result pages per query, from --start-page (1 to 10; default 1); each page is "
        "one request (5 credits)",
    )
    pages.add_argument(
        "--start-page",
        metavar="N",
        default="1",
        help="the first result page to fetch (default 1)",
    )
    pages.add_argument(
        "--sort-by",
        choices=SEARCH_SORTS,
        default="best_match",
        help="result order, unless a row's sort_by column says otherwise (default best_match)",
    )
    p.set_defaults(raw=False)


#: Subcommands whose options live in another module, imported only when the command runs:
#: name -> (help, module, function adding the options, function running the command).
LAZY_COMMANDS: Final = {
    "sandbox": (
        "run the offline sandbox server (see asa-bulk sandbox --help)",
        "asa_bulk.sandbox",
        "add_sandbox_arguments",
        "run_sandbox_command",
    ),
    "demo": (
        "a short demo against the sandbox (see asa-bulk demo --help)",
        "asa_bulk.cli._demo",
        "add_demo_arguments",
        "run_demo_command",
    ),
    "diff": (
        "what changed between two pulls of a --snapshot-dir folder",
        "asa_bulk.cli._history_commands",
        "add_diff_arguments",
        "run_diff_command",
    ),
    "history": (
        "every pull of a --snapshot-dir folder as one table",
        "asa_bulk.cli._history_commands",
        "add_history_arguments",
        "run_history_command",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser (``asa-bulk --help`` imports nothing heavy)."""
    parser = argparse.ArgumentParser(
        prog="asa-bulk",
        description="Bulk Amazon Scraper API product lookups and keyword searches: files in, "
        "tables out.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_products(sub)
    _add_search(sub)
    for name, (help_text, *_) in LAZY_COMMANDS.items():
        # Listed for --help only: main() hands these commands to their own parser.
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def build_lazy_parser(
    name: str, adder: Callable[[argparse.ArgumentParser], None]
) -> argparse.ArgumentParser:
    """The full parser of a lazily loaded subcommand (``asa-bulk NAME ...``)."""
    parser = argparse.ArgumentParser(prog=f"asa-bulk {name}")
    adder(parser)
    return parser
