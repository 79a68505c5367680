"""SIGINT/SIGTERM for a running command: the first one stops gracefully, a second one aborts.

Schedulers stop jobs with SIGTERM and people press Ctrl-C; either way the requests already in
flight are paid for, so the first signal only stops sending: their answers are awaited and
recorded, and the output and report are written. A second signal cancels the run at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class GracefulStop:
    """What the handlers saw: ``event`` is set on the first signal, ``signum`` names it."""

    event: asyncio.Event = field(default_factory=asyncio.Event)
    signum: int | None = None

    @property
    def exit_code(self) -> int:
        """128 + the signal's number, as shells report a job stopped by it (130, 143)."""
        return 128 + (self.signum or signal.SIGINT)


@contextlib.contextmanager
def graceful_stop() -> Iterator[GracefulStop]:
    """Install the two-stage handlers on the running loop for the block's duration."""
    loop = asyncio.get_running_loop()
    state = GracefulStop()
    main = asyncio.current_task()

    def on_signal(signum: int) -> None:
        if state.signum is None:
            state.signum = signum
            state.event.set()
            name = signal.Signals(signum).name
            print(
                f"asa-bulk: {name}: stopping; waiting for the answers in flight "
                "(already paid for). Send it again to abort at once.",
                file=sys.stderr,
                flush=True,
            )
        elif main is not None:
            main.cancel()

    installed = []
    for signum in SIGNALS:
        try:
            loop.add_signal_handler(signum, on_signal, signum)
        except (NotImplementedError, RuntimeError, ValueError):  # no signals here (Windows...)
            continue
        installed.append(signum)
    try:
        yield state
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


@contextlib.contextmanager
def interrupts_raise() -> Iterator[GracefulStop]:
    """For synchronous work after the run (writing the output): SIGINT and SIGTERM raise
    KeyboardInterrupt, so the caller can say where the results are instead of dying silently.
    ``signum`` of the yielded object tells which one it was."""
    state = GracefulStop()

    def on_signal(signum: int, frame: object) -> None:
        state.signum = signum
        raise KeyboardInterrupt

    previous = {}
    for signum in SIGNALS:
        try:
            previous[signum] = signal.signal(signum, on_signal)
        except ValueError:  # not the main thread: leave the signals alone
            continue
    try:
        yield state
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
