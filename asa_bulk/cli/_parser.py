"""The argument parser: ``asa-bulk products|sandbox|demo``.

Options of ``products`` keep the library's names; an option left out is passed as None so the
engine resolves it (flag > ``ASA_*`` environment > ``--env-file`` > default). Numeric flags are
kept as text here: ``_settings.parse_setting`` parses and checks them like their ``ASA_*``
variables, so both get the same checks and a bad value is one line on stderr.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable
from typing import Final

from asa_bulk._envfile import DEFAULT_ENV_FILE
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


def _add_products(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "products",
        help="look up products for a file of ASINs/URLs and write a table",
        description="Look up one product per input row and write one output row per input row.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "input",
        metavar="INPUT",
        help="a .txt (one ASIN or URL a line), .csv, .tsv, .jsonl or .parquet file, "
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
        help="the column holding ASINs/URLs in csv/tsv/jsonl/parquet input (default: asin)",
    )
    io.add_argument(
        "--input-format",
        choices=INPUT_FORMATS,
        default=None,
        help="read INPUT as this format instead of guessing from its extension "
        "(stdin default: guessed from the first line)",
    )

    api = p.add_argument_group("service and keys (unset: ASA_* environment, then .env)")
    api.add_argument(
        "--keys-env",
        metavar="NAME",
        default=None,
        help="read the API keys (comma/space separated) from environment variable NAME "
        "(or NAME in the env file) instead of ASA_API_KEYS/ASA_API_KEY",
    )
    api.add_argument(
        "--env-file",
        metavar="PATH",
        default=DEFAULT_ENV_FILE,
        help="dotenv file of keys and settings; default: .env if present (a PATH given must exist)",
    )
    api.add_argument("--base-url", default=None, help="API root (ASA_BASE_URL)")
    api.add_argument("--auth", choices=("bearer", "query"), default=None, help="(ASA_AUTH)")
    api.add_argument(
        "--allow-insecure-http",
        action="store_true",
        default=None,
        help="allow a plain http:// --base-url to a host other than this machine; the key "
        "then crosses the network in clear text (ASA_ALLOW_INSECURE_HTTP)",
    )
    api.add_argument(
        "--domain", default=None, help="default marketplace, e.g. com, de (ASA_DOMAIN)"
    )
    api.add_argument("--language", default=None, help="e.g. en_US (ASA_LANGUAGE)")
    api.add_argument("--country", default=None, help="exit-IP country, e.g. DE (ASA_COUNTRY)")

    lim = p.add_argument_group("limits")
    lim.add_argument(
        "--concurrency",
        default=None,
        help="requests in flight per key (ASA_CONCURRENCY; default adapts to the plan)",
    )
    lim.add_argument(
        "--rps",
        default=None,
        help="requests per second per key (ASA_RPS; default adapts to the plan)",
    )
    lim.add_argument("--timeout", default=None, help="seconds per request (ASA_TIMEOUT)")
    lim.add_argument(
        "--max-attempts",
        default=None,
        help="attempts per item (ASA_MAX_ATTEMPTS)",
    )
    lim.add_argument(
        "--max-wait",
        default=None,
        metavar="SECONDS",
        help="longest single wait, a Retry-After or a backoff (ASA_MAX_WAIT; default 300)",
    )
    lim.add_argument(
        "--max-credits",
        default=None,
        metavar="N",
        help="never start a request that could bill past N credits (5 per product); "
        "rows left are skipped/budget_exhausted (ASA_MAX_CREDITS)",
    )

    run = p.add_argument_group("run")
    run.add_argument(
        "--checkpoint",
        metavar="PATH",
        default=None,
        help="SQLite file recording every finished item as it arrives; re-run with the same "
        "PATH to resume (finished items are not sent, nor billed, again)",
    )
    run.add_argument(
        "--allow-origin-change",
        action="store_true",
        help="resume a --checkpoint that was filled against another --base-url (refused by "
        "default: its rows would pass as this service's)",
    )
    run.add_argument(
        "--snapshot-dir",
        metavar="DIR",
        default=None,
        help="also write DIR/date=YYYY-MM-DD/part-0.parquet (one row per ASIN and marketplace "
        "per day; a second pull the same day replaces that day's rows)",
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
    run.add_argument("--raw", action="store_true", help="add a raw column with each JSON body")
    bar = run.add_mutually_exclusive_group()
    bar.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="always draw the progress bar on stderr (default: only on a terminal)",
    )
    bar.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    run.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log lines (-vv: debug)"
    )
    run.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    p.set_defaults(command="products")


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
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser (``asa-bulk --help`` imports nothing heavy)."""
    parser = argparse.ArgumentParser(
        prog="asa-bulk",
        description="Bulk Amazon Scraper API product lookups: files in, tables out.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_products(sub)
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
