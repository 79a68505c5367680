"""Batch webhooks: the signature check, the receiver (verify, deduplicate, hand over), a run
that a delivery wakes, and a signature secret that never leaves the checkpoint."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import asa_bulk
from asa_bulk import webhooks
from asa_bulk.sandbox import Sandbox, make_test_keys, serve
from asa_bulk.sandbox._drift import EPOCH
from asa_bulk.webhooks import WebhookReceiver, verify_webhook_signature

SECRET = "whsec_" + "ab12" * 8
BODY = b'{"id":"b-1","status":"complete","results":[]}'
KEYS = make_test_keys(2)


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# -- the signature ------------------------------------------------------------------------------


def test_a_good_signature_verifies() -> None:
    assert verify_webhook_signature(sign(BODY), BODY, SECRET)
    assert verify_webhook_signature(sign(BODY).upper().replace("SHA256", "sha256"), BODY, SECRET)


@pytest.mark.parametrize(
    ("header", "body", "secret"),
    [
        (sign(BODY), BODY + b" ", SECRET),  # the body changed
        (sign(BODY), BODY, SECRET + "x"),  # another batch's secret
        (sign(BODY, SECRET.removeprefix("whsec_")), BODY, SECRET),  # keyed without the prefix
        (sign(BODY).replace("sha256=", "sha1="), BODY, SECRET),
        (sign(BODY)[:-2], BODY, SECRET),
        ("sha256=", BODY, SECRET),
        ("", BODY, SECRET),
        (None, BODY, SECRET),
        ("sha256=" + "é" * 64, BODY, SECRET),
        (sign(BODY), BODY, ""),
    ],
)
def test_a_bad_or_malformed_signature_does_not(header: Any, body: bytes, secret: str) -> None:
    assert verify_webhook_signature(header, body, secret) is False


# -- the receiver -------------------------------------------------------------------------------


@pytest.fixture
async def hook() -> AsyncIterator[WebhookReceiver]:
    async with webhooks.receiver() as receiver:
        yield receiver


async def deliver(
    hook: WebhookReceiver, body: bytes, batch_id: str = "b-1", signature: str | None = None
) -> int:
    headers = {
        "X-ASA-Batch-Id": batch_id,
        "X-ASA-Event": "batch.completed",
        "X-ASA-Signature": signature if signature is not None else sign(body),
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(hook.url, data=body, headers=headers) as r,
    ):
        return r.status


async def test_the_receiver_hands_over_a_verified_delivery_once(hook: WebhookReceiver) -> None:
    got: list[dict[str, Any]] = []
    hook.watch("b-1", SECRET, got.append)
    assert await deliver(hook, BODY) == 200
    assert await deliver(hook, BODY) == 200  # the service retried: a replay
    assert got == [json.loads(BODY)]
    assert (hook.accepted, hook.replayed) == (1, 1)


async def test_the_receiver_refuses_bad_signatures_unknown_batches_and_junk(
    hook: WebhookReceiver,
) -> None:
    got: list[dict[str, Any]] = []
    hook.watch("b-1", SECRET, got.append)
    assert await deliver(hook, BODY, signature=sign(BODY, "whsec_other")) == 401
    assert await deliver(hook, BODY, signature="") == 401
    assert await deliver(hook, BODY, batch_id="b-2") == 404  # retried later, maybe known then
    assert await deliver(hook, b"[1, 2]") == 400
    assert got == []
    assert hook.rejected == 4
    assert await deliver(hook, BODY) == 200  # a good one still gets through afterwards
    assert len(got) == 1


def test_a_webhook_url_must_be_https_unless_on_this_machine() -> None:
    assert WebhookReceiver("https://hooks.example.com/x").url == "https://hooks.example.com/x"
    assert WebhookReceiver("http://127.0.0.1:9/x").url == "http://127.0.0.1:9/x"
    for bad in ("http://hooks.example.com/x", "ftp://x", "not a url"):
        with pytest.raises(asa_bulk.ConfigError, match="webhook url"):
            WebhookReceiver(bad)


# -- a run woken by its webhook -----------------------------------------------------------------


@pytest.fixture
async def sb() -> AsyncIterator[Sandbox]:
    async with serve(
        fixed_latency=0.0,
        batch_start_delay=0.0,
        batch_item_seconds=0.0,
        plan="pro",
        today=EPOCH,
        allow_http_webhooks=True,
    ) as sandbox:
        yield sandbox


async def test_a_delivery_ends_the_wait_and_the_secret_appears_nowhere(
    sb: Sandbox,
    hook: WebhookReceiver,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    checkpoint = tmp_path / "cp.sqlite"
    items = [f"B0{i:08d}" for i in range(20)]
    with caplog.at_level(logging.DEBUG):
        async with asa_bulk.Client(
            keys=KEYS,
            base_url=sb.base_url,
            checkpoint=checkpoint,
            webhook=hook,
            batch_poll_seconds=3600,
            batch_deadline=7200,
        ) as client:
            # The real clock: a poll would come after an hour; the delivery comes at once.
            df = await asyncio.wait_for(client.products(items, mode="batch"), timeout=30)
            shown = repr(client) + repr(hook)
    assert (df["status"] == "ok").all()
    assert hook.accepted == 1
    assert sb.stats.webhook_attempts == 1
    assert sb.stats.status_counts.get(200, 0) == 0  # not one poll: the delivery came first

    with contextlib.closing(sqlite3.connect(checkpoint)) as conn:
        (secret,) = conn.execute("SELECT secret FROM batches").fetchone()
        records = conn.execute("SELECT data FROM records").fetchall()
    assert secret.startswith("whsec_")
    out = capsys.readouterr()
    texts = [
        caplog.text,
        out.out,
        out.err,
        shown,
        df.to_csv(),
        json.dumps(df.attrs["run"]),
        *(bytes(data).hex() for (data,) in records),
    ]
    for text in texts:
        assert secret not in text
        assert secret.encode().hex() not in text
    assert all(secret not in str(v) for v in df.astype(str).to_numpy().ravel())


def test_a_secret_is_masked_in_any_text_and_never_in_a_reply_repr() -> None:
    from asa_bulk._batch_api import Reply
    from asa_bulk._keys import redact

    reply = Reply(201, {"id": "b-1", "webhook_signature_secret": SECRET})
    assert SECRET not in repr(reply)
    assert SECRET not in str(reply)
    assert redact(f"body: {{'webhook_signature_secret': '{SECRET}'}}") == (
        "body: {'webhook_signature_secret': 'whsec_…'}"
    )
