"""Building responses: request ids, the error envelope in its three documented styles.

- ``docs``: the flat envelope of the errors page ``{error, message, docs_url, request_id}``
  (plus ``retryable: false`` on 404 ``product_not_found``).
- ``nested``: the CLI README body ``{"error": {"code", "message", "hint"}}`` with UPPERCASE codes.
- ``upper``: the flat envelope with the SDK READMEs' UPPERCASE codes (``INVALID_API_KEY``, ...).
"""

from __future__ import annotations

import itertools
import os
from typing import Final

from aiohttp import web

from ._products import dumps

DOCS: Final = "https://amazonscraperapi.com/docs/guides/errors#"
RATE_DOCS: Final = "https://amazonscraperapi.com/docs/guides/rate-limits"

#: SDK README spellings; codes missing here are upper-cased, except the two the READMEs list in
#: lowercase (so clients must compare case-insensitively).
UPPER: Final = {
    "invalid_params": "INVALID_PARAMS",
    "unauthorized": "INVALID_API_KEY",
    "revoked": "INVALID_API_KEY",
    "insufficient_credits": "INSUFFICIENT_CREDITS",
    "rate_limited": "RATE_LIMITED",
    "concurrency_limit": "CONCURRENCY_LIMIT",
    "capacity": "SERVICE_OVERLOADED",
    "internal_error": "INTERNAL_ERROR",
    "target_unreachable": "target_unreachable",
    "extraction_failed": "extraction_failed",
}

HINTS: Final = {
    "invalid_params": "Pass ?query=B09HN3Q81F or https://www.amazon.com/dp/B09HN3Q81F",
    "unauthorized": "Send your key as ?api_key=, Authorization: Bearer or X-API-Key",
    "revoked": "Generate a new key in Settings > API keys",
    "insufficient_credits": "Top up credits in the dashboard",
    "rate_limited": "Wait Retry-After seconds, then retry",
    "capacity": "Wait Retry-After seconds, then retry",
}

MESSAGES: Final = {
    "upstream_timeout": "Amazon took longer than 45 s to answer",
    "blocked_by_amazon": "Amazon served a challenge page after internal retries",
    "rate_limited": "Too many requests",
    "internal_error": "Unexpected error on our side (logged)",
    "target_unreachable": "Amazon blocked every internal retry",
    "extraction_failed": "Could not parse Amazon's page (new layout?)",
    "generic_gallery_page": "Amazon served a placeholder shelf for this ASIN (delisted?)",
    "capacity": "Service is shedding load, retry later",
    "product_not_found": "Amazon returned 404 for this ASIN on this marketplace",
    "not_implemented": "This parameter is reserved and not implemented yet",
}

HTML_502: Final = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)

_ids = itertools.count(int.from_bytes(os.urandom(6), "big"))


def request_id() -> str:
    """``req_`` + 12 lowercase hex characters, unique per process."""
    return f"req_{next(_ids) & 0xFFFFFFFFFFFF:012x}"


def error_body(
    style: str, code: str, message: str, rid: str, *, retryable: bool | None = None
) -> bytes:
    """The JSON body of an error in ``style`` (``docs``, ``nested`` or ``upper``)."""
    wire = code
    if style != "docs":
        wire = UPPER.get(code, code.upper())
    elif code == "concurrency_limit":
        wire = "rate_limited"
    if style == "nested":
        inner: dict[str, object] = {"code": wire, "message": message, "hint": HINTS.get(code, "")}
        if retryable is not None:
            inner["retryable"] = retryable
        return dumps({"error": inner})
    docs_url = RATE_DOCS if code in ("rate_limited", "concurrency_limit") else DOCS + wire.lower()
    body: dict[str, object] = {
        "error": wire,
        "message": message,
        "docs_url": docs_url,
        "request_id": rid,
    }
    if retryable is not None:
        body["retryable"] = retryable
    return dumps(body)


def error_response(
    style: str,
    status: int,
    code: str,
    message: str,
    *,
    retry_after: int | None = None,
    retryable: bool | None = None,
    extra_headers: dict[str, str] | None = None,
) -> web.Response:
    """A JSON error response with ``X-Request-Id``, ``Asa-Cost: 0`` and optional ``Retry-After``."""
    rid = request_id()
    headers = {"X-Request-Id": rid, "Asa-Cost": "0"}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if extra_headers:
        headers.update(extra_headers)
    return web.Response(
        status=status,
        body=error_body(style, code, message, rid, retryable=retryable),
        headers=headers,
        content_type="application/json",
    )
