"""The batch endpoints, one call at a time: create, poll, list (§2.3-2.5 of the reference).

Each call takes a key from the run's :class:`~asa_bulk._keypool.KeyPool` like any request
(so it counts against that key's limits), retires a key that answers 401, pauses one that
answers 429/503, and stops the run on 402, following the same error table as the lookups.
What differs is the POST: an answer lost on the way (a timeout, a dropped connection, a 5xx)
may still have created a batch, and posting again would bill it again, so such an answer is
never retried here. It comes back as ``lost`` for the runner to reconcile.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

import aiohttp

from ._clock import Clock
from ._keypool import KeyPool, KeySlot, NoUsableKeys, WorkspaceStopped
from ._limits import parse_retry_after
from ._lookup import authorized, clean_text, decode_body, error_fields
from ._policy import Action, RetryPolicy, classify
from ._settings import Settings

BATCH_PATH: Final = "/api/v1/amazon/batch"


class BatchHalt(Exception):
    """The run must stop: no usable key, or the workspace is out of credits."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Reply:
    """One batch call's answer. ``lost``: no answer came (or none from the API), so whether a
    POST created a batch is unknown."""

    status: int | None
    #: Not in the repr: a POST's answer holds the webhook's signature secret.
    body: dict[str, Any] | None = field(default=None, repr=False)
    error: str | None = None
    message: str | None = None
    key_id: str | None = None
    lost: bool = False

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and self.body is not None

    def describe(self) -> str:
        """One line: what came back (for messages; never a key: the texts are redacted)."""
        status = f"HTTP {self.status}" if self.status is not None else "no answer"
        detail = ": ".join(part for part in (self.error, self.message) if part)
        return f"{status} {detail}".strip()


class BatchApi:
    """The three batch calls on one run's session, keys and clock."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        settings: Settings,
        pool: KeyPool,
        policy: RetryPolicy,
        clock: Clock,
        rng: random.Random,
    ) -> None:
        self._session = session
        self._settings = settings
        self._pool = pool
        self._policy = policy
        self._clock = clock
        self._rng = rng
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout)
        #: Calls sent, for the run summary's ``requests_sent``.
        self.sent = 0
        #: Called each time a call gives its key's slot back (the sync retries may be waiting
        #: for one: their runner is woken by its own requests only).
        self.on_release: Callable[[], None] = lambda: None

    async def create(
        self, endpoint: str, items: list[dict[str, str]], webhook_url: str | None
    ) -> Reply:
        """``POST /batch``. Retried only where the service surely created nothing (401 on
        another key, 429/503 after the pause); ``lost`` otherwise when no answer came."""
        body: dict[str, Any] = {"endpoint": endpoint, "items": items}
        if webhook_url is not None:
            body["webhook_url"] = webhook_url
        return await self._call("POST", BATCH_PATH, json=body, retry_lost=False)

    async def get(self, batch_id: str) -> Reply:
        """``GET /batch/{id}``: the batch's document (with ``results``)."""
        path = f"{BATCH_PATH}/{quote(batch_id, safe='')}"  # an id is the service's text
        return await self._call("GET", path, retry_lost=True)

    async def recent(self, limit: int = 100) -> Reply:
        """``GET /batch?limit=N``: the recent batches (an SDK-only route; may not exist)."""
        return await self._call("GET", BATCH_PATH, params={"limit": str(limit)}, retry_lost=True)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        retry_lost: bool,
    ) -> Reply:
        failures = throttles = 0
        while True:
            slot = await self._key()
            reply, retry_after = await self._send(slot, method, path, params, json)
            self._pool.end(slot)
            self.on_release()
            if reply.ok:
                self._pool.observe_limits(slot, None, None, self._clock.now())
                return reply
            if reply.lost:
                failures += 1
                if not retry_lost or failures >= self._policy.max_attempts:
                    return reply
                await self._clock.sleep(self._policy.backoff(failures, 1.0, self._rng))
                continue
            assert reply.status is not None  # not lost: the API answered
            rule = classify(reply.status, reply.error)
            if rule.action is Action.RETIRE_KEY:
                self._pool.retire(slot, reply.error or "unauthorized")
            elif rule.action is Action.STOP:
                self._pool.stop(reply.error or "insufficient_credits")
                raise BatchHalt(self._pool.stopped or "insufficient_credits")
            elif rule.action is Action.THROTTLE and throttles < self._policy.max_throttles:
                throttles += 1
                wait = self._policy.throttle_wait(
                    retry_after, slot.throttles_in_row + 1, rule.min_delay, self._rng
                )
                self._pool.cool_down(slot, self._clock.now() + wait)
            elif rule.action is Action.RETRY and retry_lost:
                failures += 1
                if failures >= self._policy.max_attempts:
                    return reply
                await self._clock.sleep(self._policy.backoff(failures, rule.min_delay, self._rng))
            elif rule.action is Action.RETRY:
                # A 5xx to a POST: the batch may exist all the same.
                return Reply(reply.status, None, reply.error, reply.message, reply.key_id, True)
            else:
                return reply

    async def _key(self) -> KeySlot:
        """A key that may send now, waiting for one on the run's clock."""
        while True:
            try:
                choice = self._pool.pick(self._clock.now())
            except NoUsableKeys:
                raise BatchHalt("no_usable_keys") from None
            except WorkspaceStopped as stopped:
                raise BatchHalt(stopped.reason) from None
            if isinstance(choice, KeySlot):
                self._pool.begin(choice, self._clock.now())
                return choice
            # A float: when a key frees up; None: every key is busy with sync retries.
            delay = 0.05 if choice is None else max(0.0, choice - self._clock.now())
            await self._clock.sleep(delay)

    async def _send(
        self,
        slot: KeySlot,
        method: str,
        path: str,
        params: dict[str, str] | None,
        json: dict[str, Any] | None,
    ) -> tuple[Reply, float | None]:
        settings = self._settings
        query = dict(params or {})
        headers = authorized(query, slot.key, settings.auth)
        self.sent += 1
        try:
            async with self._session.request(
                method,
                settings.base_url + path,
                params=query,
                json=json,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,  # the key is only ever sent to base_url
            ) as response:
                raw = await response.read()
                status, retry_after = response.status, response.headers.get("Retry-After")
        except asyncio.TimeoutError:
            waited = f"no complete answer within {settings.timeout:g} s"
            return Reply(None, error="timeout", message=waited, key_id=slot.key_id, lost=True), None
        except (aiohttp.ClientError, OSError) as exc:
            # The exception's type and text only, redacted: its object holds the URL.
            text = clean_text(f"{type(exc).__name__}: {exc}")
            return Reply(
                None, error="connection_error", message=text, key_id=slot.key_id, lost=True
            ), None
        body, _ = decode_body(raw)
        if 200 <= status < 300:
            if isinstance(body, dict):
                return Reply(status, body, key_id=slot.key_id), None
            return Reply(
                status,
                error="invalid_response",
                key_id=slot.key_id,
                message=f"HTTP {status} with a body that is not a JSON object",
                lost=True,
            ), None
        code, message, _ = error_fields(body)
        if code is None and status not in (429, 503):  # not the API's envelope: a proxy, say
            return Reply(
                status,
                error=f"http_{status}",
                key_id=slot.key_id,
                lost=True,
                message=f"HTTP {status} without the API's error body",
            ), None
        reply = Reply(
            status,
            None,
            clean_text(code.lower()) if code else f"http_{status}",
            clean_text(message),
            slot.key_id,
        )
        return reply, parse_retry_after(retry_after)
