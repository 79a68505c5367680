"""Property-based tests (hypothesis): whatever the service answers, nothing raises or hangs.

Arbitrary JSON, product bodies with every documented field of every type, both error envelopes
with wrong types, raw bytes that are barely JSON, any status from 100 to 599 and odd rate-limit
headers. ``_lookup.lookup`` classifies all of it, ``build_frame`` gives one typed row per input,
a checkpoint stores and reloads it, and a whole run finishes with one row per input.

The profiles are registered in ``conftest.py``: CI runs a fixed, derandomized set; pass
``--hypothesis-profile=asa-fuzz`` for a long random hunt. Each ``@example`` is a bug found here.
"""

from __future__ import annotations

import json
import math
import tempfile
import warnings
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import aiohttp
import pandas as pd
import pytest
from aioresponses import aioresponses
from hypothesis import example, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

import asa_bulk
from asa_bulk._checkpoint import SqliteCheckpoint, encode_record
from asa_bulk._frame import PRODUCT_COLUMNS, build_frame, column_dtypes, flatten_product
from asa_bulk._inputs import InputRow
from asa_bulk._keys import ApiKey
from asa_bulk._lookup import _MAX_DEPTH, _MAX_MESSAGE, Outcome, lookup
from asa_bulk._policy import Action, classify
from asa_bulk._records import ProductRequest, Request, ResultRecord
from asa_bulk.testing import set_testing
from tests.support.fakeapi import BASE, Call, FakeApi, Reply

# A failing example holding a 100 kB body must still be reported, not turned into this warning.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

KEY = "asa_live_Zq7Hx2Lm9Pw4Rt6Yv8Bn3Kc5"  # a well-formed key: prefix + 24 letters and digits
SECRET = KEY[21:]  # the part after the key_id: must never be shown, in any case
REQUEST = ProductRequest("B09HN3Q81F")
WHEN = datetime(2026, 11, 26, 12, 30, tzinfo=timezone.utc)
STATUSES = frozenset({"ok", "not_found", "invalid", "failed", "skipped"})
#: Per-test example counts scale with the profile (asa-ci: 100).
EXAMPLES = cast(settings, settings.default).max_examples  # None only before a profile loads

# --- strategies: JSON values ---------------------------------------------------------------

HUGE = "9" * 100_000
#: Text the flattener reads leniently, and what a Float64 / Int64 column must then hold.
NUMERIC_TEXT: dict[str, tuple[float | None, int | None]] = {
    "29.99": (29.99, None),
    "$1,299.00": (1299.0, 1299),
    "2,481": (2481.0, 2481),
    "#1,532": (1532.0, 1532),
    "USD 5": (5.0, 5),
    " 42 ": (42.0, 42),
    "abc": (None, None),
    "N/A": (None, None),
    "": (None, None),
    "nan": (None, None),
    "-inf": (None, None),
    "1e400": (None, None),
    "true": (None, None),
    HUGE: (None, None),
}
ODD_TEXT = [
    *NUMERIC_TEXT,
    " ",
    "null",
    "no",
    "\x00",
    "\ud800",  # a lone surrogate: JSON allows "\ud800"
    "\udcff",
    "\u202e",
    "x" * 200_000,
    KEY,
    f"bad key {KEY}.",
    f"{KEY} " * 1000,
]
# Every code point: lone surrogates and control characters included.
text = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=20), st.sampled_from(ODD_TEXT)
)
integers = st.one_of(
    st.integers(),
    st.sampled_from([2**53 + 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**30, 10**400]),
)
floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([-0.0, 5e-324, 1.7976931348623157e308, 2.0**63, 1e16, 0.5]),
    # json.loads turns NaN and Infinity into floats, so a decoded body can hold them.
    st.sampled_from([math.nan, math.inf, -math.inf]),
)
leaves = st.one_of(st.none(), st.booleans(), integers, floats, text)


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for n in range(depth):
        value = [value] if n % 2 else {"x": value}
    return value


