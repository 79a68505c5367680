"""``python -m asa_bulk.sandbox``: the same as ``asa-bulk sandbox``."""

from __future__ import annotations

import argparse

from ._command import add_sandbox_arguments, run_sandbox_command


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m asa_bulk.sandbox",
        description="Serve the offline Amazon Scraper API sandbox.",
    )
    add_sandbox_arguments(parser)
    return run_sandbox_command(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
