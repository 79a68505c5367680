"""A batch's items and results: what each request is as an item, and its result as a record.

Results are joined back to requests by their ``input`` (never by position: the docs promise
no order), compared the way the service reads them: the ASIN or query, the marketplace
(``com`` when absent), and the other parameters when present. A result's ``status``,
``http_status`` and ``error`` go through the same error table as a sync answer, so a batch
row has the statuses a sync row would have.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any, Final

from ._json import dumps_text
from ._keys import redact
from ._policy import Action, classify
from ._records import Request, ResultRecord, Status

#: The batch ``endpoint`` of each request type.
BATCH_ENDPOINTS: Final = {"product": "amazon.product", "search": "amazon.search"}
#: ...and the request type's endpoint name of each batch ``endpoint``.
REQUEST_ENDPOINTS: Final = {batch: name for name, batch in BATCH_ENDPOINTS.items()}

#: The statuses the error table gives a failed item other than "failed".
_FINAL_STATUS: Final[dict[Action, Status]] = {
    Action.NOT_FOUND: "not_found",
    Action.INVALID: "invalid",
}

#: Actions whose failure inside a batch is worth another try (as a sync request).
RETRYABLE: Final = frozenset({Action.RETRY, Action.THROTTLE, Action.RETIRE_KEY})


def item_of(request: Request) -> dict[str, str]:
    """The batch item for ``request``: the sync endpoint's query parameters (§2.3)."""
    return request.params()


def match_key(endpoint: str, item: object) -> tuple[str, ...] | None:
    """What identifies an item (sent or echoed in a result's ``input``); None if unreadable."""
    if not isinstance(item, dict):
        return None
    query, domain = item.get("query"), item.get("domain") or "com"
    if not isinstance(query, str) or not isinstance(domain, str):
        return None
    if endpoint == "product":
        return (
            query.strip().upper(),
            domain,
            str(item.get("language") or ""),
            str(item.get("country") or ""),
        )
    page = item.get("start_page") or 1
    return (query, domain, str(item.get("sort_by") or "best_match"), str(page))


class Matcher:
    """Finds the request a result belongs to among one batch's requests.

    First by the whole item; then, since the service may echo an ``input`` with defaults it
    filled in (a language, a country) or dropped, by the ASIN or query and marketplace (and
    a search's page) alone, when exactly one request of the batch has them.
    """

    def __init__(self, endpoint: str, requests: Iterable[Request]) -> None:
        self._endpoint = endpoint
        self._by_key: dict[tuple[str, ...], Request] = {}
        self._by_core: dict[tuple[str, ...], Request | None] = {}
        for request in requests:
            key = match_key(endpoint, item_of(request))
            if key is not None:
                self._by_key[key] = request
                core = _core(endpoint, key)
                # None marks a core that two requests share: it cannot tell them apart.
                self._by_core[core] = None if core in self._by_core else request

    def request_of(self, result: object) -> Request | None:
        if not isinstance(result, dict):
            return None
        key = match_key(self._endpoint, result.get("input"))
        if key is None:
            return None
        return self._by_key.get(key) or self._by_core.get(_core(self._endpoint, key))


def _core(endpoint: str, key: tuple[str, ...]) -> tuple[str, ...]:
    """ASIN and marketplace of a product's key; query, marketplace and page of a search's."""
    return key[:2] if endpoint == "product" else (key[0], key[1], key[3])


def record_of(
    request: Request, result: dict[str, Any], *, batch_id: str, key_id: str | None
) -> tuple[ResultRecord, Action]:
    """The record of one item's result, and the action its error calls for (OK for a product).

    A 2xx item whose ``data`` is not an object is billed but unusable: ``invalid_response``,
    final, as for a sync answer.
    """
    duration = result.get("duration_ms")
    latency = float(duration) if isinstance(duration, int | float) else None
    http_status = result.get("http_status")
    status_code = http_status if isinstance(http_status, int) else None
    common: dict[str, Any] = {
        "request": request,
        "attempts": 1,
        "key_id": key_id,
        "latency_ms": latency,
        "fetched_at": datetime.now(timezone.utc),
        "batch_id": batch_id,
        "http_status": status_code,
    }
    data = result.get("data")
    if result.get("status") == "ok" and (status_code is None or 200 <= status_code < 300):
        if isinstance(data, dict):
            # With its JSON text, a waiting row keeps the stored row's bytes, not the decoded
            # product (a tenth of the memory), as a sync answer does.
            raw = dumps_text(data).encode("utf-8")
            record = ResultRecord(status="ok", body=data, body_json=raw, **common)
            return record, Action.OK
        why = "a batch item marked ok without a data object"
        record = ResultRecord(
            status="failed", error="invalid_response", error_message=why, **common
        )
        return record, Action.GIVE_UP
    code, message = _error_of(result.get("error"))
    rule = classify(status_code or 502, code)
    status: Status = _FINAL_STATUS.get(rule.action, "failed")
    answer = " ".join(str(part) for part in (status_code and f"HTTP {status_code}", code) if part)
    text = message or f"the item failed inside batch {batch_id} ({answer or 'no error given'})"
    record = ResultRecord(
        status=status,
        error=code or "batch_item_failed",
        error_message=redact(text)[:300],
        **common,
    )
    return record, rule.action


def _error_of(error: object) -> tuple[str | None, str | None]:
    """(code, message) of an item's ``error``: a code string or an object (⚠ undocumented)."""
    if isinstance(error, str) and error:
        return redact(error.lower())[:100], None
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
        return (
            redact(code.lower())[:100] if isinstance(code, str) and code else None,
            message if isinstance(message, str) else None,
        )
    return None, None


def missing_record(
    request: Request,
    *,
    batch_id: str,
    key_id: str | None,
    error: str,
    message: str,
    skipped: bool = False,
) -> ResultRecord:
    """The record of an item a batch ended without a result for."""
    return ResultRecord(
        request=request,
        status="skipped" if skipped else "failed",
        error=error,
        error_message=message,
        attempts=1,
        key_id=key_id,
        fetched_at=datetime.now(timezone.utc),
        batch_id=batch_id,
    )
