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
from datetime import date, datetime, timezone
from typing import Final
from urllib.parse import quote_plus

from aiohttp import web

from asa_bulk._keys import redact

from ._admit import Caller, Doorman
from ._auth import KeyBook
from ._batches import BatchStore
from ._bodies import Catalog, StockCatalog
from ._catalog import MARKETS
from ._faults import Chaos, is_not_found
from ._flat import FlatCatalog
from ._limits import KeyGate
from ._params import ProductParams, SearchParams, product_params, search_params
from ._responses import HTML_502, MESSAGES, error_response, request_id
from ._settings import FAULT_STATUS, SandboxSettings, parse_day
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
        #: The day the answers are drawn for (None: the real UTC date); see ``_drift``.
        self.day = parse_day(settings.today)
        self.catalog: Catalog = (
            FlatCatalog(settings.product_shape)
            if settings.flat_catalog
            else StockCatalog(settings.product_shape, self.today)
        )
        self.doorman = Doorman(self.keys, settings.limits, self.error)
        self.gates = self.doorman.gates
        self.batches = BatchStore(settings, self.ledger, self.chaos, self.catalog, self.error)
        self._style = settings.error_style

    def today(self) -> date:
        """The sandbox's calendar day."""
        return self.day if self.day is not None else datetime.now(timezone.utc).date()

    def build(self) -> web.Application:
        """The aiohttp application serving every route."""
        strict = self.settings.strict_languages
        admitted = self.doorman.admitted

        def products(r: web.Request) -> ProductParams:
            return product_params(r.query, strict_languages=strict)

        def searches(r: web.Request) -> SearchParams:
            return search_params(r.query, strict_languages=strict)

        def nothing(_r: web.Request) -> None:
            return None  # the handler validates the JSON body it reads

        def batch_id(r: web.Request) -> str:
            return r.match_info["batch_id"]

        def limit(r: web.Request) -> str:
            return r.query.get("limit", "20")

        product, search = admitted(products)(self.product), admitted(searches)(self.search)
        create_batch = admitted(nothing)(self.create_batch)
        get_batch = admitted(batch_id)(self.get_batch)
        list_batches = admitted(limit)(self.list_batches)
        app = web.Application()
        for prefix in PREFIXES:
            app.router.add_get(f"{prefix}/product", product)
            app.router.add_get(f"{prefix}/search", search)
            app.router.add_post(f"{prefix}/batch", create_batch)
            app.router.add_get(f"{prefix}/batch", list_batches)
            app.router.add_get(prefix + "/batch/{batch_id}", get_batch)
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

    # --- handlers (wrapped by Doorman.admitted in build())
    async def product(
        self, request: web.Request, caller: Caller, p: ProductParams
    ) -> web.StreamResponse:
        key_id = caller.key_id
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
        body = self.catalog.product(p.asin, p.domain, p.add_html)
        self.ledger.charge(COST, asin_domain=(p.asin, p.domain))
        url = f"https://www.amazon.{p.domain}/dp/{p.asin}"
        return self._ok(key_id, caller.gate, body, COST, url)

    async def search(
        self, request: web.Request, caller: Caller, p: SearchParams
    ) -> web.StreamResponse:
        cost = COST * p.pages
        failed = await self._run(request, caller.key_id, "search", p.query, p.domain, cost)
        if failed is not None:
            return failed
        body = self.catalog.search(p)
        self.ledger.charge(cost, pages=p.pages)
        url = f"https://www.amazon.{p.domain}/s?k={quote_plus(p.query)}"
        return self._ok(caller.key_id, caller.gate, body, cost, url)

    async def create_batch(
        self, request: web.Request, caller: Caller, _params: None
    ) -> web.StreamResponse:
        return await self.batches.create(request, caller.key_id, caller.gate)

    async def get_batch(
        self, _request: web.Request, caller: Caller, batch_id: str
    ) -> web.StreamResponse:
        return self.batches.get(batch_id, caller.key_id, caller.gate)

    async def list_batches(
        self, _request: web.Request, caller: Caller, limit: str
    ) -> web.StreamResponse:
        return self.batches.list(limit, caller.key_id, caller.gate)

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
