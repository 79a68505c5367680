"""The ``asa-bulk sandbox`` command (also ``python -m asa_bulk.sandbox``).

Serves until Ctrl-C or SIGTERM. The first line on stdout is ``Sandbox serving <base_url>`` so
scripts and tests can read the URL; errors go to stderr. Exit status: 0 after a clean stop,
1 when it cannot listen, 2 for a bad configuration. ``--flat-catalog`` is the benchmark mode
(``SandboxSettings.flat_catalog``): the sandbox's CPU per request stays flat at any N.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Any, TextIO

from asa_bulk._errors import ConfigError

from ._serve import serve
from ._settings import PLAN_LIMITS, SandboxSettings

DEFAULT_PORT = 8000
_FLAT_NOTE = (
    "Flat catalogue (benchmark mode): products come from a fixed pool of templates, "
    "ASIN substituted; CPU per request is the same at any number of unique ASINs."
)


def add_sandbox_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the sandbox command's options to ``parser`` (flags win over ``--config``)."""
    parser.add_argument("--host", help="interface to bind (default 127.0.0.1, loopback only)")
    parser.add_argument(
        "--port", type=int, help=f"port to listen on (default {DEFAULT_PORT}; 0 = any free port)"
    )
    parser.add_argument("--config", metavar="FILE", help="JSON file of SandboxSettings fields")
    parser.add_argument(
        "--plan", choices=list(PLAN_LIMITS), help="per-key limits preset (default pro)"
    )
    parser.add_argument(
        "--fixed-latency", type=float, metavar="SECONDS", help="answer after exactly this long"
    )
    parser.add_argument(
        "--latency-scale", type=float, metavar="FACTOR", help="multiply the realistic latency"
    )
    parser.add_argument(
        "--flat-catalog",
        action="store_true",
        default=None,
        help="benchmark mode: product bodies from a fixed pool of pre-rendered templates with "
        "the ASIN substituted, so the sandbox's CPU per request stays flat at any number of "
        "unique ASINs (by default each ASIN's body is generated and the last 65,536 cached; "
        "beyond that every request costs the sandbox ~2.5x more CPU)",
    )
    parser.add_argument(
        "--today",
        metavar="YYYY-MM-DD",
        help="answer as on this day (prices, stock and search rankings drift by day; default: "
        "the real date; 2026-05-15 has no drift)",
    )


def _settings(args: argparse.Namespace) -> SandboxSettings:
    flags: dict[str, Any] = {
        name: getattr(args, name, None)
        for name in (
            "host",
            "port",
            "plan",
            "fixed_latency",
            "latency_scale",
            "flat_catalog",
            "today",
        )
        if getattr(args, name, None) is not None
    }
    in_file: set[str] = set()
    if getattr(args, "config", None):
        settings = SandboxSettings.from_file(args.config, **flags)
        try:
            in_file = set(json.loads(Path(args.config).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):  # already read once by from_file
            in_file = set()
    else:
        settings = SandboxSettings(**flags)
    if "port" not in flags and "port" not in in_file:
        settings = settings.replace(port=DEFAULT_PORT)
    return settings


def _describe_keys(settings: SandboxSettings) -> str:
    if settings.keys is None:
        return (
            "Accepts any asa_test_ key (asa_test_ + 24 letters/digits); "
            "no real key or credits needed."
        )
    return f"Accepts {len(settings.keys)} configured key(s)."


async def _serve_until_stopped(settings: SandboxSettings, out: TextIO) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not available on Windows or outside the main thread: Ctrl-C then raises instead.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    try:
        async with serve(settings) as sandbox:
            limits = settings.limits
            print(f"Sandbox serving {sandbox.base_url}", file=out, flush=True)
            print(_describe_keys(settings), file=out, flush=True)
            print(
                f"Plan {settings.plan}: {limits.concurrency} in flight, {limits.rps:g} rps "
                "per key. Press Ctrl-C to stop.",
                file=out,
                flush=True,
            )
            if settings.flat_catalog:
                print(_FLAT_NOTE, file=out, flush=True)
            await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)


def run_sandbox_command(args: argparse.Namespace) -> int:
    """Run ``asa-bulk sandbox`` with parsed ``args``; returns the exit status."""
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"asa-bulk sandbox: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve_until_stopped(settings, sys.stdout))
    except KeyboardInterrupt:  # platforms without loop signal handlers
        pass
    except OSError as exc:
        print(
            f"asa-bulk sandbox: cannot listen on {settings.host}:{settings.port}: "
            f"{exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    print("Sandbox stopped.", file=sys.stdout, flush=True)
    return 0