containers = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(text, children, max_size=3)
    ),
    max_leaves=8,
)
# Mostly scalars, so that fields often hold a value of the right type; now and then very deep.
json_values = st.one_of(
    leaves, leaves, leaves, containers, containers, st.integers(20, 300).map(nested)
)


def shaped(*fields: str, **special: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts holding any subset of ``fields``, each of any JSON type (or of ``special``'s)."""
    optional = dict.fromkeys(fields, json_values)
    optional.update({name: s | json_values for name, s in special.items()})
    return st.fixed_dictionaries({}, optional=optional)


def some(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(strategy | json_values, max_size=3)


# Every product field of the three documented shapes (api-reference §2.1), and the nested
# objects of each shape with their own fields; every value may have any type.
offer = shaped("price", "seller_name", "seller_id", "stock", "returns", "seller", "prime")
category = shaped("rank", ladder=some(shaped("name")))
products = shaped(
    "asin", "parent_asin", "title", "brand", "manufacturer", "price_buybox",
    "price_strikethrough", "savings_pct", "currency", "stock", "availability", "is_prime",
    "reviews_count", "review_count", "rating_distribution", "images", "bullet_points",
    "bullets", "features", "description", "product_details", "specifications",
    "product_dimensions", "answered_questions_count", "has_videos", "categories",
    "category_ladder", "best_seller_rank", "buybox_seller", "is_amazon_fulfilled",
    "variations", "variants", "reviews", "scraped_at", "html",
    price=shaped("current", "was", "savings_pct", "currency"),
    rating=shaped("average", "count", "distribution"),
    buybox=offer | some(offer),
    featured_merchant=shaped("name", "seller_id", "is_amazon_fulfilled"),
    category=some(category),
    _meta=shaped("tier", "duration_ms", "marketplace"),
)  # fmt: skip

# --- flattening ----------------------------------------------------------------------------

ANY = object()  # "a valid value or NA": text this test does not parse itself


def expected_float(value: Any) -> Any:
    if value is None or isinstance(value, bool | list | dict):
        return None
    if isinstance(value, str):
        return NUMERIC_TEXT[value][0] if value in NUMERIC_TEXT else ANY
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def expected_int(value: Any) -> Any:
    if isinstance(value, str):
        return NUMERIC_TEXT[value][1] if value in NUMERIC_TEXT else ANY
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return value
    return None


def expected_text(value: Any) -> Any:
    return value if isinstance(value, str) else None


def expected_row(body: dict[str, Any]) -> dict[str, Any]:
    """Five columns computed from the documented shapes: the docs' field wins, then the SDK
    README's nested one, then the skill's."""
    price, rating = body.get("price"), body.get("rating")
    nested_price = price if isinstance(price, dict) else {}
    nested_rating = rating if isinstance(rating, dict) else {}
    currency = body.get("currency")
    if currency is None:
        currency = nested_price.get("currency")
    count = body.get("reviews_count")
    if count is None:
        count = nested_rating.get("count")
    if count is None:
        count = body.get("review_count")
    return {
        "title": expected_text(body.get("title")),
        "currency": expected_text(currency),
        "price": expected_float(nested_price.get("current") if nested_price else price),
        "rating": expected_float(nested_rating.get("average") if nested_rating else rating),
        "reviews_count": expected_int(count),
    }


def matches(cell: Any, expected: Any) -> bool:
    if expected is None:
        return bool(pd.isna(cell))
    if expected is ANY:
        return bool(pd.isna(cell)) or isinstance(cell, int | float)
    if isinstance(expected, str):  # pyarrow storage turns lone surrogates into "?"
        return cell in (expected, expected.encode("utf-8", "replace").decode())
    return bool(cell == expected)


#: What each object column may hold, besides None.
OBJECT_COLUMNS = {
    "rating_distribution": dict,
    "images": list,
    "bullet_points": list,
    "categories": list,
    "product_details": dict,
    "variations": list,
    "reviews": list,
}


def ok_record(request: ProductRequest, product: Any) -> ResultRecord:
    return ResultRecord(
        request, "ok", http_status=200, attempts=1, key_id=KEY[:21], request_id="req_1",
        latency_ms=1.5, fetched_at=WHEN, body=product,
    )  # fmt: skip


@settings(max_examples=EXAMPLES)
# A number beyond float range raised OverflowError and lost the whole frame.
@example(bodies=[{"price": 10**400, "rating": {"average": -(10**400)}, "savings_pct": 10**309}])
@given(bodies=st.lists(products | st.dictionaries(text, json_values), min_size=1, max_size=3))
def test_any_product_body_gives_one_typed_ok_row(bodies: list[dict[str, Any]]) -> None:
    requests = [ProductRequest(f"B{i:09d}") for i in range(len(bodies))]
    rows = [InputRow(i, r.asin, r, asin=r.asin, domain="com") for i, r in enumerate(requests)]
    results: dict[Request, ResultRecord] = {
        r: ok_record(r, body) for r, body in zip(requests, bodies, strict=True)
    }
    frame = build_frame(rows, results, raw=True)

    assert len(frame) == len(bodies)
    assert {name: str(dtype) for name, dtype in frame.dtypes.items()} == {
        name: str(pd.api.types.pandas_dtype(dtype))
        for name, dtype in column_dtypes(raw=True).items()
    }
    assert list(frame["status"]) == ["ok"] * len(bodies)
    for row, body in zip(frame.to_dict("records"), bodies, strict=True):
        assert list(flatten_product(body)) == list(PRODUCT_COLUMNS)
        for column, expected in expected_row(body).items():
            assert matches(row[column], expected), (column, row[column])
        for column in PRODUCT_COLUMNS:
            cell = row[column]
            if frame[column].dtype == "Float64" and not pd.isna(cell):
                assert math.isfinite(cell), column
            if column in OBJECT_COLUMNS:
                assert cell is None or isinstance(cell, OBJECT_COLUMNS[column]), column
        assert row["raw"] is body


# --- checkpoints ---------------------------------------------------------------------------

records = st.builds(
    ResultRecord,
    request=st.just(REQUEST),
    status=st.sampled_from(sorted(STATUSES)),
    error=st.none() | text,
    error_message=st.none() | text,
    http_status=st.none() | st.integers(100, 599),
    attempts=st.integers(0, 50),
    key_id=st.none() | st.just(KEY[:21]),
    # A header's undecodable bytes arrive as lone surrogates (surrogateescape).
    request_id=st.none() | text,
    latency_ms=st.none() | st.floats(0, 1e9),
    fetched_at=st.none() | st.just(WHEN),
    body=st.none() | products,
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteCheckpoint]:
    """One checkpoint for every example (opening one costs tens of ms): each example replaces
    the single record of ``REQUEST``."""
    with SqliteCheckpoint(tmp_path_factory.mktemp("fuzz") / "run.sqlite") as opened:
        yield opened


@settings(max_examples=EXAMPLES)
# A lone surrogate could not be encoded for SQLite: record() raised and ended the run.
@example(record=ResultRecord(REQUEST, "ok", request_id="\udc80", body={"title": "\ud800"}))
@given(record=records)
def test_any_record_survives_a_checkpoint(store: SqliteCheckpoint, record: ResultRecord) -> None:
    store.record(record)
    (loaded,) = store.load()
    # ASCII-only JSON compares NaN, lone surrogates and huge ints exactly.
    assert json.dumps(loaded.to_json()) == json.dumps(record.to_json())


# --- one lookup: error envelopes, raw bodies, statuses, headers ----------------------------

CODES = [
    "invalid_params", "unauthorized", "revoked", "insufficient_credits", "forbidden_region",
    "not_found", "product_not_found", "upstream_timeout", "blocked_by_amazon", "rate_limited",
    "internal_error", "not_implemented", "target_unreachable", "extraction_failed",
    "asin_mismatch", "generic_gallery_page", "capacity", "CONCURRENCY_LIMIT",
    "amazon-robot-or-human", "SERVICE_OVERLOADED", "INVALID_API_KEY",
]  # fmt: skip
code = st.sampled_from(CODES) | st.sampled_from(CODES).map(str.upper) | text
error_bodies = st.one_of(
    shaped("message", "docs_url", "request_id", error=code, retryable=st.booleans()),
    shaped(
        "request_id",
        retryable=st.booleans(),
        error=shaped("message", "hint", code=code),
    ),
)


def encodings(value: Any) -> st.SearchStrategy[bytes]:
    """``value`` as JSON bytes, encoded every way a server might, or cut short."""
    escaped = json.dumps(value).encode()
    variants = [
        escaped,
        # Lone surrogates written raw: invalid UTF-8.
        json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"),
        b"\xef\xbb\xbf" + escaped,  # a UTF-8 byte order mark
        json.dumps(value).encode("utf-16"),
    ]
    whole = st.sampled_from(variants)
    return whole | st.integers(0, max(0, len(escaped) - 1)).map(lambda n: escaped[:n])


ODD_BYTES = [
    b"",
    b" ",
    b"null",
    b"[]",
    b'"text"',
    b"123",
    b"NaN",
    b'{"price": NaN, "rating": Infinity, "reviews_count": -Infinity}',
    b"[" * 100_000,  # json.loads raises RecursionError
    b"[" * 5000 + b"]" * 5000,
    b'{"a":' * 100_000,
    b'{"title": "\xff\xfe"}',
    b"\xff\xfe\xfd",
    b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    b'{"price": 1' + b"0" * 5000 + b"}",  # more digits than int() accepts
    f"Unauthorized: {KEY}".encode(),
]
raw_bodies = st.one_of(
    (products | error_bodies | json_values).flatmap(encodings),
    st.sampled_from(ODD_BYTES),
    st.binary(max_size=100),
)
http_statuses = st.sampled_from(
    [200, 201, 204, 400, 401, 402, 403, 404, 408, 422, 429, 500, 501, 502, 503]
) | st.integers(100, 599)

HEADER_TEXT = [
    "", " ", "2", "0.5", "-1", "0", "inf", "-inf", "nan", "1e400", "9" * 400, "1_000",
    "Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 -2359",
    "Mon, 01 Jan 0001 00:00:00 +2359", "3/20", "1/0", "0/0", "1/" + "9" * 400,
    "1/0." + "0" * 300 + "1", "n/m", KEY, f"req_{KEY}",
]  # fmt: skip
plain_header_values = st.one_of(
    st.sampled_from(HEADER_TEXT),
    st.text(st.characters(codec="utf-8"), max_size=20),
    st.integers().map(str),
    st.floats().map(str),
    st.tuples(st.integers(-(10**6), 10**6), st.floats(-1e9, 1e9)).map(lambda t: f"{t[0]}/{t[1]}"),
)
# aiohttp decodes header bytes as UTF-8 with surrogateescape (aioresponses cannot send those).
header_values = plain_header_values | st.binary(max_size=20).map(
    lambda b: b.decode("utf-8", "surrogateescape")
)
HEADERS = ("Retry-After", "Asa-Concurrency", "Asa-Rps", "X-Request-Id")
header_dicts = st.fixed_dictionaries({}, optional=dict.fromkeys(HEADERS, header_values))
plain_header_dicts = st.fixed_dictionaries({}, optional=dict.fromkeys(HEADERS, plain_header_values))


def depth(value: Any) -> int:
    """How deeply lists and dicts nest in ``value`` (iteratively: the value may be deep)."""
    levels, level = 0, [value] if isinstance(value, dict | list) else []
    while level:
        levels += 1
        level = [
            child
            for item in level
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, dict | list)
        ]
    return levels


def decoded(raw: bytes) -> tuple[Any, bool]:
    """(value, usable) of a body: JSON within the client's documented nesting limit."""
    if not raw:
        return None, True
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return None, False
    return (value, True) if depth(value) <= _MAX_DEPTH else (None, False)


def documented_error(body: Any) -> tuple[str | None, bool | None]:
    """(code, retryable) as api-reference §3.1 says: ``error`` if it is a string, else
    ``error.code``; ``retryable`` when it is a bool."""
    if not isinstance(body, dict):
        return None, None
    error = body.get("error")
    found = error.get("code") if isinstance(error, dict) else error
    retryable = body.get("retryable")
    return (
        found if isinstance(found, str) and found else None,
        retryable if isinstance(retryable, bool) else None,
    )


def assert_shown_safely(text: Any) -> None:
    """A message, code or request id: None, or bounded text without the key."""
    assert text is None or isinstance(text, str)
    if text is not None:
        assert len(text) <= _MAX_MESSAGE
        assert SECRET.lower() not in text.lower()


class Answer:
    """Just what ``lookup`` reads of an aiohttp response. Unlike aioresponses, it can carry
    header values that real aiohttp produces but cannot encode back (surrogateescape)."""

    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.status = status
        self.headers = CIMultiDictProxy(CIMultiDict(headers))
        self._body = body

    async def __aenter__(self) -> Answer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def read(self) -> bytes:
        return self._body


class Session:
    def __init__(self, answer: Answer) -> None:
        self.answer = answer

    def get(self, url: str, **kwargs: Any) -> Answer:
        return self.answer


async def look_up(status: int, raw: bytes, headers: dict[str, str]) -> Outcome:
    session: Any = Session(Answer(status, raw, headers))
    timeout = aiohttp.ClientTimeout(total=30)
    return await lookup(session, BASE, REQUEST, ApiKey(KEY), auth="bearer", timeout=timeout)


@settings(max_examples=3 * EXAMPLES)
@given(status=http_statuses, raw=raw_bodies, headers=header_dicts)
@example(status=200, raw=b"[" * 100_000, headers={})  # RecursionError escaped and ended the run
@example(status=502, raw=b'{"a":' * 100_000, headers={})
@example(status=200, raw=b"{}", headers={"Asa-Concurrency": "1/" + "9" * 400})  # inf limit
@example(status=429, raw=b"{}", headers={"Retry-After": "inf"})  # an endless pause
@example(status=429, raw=b"{}", headers={"X-Request-Id": KEY})  # the key, shown
@example(status=400, raw=json.dumps({"error": f"{KEY} " * 100}).encode(), headers={})  # as is
@example(status=200, raw=json.dumps({"request_id": "x" * 10_000}).encode(), headers={})
async def test_lookup_classifies_any_answer(
    status: int, raw: bytes, headers: dict[str, str]
) -> None:
    outcome = await look_up(status, raw, headers)

    body, usable = decoded(raw)
    if 200 <= status < 300:
        if isinstance(body, dict) and usable:
            assert outcome.action is Action.OK
            assert json.dumps(outcome.body) == json.dumps(body)
        else:  # billed, so never retried
            assert (outcome.action, outcome.error) == (Action.GIVE_UP, "invalid_response")
            assert outcome.body is None
            assert "not a JSON object" in (outcome.message or "")
    elif 300 <= status < 400:  # never followed (tests/test_transport_security.py)
        assert (outcome.action, outcome.error) == (Action.GIVE_UP, "redirect")
        assert not outcome.from_api
    else:
        code, retryable = documented_error(body)
        assert outcome.rule == classify(status, code, retryable=retryable)
        # Only the API's envelope (or a bare "slow down") keeps the circuit breaker quiet.
        assert outcome.from_api == (
            (code is not None or status in (429, 503)) and not outcome.rule.wrong_endpoint
        )
        assert outcome.body is None
        if code is None:
            assert outcome.error == f"http_{status}"
        elif len(code) < _MAX_MESSAGE and "asa_" not in code.lower():
            assert outcome.error == code.lower()
        if not usable:
            assert "not JSON" in (outcome.message or "")
    assert_shown_safely(outcome.error)
    assert_shown_safely(outcome.message)
    assert_shown_safely(outcome.request_id)
    if outcome.retry_after is not None:
        assert math.isfinite(outcome.retry_after)
        assert outcome.retry_after >= 0
    for limit in (outcome.concurrency_limit, outcome.rps_limit):
        assert limit is None or (math.isfinite(limit) and limit > 0)


async def test_every_accepted_body_can_be_stored_from_a_deeper_stack() -> None:
    """json.loads stops near the recursion limit, so without a nesting limit of its own the
    client accepted bodies that a checkpoint, written a few frames deeper, could not encode."""

    def deeper(frames: int, record: ResultRecord) -> str:
        return encode_record(record) if frames == 0 else deeper(frames - 1, record)

    for levels in range(0, 1001, 7):
        raw = b'{"a":' + b"[" * levels + b"]" * levels + b"}"
        outcome = await look_up(200, raw, {})
        if outcome.action is Action.OK:
            deeper(50, ok_record(REQUEST, outcome.body))


# --- a whole run ---------------------------------------------------------------------------

OTHER_KEY = "asa_test_Mw3Jd8Ks1Qx6Fb9Lp2Vn7Hc4"
ASINS = ["B000000001", "B000000002", "B000000003"]
# aioresponses feeds the whole body at once and trips an assertion past aiohttp's 128 kB read
# buffer (real aiohttp streams it); the lookup test above covers the huge bodies.
mockable_bodies = raw_bodies.filter(lambda raw: len(raw) <= 2**16)
replies = st.builds(Reply, status=http_statuses, body=mockable_bodies, headers=plain_header_dicts)


@settings(max_examples=max(10, EXAMPLES // 2))
@given(
    items=st.lists(st.sampled_from([*ASINS, "not an asin"]), min_size=1, max_size=5),
    answers=st.lists(replies, min_size=1, max_size=6),
    key_count=st.integers(1, 2),
    max_attempts=st.integers(1, 3),
)
async def test_a_run_against_any_answers_ends_with_one_row_per_input(
    items: list[str], answers: list[Reply], key_count: int, max_attempts: int
) -> None:
    keys = [KEY, OTHER_KEY][:key_count]
    unique = len(set(items) - {"not an asin"})
    # Per request: its failed attempts, 21 throttles, a 401 per key, a 402.
    most_calls = unique * (max_attempts + 21 + key_count + 1)
    api = FakeApi()
    statuses: dict[str, list[int]] = {}  # per ASIN, the status of each answer it got

    def script(call: Call) -> Reply:
        assert len(api.calls) <= most_calls, "the run does not end"
        answer = answers[(len(api.calls) - 1) % len(answers)]
        statuses.setdefault(call.asin, []).append(answer.status)
        return answer

    api.script = script
    with aioresponses() as mocked, tempfile.TemporaryDirectory() as folder:
        api.install(mocked)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", asa_bulk.RunStoppedWarning)
            with set_testing(clock=api.clock, seed=0):
                frame = await asa_bulk.fetch_products(
                    items, keys=keys, base_url=BASE, progress=False,
                    retry_delay_scale=0.0, max_attempts=max_attempts,
                    checkpoint=Path(folder) / "run.sqlite",
                )  # fmt: skip

    assert list(frame["input"]) == items
    assert set(frame["status"]) <= STATUSES
    assert {name: str(dtype) for name, dtype in frame.dtypes.items()} == {
        name: str(pd.api.types.pandas_dtype(dtype)) for name, dtype in column_dtypes().items()
    }
    usable = any(
        200 <= a.status < 300 and isinstance(a.body, bytes) and isinstance(decoded(a.body)[0], dict)
        for a in answers
    )
    for row in frame.to_dict("records"):
        if row["input"] == "not an asin":
            assert (row["status"], row["error"]) == ("invalid", "invalid_asin")
            continue
        if row["status"] == "ok":
            assert usable
            assert 200 <= row["http_status"] < 300
        elif row["status"] == "failed" and 200 <= row["http_status"] < 300:
            assert row["error"] == "invalid_response"
        if row["status"] != "ok":  # skipped: the stop reason, e.g. a 402's code
            assert isinstance(row["error"], str)
            assert row["error"]
        assert row["attempts"] <= max_attempts + 21 + key_count + 1
        for column in ("error", "error_message", "request_id", "key_id"):
            value = None if pd.isna(row[column]) else row[column]
            assert_shown_safely(value)
            assert value is None or OTHER_KEY[21:].lower() not in value.lower()
    assert len(api.calls) <= most_calls
    for got in statuses.values():  # a 2xx is billed: never sent again
        assert not any(200 <= status < 300 for status in got[:-1])
