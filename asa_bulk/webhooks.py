"""Batch webhooks: the signature check, and a small receiver that hands deliveries to a run.

The service POSTs a batch's document to its ``webhook_url`` once every item is done, signed
``X-ASA-Signature: sha256=<hex>``: the HMAC-SHA256 of the raw body, keyed with the whole
``whsec_…`` secret the batch's POST returned (once). The scheme has no timestamp and no
idempotency key, and the service retries a delivery that did not get a 2xx (1 min … 1 h), so
a receiver must verify each delivery against its batch's secret and deduplicate on
``X-ASA-Batch-Id``::

    public = "https://hooks.example.com/asa"  # your proxy or tunnel to port 8080
    async with asa_bulk.webhooks.receiver(port=8080, public_url=public) as hook:
        async with asa_bulk.Client(checkpoint="job.sqlite", webhook=hook) as client:
            df = await client.products(items, mode="batch")

The run registers each batch it posts (with its secret) and polls all the same: a delivery
only ends its wait early, so a webhook that never arrives costs nothing but time. The
receiver answers 200 to a verified delivery (and to a replay of one), 401 to a bad or
missing signature, 404 to a batch it does not know (the service retries it later, when a
resumed run may know it), 400 to a body that is not a JSON object.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from typing import Any, Final
from urllib.parse import urlsplit

from ._baseurl import is_loopback
from ._errors import ConfigError
from ._log import get_logger

__all__ = ["WebhookReceiver", "receiver", "verify_webhook_signature"]

logger = get_logger(__name__)

#: Biggest delivery accepted: a document of 1,000 products is a few MB.
MAX_BODY: Final = 64 * 1024 * 1024
DEFAULT_PATH: Final = "/asa-bulk/webhook"


def verify_webhook_signature(signature_header: str | None, raw_body: bytes, secret: str) -> bool:
    """Whether ``signature_header`` (``X-ASA-Signature``, ``sha256=<hex>``) signs ``raw_body``
    with ``secret`` (the whole ``whsec_…`` string). Constant-time; never raises for a
    malformed header (that is False)."""
    if not isinstance(signature_header, str) or not isinstance(secret, str) or not secret:
        return False
    scheme, _, given = signature_header.strip().partition("=")
    if scheme.strip().lower() != "sha256" or not given:
        return False
    wanted = hmac.new(secret.encode("utf-8"), bytes(raw_body), hashlib.sha256).hexdigest()
    return hmac.compare_digest(wanted, given.strip().lower().encode("ascii", "replace").decode())


class WebhookReceiver:
    """Verified, deduplicated webhook deliveries for the batches a run waits for.

    ``url`` is what batches are posted with as ``webhook_url``. Use :func:`receiver` to run
    one; :meth:`handle` is its aiohttp handler, for mounting in an app of your own.
    """

    def __init__(self, url: str) -> None:
        self.url = _check_url(url)
        self._watched: dict[str, tuple[str, Callable[[dict[str, Any]], None]]] = {}
        self._delivered: set[str] = set()
        #: Deliveries handed to a run, and replays answered without handing them again.
        self.accepted = 0
        self.replayed = 0
        self.rejected = 0

    def __repr__(self) -> str:  # never a secret
        return f"WebhookReceiver(url={self.url!r}, watching={len(self._watched)})"

    def watch(self, batch_id: str, secret: str, deliver: Callable[[dict[str, Any]], None]) -> None:
        """Hand the verified document of ``batch_id`` to ``deliver`` (once)."""
        self._watched[batch_id] = (secret, deliver)

    def forget(self, batch_id: str) -> None:
        """Stop watching ``batch_id`` (its secret is dropped): a delivery now gets 404, so the
        service retries it, maybe for a later run that watches it again; a replay of one
        already handed over is still answered 200."""
        self._watched.pop(batch_id, None)

    async def handle(self, request: Any) -> Any:
        """The aiohttp handler: verify, deduplicate, hand over."""
        from aiohttp import web

        batch_id = request.headers.get("X-ASA-Batch-Id", "")
        raw = await request.read()
        if batch_id in self._delivered:
            self.replayed += 1
            return web.Response(status=200, text="already delivered")
        watched = self._watched.get(batch_id)
        if watched is None:
            self.rejected += 1
            return web.Response(status=404, text="unknown batch")
        secret, deliver = watched
        if not verify_webhook_signature(request.headers.get("X-ASA-Signature"), raw, secret):
            self.rejected += 1
            logger.warning("webhook for batch %s refused: bad signature", batch_id)
            return web.Response(status=401, text="bad signature")
        try:
            document = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            document = None
        if not isinstance(document, dict):
            self.rejected += 1
            return web.Response(status=400, text="not a JSON object")
        self._delivered.add(batch_id)
        self.accepted += 1
        deliver(document)
        return web.Response(status=200, text="ok")


@contextlib.asynccontextmanager
async def receiver(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    path: str = DEFAULT_PATH,
    public_url: str | None = None,
) -> AsyncIterator[WebhookReceiver]:
    """Serve a :class:`WebhookReceiver` on ``host:port`` (0: any free port) at ``path``.

    ``public_url`` is the address the service posts to (your tunnel or reverse proxy, which
    must be https); left unset it is this server's own ``http://host:port/path``, which only
    a sandbox on this machine can reach.
    """
    from aiohttp import web

    if not path.startswith("/"):
        raise ConfigError(f"path must start with '/', got {path!r}")
    hook = WebhookReceiver(public_url or "http://127.0.0.1/")
    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post(path, hook.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        if public_url is None:
            bound = runner.addresses[0][1]
            hook.url = _check_url(f"http://{host}:{bound}{path}")
        yield hook
    finally:
        await runner.cleanup()


def _check_url(url: str) -> str:
    """https, or plain http to this machine (a sandbox): the service wants a public https URL."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"webhook url must be an https:// URL, got {url!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"webhook url {url!r} is plain http to another machine: the service posts results "
            "only to https"
        )
    return url
