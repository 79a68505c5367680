"""One lookup: send one request with one key, read the answer, classify it into an Outcome.

It never sleeps, never picks a key and never touches pandas. It never keeps aiohttp's
exceptions or request objects either: their reprs carry the request headers and URL, i.e. the
key. Everything that leaves this module has been through :func:`redact`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
from yarl import URL

from ._json import loads
from ._keys import ApiKey, redact
from ._limits import parse_limit_header, parse_retry_after
from ._policy import TRANSIENT, Action, Rule, classify
from ._records import Request
from ._settings import AuthMode
from ._version import __version__

USER_AGENT: Final = f"asa-bulk/{__version__} (+aiohttp)"
_MAX_MESSAGE: Final = 300
#: Deepest nesting of lists/dicts accepted in a body (a product nests about 4 deep). json.loads
#: itself stops near the recursion limit, so a body just inside that would raise RecursionError
#: wherever it is encoded again a few frames deeper: in the checkpoint, in a JSON lines file.
_MAX_DEPTH: Final = 100


@dataclass(frozen=True, slots=True)
class Outcome:
    """The classified answer to one request."""

    rule: Rule
    http_status: int | None = None
    error: str | None = None
    message: str | None = None
    request_id: str | None = None
    retry_after: float | None = None
    concurrency_limit: float | None = None
    rps_limit: float | None = None
    latency_ms: float = 0.0
    body: dict[str, Any] | None = None
    #: The bytes ``body`` was decoded from: a checkpoint stores them without encoding again.
    body_json: bytes | None = None
    #: False when the answer did not come from the API (no connection, a timeout, a proxy's
    #: page, an unknown path): the runner's circuit breaker counts these.
    from_api: bool = True

    @property
    def action(self) -> Action:
        return self.rule.action


def error_fields(body: object) -> tuple[str | None, str | None, bool | None]:
    """(code, message, retryable) from either documented error shape, leniently.

    Flat: ``{"error": "rate_limited", "message": ...}``; nested (CLI README):
    ``{"error": {"code": "INVALID_PARAMS", "message": ..., "hint": ...}}``.
    """
    if not isinstance(body, dict):
        return None, None, None
    error = body.get("error")
    message = body.get("message")
    if isinstance(error, dict):
        message = error.get("message", message)
        hint = error.get("hint")
        if isinstance(hint, str) and isinstance(message, str):
            message = f"{message} ({hint})"
        error = error.get("code")
    retryable = body.get("retryable")
    return (
        error if isinstance(error, str) and error else None,
        message if isinstance(message, str) else None,
        retryable if isinstance(retryable, bool) else None,
    )


def decode_body(raw: bytes) -> tuple[object, bool]:
    """(body, not_json) for raw response bytes; never raises. An empty body is None; bytes that
    are not JSON, or nest deeper than :data:`_MAX_DEPTH`, are ``(None, True)``."""
    if not raw:
        return None, False
    try:
        body: object = loads(raw)
    except (ValueError, RecursionError):  # RecursionError: e.g. 100k "["
        return None, True
    # Only a body with more brackets than the limit can nest that deep: count before walking.
    if (
        isinstance(body, dict | list)
        and raw.count(b"[") + raw.count(b"{") > _MAX_DEPTH
        and not _nests_within(body, _MAX_DEPTH)
    ):
        return None, True
    return body, False


def _nests_within(value: dict[str, Any] | list[Any], depth: int) -> bool:
    """True when lists and dicts in ``value`` nest at most ``depth`` deep (no recursion)."""
    level: list[Any] = [value]
    for _ in range(depth):
        level = [
            child
            for item in level
            for child in (item.values() if type(item) is dict else item)
            if type(child) is dict or type(child) is list
        ]
        if not level:
            return True
    return False


def clean_text(text: str | None) -> str | None:
    if text is None:
        return None
    text = redact(text)
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def build_request(
    base_url: str, request: Request, key: ApiKey, auth: AuthMode
) -> tuple[str, dict[str, str], dict[str, str]]:
    """(url, params, headers) for one request, to whichever endpoint it belongs."""
    params = request.params()
    return base_url + request.path, params, authorized(params, key, auth)


def authorized(params: dict[str, str], key: ApiKey, auth: AuthMode) -> dict[str, str]:
    """The headers of any request to the API with ``key``; with ``auth="query"`` the key goes
    into ``params`` (changed in place) instead of an Authorization header."""
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if auth == "query":
        params["api_key"] = key.secret
    else:
        headers["Authorization"] = f"Bearer {key.secret}"
    return headers


async def lookup(
    session: aiohttp.ClientSession,
    base_url: str,
    request: Request,
    key: ApiKey,
    *,
    auth: AuthMode,
    timeout: aiohttp.ClientTimeout,
) -> Outcome:
    """Send one product lookup and classify the answer. Never raises for network or HTTP errors."""
    url, params, headers = build_request(base_url, request, key, auth)
    started = time.perf_counter()
    try:
        # Redirects are never followed: a Location could take the key (in the query string with
        # auth="query") to another host, whose answer would then be taken for the service's.
        async with session.get(
            url, params=params, headers=headers, timeout=timeout, allow_redirects=False
        ) as response:
            raw = await response.read()
            status = response.status
            resp_headers = response.headers
    except asyncio.TimeoutError:
        return Outcome(
            TRANSIENT,
            error="timeout",
            message=f"no complete answer within {timeout.total:g} s",
            latency_ms=(time.perf_counter() - started) * 1000,
            from_api=False,
        )
    except (aiohttp.ClientError, OSError) as exc:
        # Only the exception's type and text survive, redacted: never the object (it holds the URL).
        return Outcome(
            TRANSIENT,
            error="connection_error",
            message=clean_text(f"{type(exc).__name__}: {exc}"),
            latency_ms=(time.perf_counter() - started) * 1000,
            from_api=False,
        )
    latency_ms = (time.perf_counter() - started) * 1000
    request_id = clean_text(resp_headers.get("X-Request-Id"))
    body, not_json = decode_body(raw)
    if 300 <= status < 400:
        # Classified here rather than in _policy.RULES: the API documents no 3xx, and this is a
        # transport safety rule. Not retried: the same request would get the same answer.
        return Outcome(
            Rule(Action.GIVE_UP),
            http_status=status,
            error="redirect",
            message=clean_text(
                f"HTTP {status} redirect to {_origin(resp_headers.get('Location'))} not followed: "
                "the key is only ever sent to base_url"
            ),
            request_id=request_id,
            latency_ms=latency_ms,
            from_api=False,  # the API documents no 3xx: base_url points somewhere else
        )
    if 200 <= status < 300:
        if not isinstance(body, dict):
            # Billed but unusable; not retried, since a retry would be billed again.
            return Outcome(
                Rule(Action.GIVE_UP),
                http_status=status,
                error="invalid_response",
                message=clean_text(f"HTTP {status} with a body that is not a JSON object"),
                request_id=request_id,
                latency_ms=latency_ms,
                from_api=False,
            )
        return Outcome(
            Rule(Action.OK),
            http_status=status,
            request_id=request_id or clean_text(_str_or_none(body.get("request_id"))),
            concurrency_limit=parse_limit_header(resp_headers.get("Asa-Concurrency")),
            rps_limit=parse_limit_header(resp_headers.get("Asa-Rps")),
            latency_ms=latency_ms,
            body=body,
            body_json=raw,
        )
    code, message, retryable = error_fields(body)
    if not_json and message is None:
        snippet = raw[:80].decode("utf-8", "replace").strip()
        message = f"HTTP {status} with a body that is not JSON: {snippet!r}"
    if isinstance(body, dict) and request_id is None:
        request_id = clean_text(_str_or_none(body.get("request_id")))
    rule = classify(status, code, retryable=retryable)
    # The API's errors carry its envelope; a bare 429/503 is still a "slow down" (a proxy may
    # send it), which the throttle bounds handle, not the circuit breaker.
    from_api = (code is not None or status in (429, 503)) and not rule.wrong_endpoint
    if rule.wrong_endpoint and message is None:
        message = f"HTTP {status} without the API's error body: is base_url {base_url!r} right?"
    return Outcome(
        rule,
        http_status=status,
        error=(clean_text(code.lower()) if code else f"http_{status}"),
        message=clean_text(message),
        request_id=request_id,
        retry_after=parse_retry_after(resp_headers.get("Retry-After")),
        latency_ms=latency_ms,
        from_api=from_api,
    )


def _origin(location: str | None) -> str:
    """Where a redirect points, as scheme://host[:port] only: its path or query may hold a key."""
    if not location:
        return "nowhere (no Location header)"
    try:
        return str(URL(location).origin())
    except ValueError:  # a relative or malformed Location
        return "a relative or malformed Location"


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
