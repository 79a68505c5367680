"""The aiohttp application: routes, and the order every request goes through.

Order for product/search: unknown path 404 → auth 401 (``unauthorized``/``revoked``) → per-key
limits 429 → parameters 400/501 → region 403 (Free plan only: no country-matched egress, so a
``country`` other than the marketplace's) → credits 402 → latency → injected fault → 404
``product_not_found`` → 200. Batch routes stop after the limits and their own validation.
Routes live under ``/api/v1/amazon`` and, as some provider material writes it, ``/v1/amazon``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from typing import Final
from urllib.parse import quote_plus

from aiohttp import web

from asa_bulk._keys import redact

from ._auth import KeyBook, extract_key, mask
from ._batches import BatchStore
from ._catalog import MARKETS, unit_hash
from ._faults import Chaos, is_not_found
from ._limits import KeyGate
from ._params import ParamError, product_params, search_params
from ._products import Shape, product_body
from ._responses import HTML_502, MESSAGES, error_response, request_id
from ._search import search_body
from ._settings import FAULT_STATUS, SandboxSettings
from ._state import Ledger

PREFIXES: Final = ("/api/v1/amazon", "/v1/amazon")
COST: Final = 5
_JSON: Final = "application/json"


class SandboxApp:
    """State of one running sandbox plus its request handlers."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.started = time.monotonic()
        self.keys = KeyBook(settings, self.started)
        self.ledger = Ledger(settings.credits)
        self.chaos = Chaos(settings)
        self.gates: dict[str, KeyGate] = {}
        self.batches = BatchStore(self)
        self._limits = settings.limits
        self._style = settings.error_style

    def build(self) -> web.Application:
        """The aiohttp application serving every route."""
        app = web.Application()
        for prefix in PREFIXES:
            app.router.add_get(f"{prefix}/product", self.product)
            app.router.add_get(f"{prefix}/search", self.search)
            app.router.add_post(f"{prefix}/batch", self.create_batch)
            app.router.add_get(f"{prefix}/batch", self.list_batches)
            app.router.add_get(prefix + "/batch/{batch_id}", self.get_batch)
        app.router.add_route("*", "/{tail:.*}", self.fallback)
        app.on_cleanup.append(self._cleanup)
        return app

    async def _cleanup(self, _app: web.Application) -> None:
        await self.batches.close()

    # --- shared steps
    def error(
        self,
        key_id: str | None,
        status: int,
        code: str,
        message: str,
        *,
        retry_after: int | None = None,
        retryable: bool | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> web.Response:
        """An error response in the configured style, counted in the stats."""
        self.ledger.count(key_id, status, code)
        return error_response(
            self._style,
            status,
            code,
            redact(message),  # messages echo parameters, and someone will paste a key into one
            retry_after=retry_after,
            retryable=retryable,
            extra_headers=extra_headers,
        )

    def _enter(self, request: web.Request) -> tuple[str, KeyGate] | web.Response:
        """Authenticate and admit a request: ``(key_id, gate)`` or the 401/429 to send."""
        now = time.monotonic()
        result = self.keys.check(extract_key(request.query, request.headers), now)
        if result.error is not None or result.key_id is None:
            return self.error(result.key_id, 401, result.error or "unauthorized", result.message)
        key_id = result.key_id
        gate = self.gates.get(key_id)
        if gate is None:
            gate = self.gates[key_id] = KeyGate(self._limits, now)
        refusal = gate.admit(now)
        if refusal is None:
            return key_id, gate
        reason, retry_after = refusal
        concurrency = reason.startswith("Exceeded concurrency")
        extra = {
            "X-Concurrency-Limit": str(self._limits.concurrency),
            "X-Concurrency-Remaining": "0",
        }
        return self.error(
            key_id,
            429,
            "concurrency_limit" if concurrency else "rate_limited",
            f"{reason} for key {mask(key_id)}",
            retry_after=retry_after,
            extra_headers=extra if concurrency else None,
        )

    def shape(self, ident: str) -> Shape:
        """The product shape for ``ident`` (an ASIN or a search query) under ``product_shape``."""
        shape = self.settings.product_shape
        if shape == "mixed":
            return "sdk" if unit_hash("shape", ident) < 0.5 else "docs"
        return shape

    def _ok(self, key_id: str, gate: KeyGate, body: bytes, cost: int, url: str) -> web.Response:
        conc, rps = gate.headers(time.monotonic())
        self.ledger.count(key_id, 200)
        headers = {
            "X-Request-Id": request_id(),
            "Asa-Concurrency": conc,
            "Asa-Rps": rps,
            "Asa-Cost": str(cost),
            "Asa-Attempts": "1",
            "Asa-Extractor-Version": "sandbox-1",
            "Asa-Resolved-Url": url,
            "Asa-Source-Status": "200",
        }
        return web.Response(body=body, headers=headers, content_type=_JSON)

    async def _fault(
        self, request: web.Request, key_id: str, kind: str, what: str
    ) -> web.StreamResponse:
        """The response for an injected fault (the reservation was already refunded)."""
        self.ledger.note(fault=kind)
        status = FAULT_STATUS[kind]
        if kind == "reset":
            self.ledger.count(key_id, 0, "reset")
            transport = request.transport
            if transport is not None:
                sock = transport.get_extra_info("socket")
                with contextlib.suppress(
                    OSError, AttributeError
                ):  # RST instead of FIN where possible
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                transport.abort()
            return web.Response(status=502)  # never written: the connection is gone
        if kind == "html":
            self.ledger.count(key_id, 502, "html")
            return web.Response(
                status=502,
                body=HTML_502,
                content_type="text/html",
                headers={"X-Request-Id": request_id()},
            )
        if kind == "stall":
            kind = "upstream_timeout"
        message = MESSAGES.get(kind, kind)
        if kind == "asin_mismatch":
            message = f"Asked for {what}, Amazon redirected to another ASIN"
        retry_after = self.settings.retry_after if status in (429, 503) else None
        return self.error(key_id, status, kind, message, retry_after=retry_after)

    async def _run(
        self, request: web.Request, key_id: str, endpoint: str, what: str, domain: str, cost: int
    ) -> web.StreamResponse | None:
        """Reserve credits, wait, maybe fail: None to go on, else the response to send."""
        if not self.ledger.reserve(cost):
            return self.error(key_id, 402, "insufficient_credits", "Workspace is out of credits")
        latency, fault = self.chaos.draw(endpoint, what, domain)
        if fault == "stall":
            latency = self.settings.stall_seconds
        try:
            if latency > 0:
                await asyncio.sleep(latency)
        except BaseException:
            self.ledger.refund(cost)
            raise
        if fault is not None:
            self.ledger.refund(cost)
            return await self._fault(request, key_id, fault, what)
        return None

    # --- handlers
    async def product(self, request: web.Request) -> web.StreamResponse:
        entered = self._enter(request)
        if isinstance(entered, web.Response):
            return entered
        key_id, gate = entered
        try:
            try:
                p = product_params(request.query, strict_languages=self.settings.strict_languages)
            except ParamError as exc:
                return self.error(key_id, exc.status, exc.code, str(exc))
            market = MARKETS[p.domain]
            if self.settings.plan == "free" and p.country and p.country != market.country:
                return self.error(
                    key_id,
                    403,
                    "forbidden_region",
                    f"Plan has no egress to country {p.country}; drop country",
                )
            failed = await self._run(request, key_id, "product", p.asin, p.domain, COST)
            if failed is not None:
                return failed
            if is_not_found(p.asin, p.domain, self.settings.not_found_rate):
                self.ledger.refund(COST)
                return self.error(
                    key_id,
                    404,
                    "product_not_found",
                    f"{MESSAGES['product_not_found']} ({p.asin})",
                    retryable=False,
                )
            body = product_body(p.asin, p.domain, self.shape(p.asin), p.add_html)
            self.ledger.charge(COST, asin_domain=(p.asin, p.domain))
            return self._ok(key_id, gate, body, COST, f"https://www.amazon.{p.domain}/dp/{p.asin}")
        finally:
            gate.release()

    async def search(self, request: web.Request) -> web.StreamResponse:
        entered = self._enter(request)
        if isinstance(entered, web.Response):
            return entered
        key_id, gate = entered
        try:
            try:
                p = search_params(request.query, strict_languages=self.settings.strict_languages)
            except ParamError as exc:
                return self.error(key_id, exc.status, exc.code, str(exc))
            cost = COST * p.pages
            failed = await self._run(request, key_id, "search", p.query, p.domain, cost)
            if failed is not None:
                return failed
            body = search_body(p, self.shape(p.query))
            self.ledger.charge(cost, pages=p.pages)
            return self._ok(
                key_id, gate, body, cost, f"https://www.amazon.{p.domain}/s?k={quote_plus(p.query)}"
            )
        finally:
            gate.release()

    async def create_batch(self, request: web.Request) -> web.StreamResponse:
        entered = self._enter(request)
        if isinstance(entered, web.Response):
            return entered
        key_id, gate = entered
        try:
            return await self.batches.create(request, key_id, gate)
        finally:
            gate.release()

    async def get_batch(self, request: web.Request) -> web.StreamResponse:
        entered = self._enter(request)
        if isinstance(entered, web.Response):
            return entered
        key_id, gate = entered
        try:
            return self.batches.get(request.match_info["batch_id"], key_id, gate)
        finally:
            gate.release()

    async def list_batches(self, request: web.Request) -> web.StreamResponse:
        entered = self._enter(request)
        if isinstance(entered, web.Response):
            return entered
        key_id, gate = entered
        try:
            return self.batches.list(request.query.get("limit", "20"), key_id, gate)
        finally:
            gate.release()

    async def fallback(self, request: web.Request) -> web.StreamResponse:
        """404 ``not_found`` for unknown paths, 405 for a known path with the wrong method."""
        path = request.path
        known = any(
            path.startswith(p) and path[len(p) :] in ("/product", "/search", "/batch")
            for p in PREFIXES
        )
        if known or any(
            path.startswith(p + "/batch/") and "/" not in path[len(p) + 7 :] for p in PREFIXES
        ):
            return self.error(
                None, 405, "method_not_allowed", f"{request.method} is not allowed on {path}"
            )
        return self.error(None, 404, "not_found", f"No route for {request.method} {request.path}")
