"""Running the sandbox: ``serve()`` on the caller's loop, ``serve_in_thread()`` on its own.

Both yield a :class:`Sandbox` handle whose methods are thread-safe, so tests, notebooks and
subprocess-driven CLI tests can revoke keys, top up credits and read statistics while it runs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import date
from typing import Any, Final

from aiohttp import web

from ._app import SandboxApp
from ._auth import make_test_keys
from ._settings import SandboxSettings, parse_day
from ._state import SandboxStats

#: Seconds the server waits for in-flight handlers at shutdown before cancelling them.
SHUTDOWN_GRACE: Final = 0.5
_START_TIMEOUT: Final = 30.0


class Sandbox:
    """Handle to a running sandbox. ``base_url`` is e.g. ``http://127.0.0.1:54321``."""

    def __init__(self, app: SandboxApp, base_url: str) -> None:
        self._app = app
        self.base_url = base_url

    def __repr__(self) -> str:
        return f"Sandbox({self.base_url!r}, plan={self.settings.plan!r})"

    @property
    def settings(self) -> SandboxSettings:
        """The settings it runs with."""
        return self._app.settings

    def url(self, path: str = "/api/v1/amazon/product") -> str:
        """``base_url`` + ``path``."""
        return self.base_url + path

    def test_keys(self, n: int = 1) -> list[str]:
        """``n`` keys this sandbox accepts: the configured ones, else :func:`make_test_keys`."""
        keys = self.settings.keys
        if keys is not None:
            if n > len(keys):
                raise ValueError(f"only {len(keys)} keys are configured, asked for {n}")
            return list(keys[:n])
        return make_test_keys(n)

    def revoke(self, key_or_key_id: str) -> str:
        """Revoke a key from now on (401 ``revoked``); returns its key_id."""
        return self._app.keys.revoke(key_or_key_id)

    def set_today(self, day: date | str | None) -> None:
        """Answer as on ``day`` from now on (a date or ``"YYYY-MM-DD"``; None: the real date):
        prices, stock and search rankings drift by day (see ``SandboxSettings.today``)."""
        self._app.day = parse_day(day)

    @property
    def today(self) -> date:
        """The day the sandbox answers as on."""
        return self._app.today()

    def set_credits(self, credits: int | None) -> None:
        """Set the workspace's remaining credits (``None`` = unlimited)."""
        self._app.ledger.set_credits(credits)

    @property
    def stats(self) -> SandboxStats:
        """A consistent snapshot of the counters."""
        gates = dict(self._app.gates)
        return self._app.ledger.snapshot(
            {k: g.max_in_flight for k, g in gates.items()},
            {k: g.in_flight for k, g in gates.items()},
        )

    def reset_stats(self) -> None:
        """Zero the counters (credits and revocations are kept)."""
        self._app.ledger.reset()
        for gate in list(self._app.gates.values()):
            gate.max_in_flight = gate.in_flight


def _resolve(settings: SandboxSettings | None, overrides: dict[str, Any]) -> SandboxSettings:
    base = settings if settings is not None else SandboxSettings()
    return base.replace(**overrides) if overrides else base


@contextlib.asynccontextmanager
async def serve(
    settings: SandboxSettings | None = None, **overrides: Any
) -> AsyncIterator[Sandbox]:
    """Run a sandbox on the current event loop for the duration of the ``async with`` block."""
    resolved = _resolve(settings, overrides)
    app = SandboxApp(resolved)
    runner = web.AppRunner(
        app.build(), access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_GRACE
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, resolved.host, resolved.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in host else host
        yield Sandbox(app, f"http://{shown}:{port}")
    finally:
        await runner.cleanup()


@contextlib.contextmanager
def serve_in_thread(settings: SandboxSettings | None = None, **overrides: Any) -> Iterator[Sandbox]:
    """Run a sandbox on its own event loop in a daemon thread for the ``with`` block."""
    resolved = _resolve(settings, overrides)  # a ConfigError surfaces here, in the caller's thread
    ready: concurrent.futures.Future[tuple[Sandbox, asyncio.AbstractEventLoop, asyncio.Event]]
    ready = concurrent.futures.Future()

    async def main() -> None:
        stop = asyncio.Event()
        async with serve(resolved) as sandbox:
            ready.set_result((sandbox, asyncio.get_running_loop(), stop))
            await stop.wait()

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # a start-up failure goes to the caller waiting on ``ready``
            if ready.done():
                raise
            ready.set_exception(exc)

    thread = threading.Thread(target=run, name="asa-bulk-sandbox", daemon=True)
    thread.start()
    sandbox, loop, stop = ready.result(timeout=_START_TIMEOUT)
    try:
        yield sandbox
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=_START_TIMEOUT)
