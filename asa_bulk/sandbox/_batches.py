"""Async batches: creation, the pending → running → complete clock, results and signed webhooks.

Timing (all multiplied by ``time_scale``): a batch waits ``batch_start_delay`` seconds (the docs'
~60 s start-up), then finishes one item every ``batch_item_seconds`` (0.6 s ≈ the documented 100
items per minute). Items are billed like sync calls (5 credits per 2xx item, 5 per search page)
and may hit the configured data faults; a batch whose items all failed ends ``failed``.

Webhook (``webhook_url``): POSTed once every item is done, body = the ``GET`` document,
headers ``X-ASA-Batch-Id``, ``X-ASA-Event: batch.completed`` and ``X-ASA-Signature:
sha256=<hex HMAC-SHA256 of the raw body keyed by the whole whsec_ secret>``. On a non-2xx or an
error it retries after 1, 2, 5, 15 and 60 minutes (5 retries). Being offline, the sandbox only
delivers to loopback hosts; other hosts are marked ``skipped``. ``https`` is required unless
``allow_http_webhooks``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from ._admit import ErrorReply
from ._bodies import Catalog
from ._faults import Chaos, is_not_found
from ._limits import KeyGate
from ._params import ParamError, product_params, search_params
from ._products import dumps
from ._responses import request_id
from ._settings import FAULT_STATUS, SandboxSettings
from ._state import Ledger

ENDPOINTS: Final = ("amazon.product", "amazon.search")
WEBHOOK_BACKOFF: Final = (60.0, 120.0, 300.0, 900.0, 3600.0)
_TRANSPORT_FAULTS: Final = frozenset({"reset", "html", "stall", "rate_limited", "capacity"})


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Batch:
    id: str
    endpoint: str
    items: list[dict[str, Any]]
    created_at: str
    webhook_url: str | None
    secret: str | None
    status: str = "pending"
    started_at: str | None = None
    completed_at: str | None = None
    success: int = 0
    failure: int = 0
    credits: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)
    delivery: str | None = None
    delivered_at: str | None = None
    last_error: str | None = None

    def document(self, *, with_results: bool = True) -> dict[str, Any]:
        """The ``GET /batch/{id}`` body (also the webhook body)."""
        doc: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "endpoint": self.endpoint,
            "total_count": len(self.items),
            "processed_count": len(self.results),
            "success_count": self.success,
            "failure_count": self.failure,
            "credits_charged": self.credits,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "webhook_url": self.webhook_url,
            "webhook_delivered_at": self.delivered_at,
            "webhook_delivery_status": self.delivery,
            "webhook_last_error": self.last_error,
        }
        if with_results:
            doc["results"] = list(self.results)
        return doc


def _wire(item: dict[str, Any]) -> dict[str, str]:
    """Batch item values as the query strings the sync endpoints would receive."""
    return {
        k: ("true" if v else "false") if isinstance(v, bool) else str(v) for k, v in item.items()
    }


def sign(secret: str, body: bytes) -> str:
    """The ``X-ASA-Signature`` value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BatchStore:
    """The workspace's batches and their worker tasks (on the server's event loop).

    It is given what it uses: the settings, the workspace's ledger, the fault dice, the
    catalogue the items are answered from, and ``error`` (builds and counts error responses).
    """

    def __init__(
        self,
        settings: SandboxSettings,
        ledger: Ledger,
        chaos: Chaos,
        catalog: Catalog,
        error: ErrorReply,
    ) -> None:
        self._settings = settings
        self._ledger = ledger
        self._chaos = chaos
        self._catalog = catalog
        self._error = error
        self._batches: dict[str, Batch] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    def _reply(self, key_id: str, gate: KeyGate, status: int, doc: object) -> web.Response:
        conc, rps = gate.headers(time.monotonic())
        self._ledger.count(key_id, status)
        headers = {
            "X-Request-Id": request_id(),
            "Asa-Concurrency": conc,
            "Asa-Rps": rps,
            "Asa-Cost": "0",
        }
        return web.Response(
            status=status, body=dumps(doc), headers=headers, content_type="application/json"
        )

    def _validate(self, data: object) -> tuple[str, list[dict[str, Any]], str | None]:
        if not isinstance(data, dict):
            raise ParamError("body must be a JSON object with endpoint and items")
        endpoint, items, hook = data.get("endpoint"), data.get("items"), data.get("webhook_url")
        if endpoint not in ENDPOINTS:
            raise ParamError(f"endpoint must be one of {', '.join(ENDPOINTS)}, got {endpoint!r}")
        if not isinstance(items, list) or not 1 <= len(items) <= 1000:
            raise ParamError("items must be an array of 1 to 1000 objects")
        strict = self._settings.strict_languages
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise ParamError(f'items[{i}] must be an object like {{"query": "B09HN3Q81F"}}')
            try:
                check = product_params if endpoint == "amazon.product" else search_params
                check(_wire(item), strict_languages=strict)
            except ParamError as exc:
                raise ParamError(f"items[{i}]: {exc}", exc.status, exc.code) from None
        if hook is not None:
            schemes = ("https", "http") if self._settings.allow_http_webhooks else ("https",)
            parts = urlsplit(hook) if isinstance(hook, str) else None
            if parts is None or parts.scheme not in schemes or not parts.hostname:
                raise ParamError(f"webhook_url must be an {' or '.join(schemes)} URL")
        return str(endpoint), items, hook

    async def create(self, request: web.Request, key_id: str, gate: KeyGate) -> web.StreamResponse:
        """``POST /batch``: validate, store, start the worker, answer 201."""
        try:
            data = json.loads(await request.read() or b"null")
        except (ValueError, UnicodeDecodeError):
            return self._error(key_id, 400, "invalid_params", "body must be valid JSON")
        try:
            endpoint, items, hook = self._validate(data)
        except ParamError as exc:
            return self._error(key_id, exc.status, exc.code, str(exc))
        batch = Batch(
            id=str(uuid.uuid4()),
            endpoint=endpoint,
            items=items,
            created_at=_now(),
            webhook_url=hook,
            secret="whsec_" + secrets.token_hex(16) if hook else None,
            delivery="pending" if hook else None,
        )
        self._batches[batch.id] = batch
        self._ledger.note(batch=True)
        task = asyncio.get_running_loop().create_task(self._work(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        doc: dict[str, Any] = {
            "id": batch.id,
            "status": batch.status,
            "total_count": len(items),
            "created_at": batch.created_at,
        }
        if batch.secret:
            doc["webhook_signature_secret"] = batch.secret
        doc["poll_url"] = f"/api/v1/amazon/batch/{batch.id}"
        return self._reply(key_id, gate, 201, doc)

    def get(self, batch_id: str, key_id: str, gate: KeyGate) -> web.StreamResponse:
        batch = self._batches.get(batch_id)
        if batch is None:
            return self._error(key_id, 404, "not_found", f"No batch with id {batch_id[:64]!r}")
        return self._reply(key_id, gate, 200, batch.document())

    def list(self, limit: str, key_id: str, gate: KeyGate) -> web.StreamResponse:
        if not (limit.isascii() and limit.isdigit()) or not 1 <= int(limit) <= 100:
            return self._error(
                key_id, 400, "invalid_params", f"limit must be an integer 1-100, got {limit!r}"
            )
        recent = list(self._batches.values())[-int(limit) :][::-1]
        return self._reply(
            key_id, gate, 200, {"batches": [b.document(with_results=False) for b in recent]}
        )

    # --- the worker
    async def _work(self, batch: Batch) -> None:
        s = self._settings
        await _sleep(s.batch_start_delay * s.time_scale)
        batch.status, batch.started_at = "running", _now()
        for item in batch.items:
            await _sleep(s.batch_item_seconds * s.time_scale)
            result = self._process(batch.endpoint, item)
            batch.results.append(result)
            if result["status"] == "ok":
                batch.success += 1
                batch.credits += result["credits_charged"]
            else:
                batch.failure += 1
        batch.status = "failed" if batch.success == 0 else "complete"
        batch.completed_at = _now()
        if batch.webhook_url:
            await self._deliver(batch)

    def _process(self, endpoint: str, item: dict[str, Any]) -> dict[str, Any]:
        s = self._settings
        params = _wire(item)
        p = product_params(params) if endpoint == "amazon.product" else None
        q = search_params(params) if p is None else None
        what, domain, cost = (
            (p.asin, p.domain, 5) if p else (q.query, q.domain, 5 * q.pages) if q else ("", "", 0)
        )
        latency, fault = self._chaos.draw("batch", what, domain)
        out: dict[str, Any] = {"input": item, "duration_ms": round(latency * 1000)}
        if fault in _TRANSPORT_FAULTS:  # the worker retries those internally
            fault = None
        code = fault
        if code is None and q is None and is_not_found(what, domain, s.not_found_rate):
            code = "product_not_found"
        if code is None and not self._ledger.reserve(cost):
            code = "insufficient_credits"
        if code is not None:
            status = {"product_not_found": 404, "insufficient_credits": 402}.get(
                code
            ) or FAULT_STATUS[code]
            return out | {
                "status": "error",
                "http_status": status,
                "error": code,
                "credits_charged": 0,
            }
        if q is None:
            data = self._catalog.product_data(what, domain)
            self._ledger.charge(cost, asin_domain=(what, domain))
        else:
            data = self._catalog.search_data(q)
            self._ledger.charge(cost, pages=q.pages)
        return out | {"status": "ok", "http_status": 200, "data": data, "credits_charged": cost}

    async def _deliver(self, batch: Batch) -> None:
        if batch.webhook_url is None or batch.secret is None:
            return
        if not _loopback(batch.webhook_url):
            batch.delivery = "skipped"
            batch.last_error = "the sandbox delivers webhooks to loopback hosts only"
            return
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        for attempt in range(len(WEBHOOK_BACKOFF) + 1):
            body = dumps(batch.document())
            headers = {
                "Content-Type": "application/json",
                "X-ASA-Batch-Id": batch.id,
                "X-ASA-Event": "batch.completed",
                "X-ASA-Signature": sign(batch.secret, body),
                "User-Agent": "asa-bulk-sandbox/1",
            }
            self._ledger.note(webhook=True)
            try:
                async with self._session.post(
                    batch.webhook_url, data=body, headers=headers
                ) as resp:
                    error = None if 200 <= resp.status < 300 else f"HTTP {resp.status}"
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                error = type(exc).__name__
            if error is None:
                batch.delivery, batch.delivered_at, batch.last_error = "delivered", _now(), None
                return
            batch.last_error = error
            if attempt == len(WEBHOOK_BACKOFF):
                batch.delivery = "failed"
                return
            batch.delivery = "retrying"
            await _sleep(WEBHOOK_BACKOFF[attempt] * self._settings.time_scale)

    async def close(self) -> None:
        """Stop every worker and close the webhook session."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()


async def _sleep(seconds: float) -> None:
    # Always yield, so a zero-time batch still lets the server answer polls in between.
    await asyncio.sleep(seconds if seconds > 0 else 0)
