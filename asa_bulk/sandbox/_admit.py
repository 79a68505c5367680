"""Admission, the prologue every API route shares: authenticate → per-key limits → parameters.

:func:`admitted` wraps a handler so that it runs only for an admitted request, with its parsed
parameters, and the key's in-flight slot is released however the handler ends. A refusal is
answered here: 401 (``unauthorized``/``revoked``), 429 (``rate_limited``, or
``concurrency_limit`` with ``X-Concurrency-*`` headers), then the parser's 400/501.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from aiohttp import web

from ._auth import KeyBook, extract_key, mask
from ._limits import KeyGate
from ._params import ParamError
from ._settings import KeyLimits

P = TypeVar("P")


class ErrorReply(Protocol):
    """Builds (and counts) an error response: the app's ``error``."""

    def __call__(
        self,
        key_id: str | None,
        status: int,
        code: str,
        message: str,
        *,
        retry_after: int | None = None,
        retryable: bool | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> web.Response: ...


@dataclass(frozen=True, slots=True)
class Caller:
    """An admitted request's key and the gate holding its in-flight slot."""

    key_id: str
    gate: KeyGate


Handler = Callable[[web.Request, Caller, P], Awaitable[web.StreamResponse]]
Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Doorman:
    """Authenticates requests and admits them through their key's gate."""

    def __init__(self, keys: KeyBook, limits: KeyLimits, error: ErrorReply) -> None:
        self.keys = keys
        self.gates: dict[str, KeyGate] = {}
        self._limits = limits
        self._error = error

    def enter(self, request: web.Request) -> Caller | web.Response:
        """The admitted caller (holding an in-flight slot), or the 401/429 to send."""
        now = time.monotonic()
        result = self.keys.check(extract_key(request.query, request.headers), now)
        if result.error is not None or result.key_id is None:
            return self._error(result.key_id, 401, result.error or "unauthorized", result.message)
        key_id = result.key_id
        gate = self.gates.get(key_id)
        if gate is None:
            gate = self.gates[key_id] = KeyGate(self._limits, now)
        refusal = gate.admit(now)
        if refusal is None:
            return Caller(key_id, gate)
        reason, retry_after = refusal
        concurrency = reason.startswith("Exceeded concurrency")
        extra = {
            "X-Concurrency-Limit": str(self._limits.concurrency),
            "X-Concurrency-Remaining": "0",
        }
        return self._error(
            key_id,
            429,
            "concurrency_limit" if concurrency else "rate_limited",
            f"{reason} for key {mask(key_id)}",
            retry_after=retry_after,
            extra_headers=extra if concurrency else None,
        )

    def admitted(self, parse: Callable[[web.Request], P]) -> Callable[[Handler[P]], Route]:
        """Decorator: run the handler for admitted requests, with ``parse(request)`` (whose
        :class:`ParamError` becomes the error response), and always release the slot."""

        def decorate(handler: Handler[P]) -> Route:
            @functools.wraps(handler)
            async def route(request: web.Request) -> web.StreamResponse:
                caller = self.enter(request)
                if isinstance(caller, web.Response):
                    return caller
                try:
                    try:
                        params = parse(request)
                    except ParamError as exc:
                        return self._error(caller.key_id, exc.status, exc.code, str(exc))
                    return await handler(request, caller, params)
                finally:
                    caller.gate.release()

            return route

        return decorate
