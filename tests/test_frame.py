"""The returned DataFrame: column contract, dtypes, invalid rows, fan-out, product shapes."""

from __future__ import annotations

import gc
import json
import math
from datetime import datetime, timedelta, timezone
from typing import Any, cast

import pandas as pd
import pytest

from asa_bulk._frame import (
    BASE_COLUMNS,
    PRODUCT_COLUMNS,
    build_frame,
    column_dtypes,
    empty_frame,
    flatten_product,
)
from asa_bulk._inputs import InputRow, iter_input_rows
from asa_bulk._records import ProductRequest, Request, ResultRecord

ASIN = "B09HN3Q81F"
WHEN = datetime(2026, 11, 26, 12, 30, tzinfo=timezone.utc)

# The contract: every column, in order, with its dtype (also for an empty frame).
CONTRACT = [
    ("asin", "string"),
    ("domain", "string"),
    ("status", "string"),
    ("error", "string"),
    ("http_status", "Int64"),
    ("attempts", "Int64"),
    ("key_id", "string"),
    ("request_id", "string"),
    ("latency_ms", "Float64"),
    ("fetched_at", "datetime64[us, UTC]"),
    ("error_message", "string"),
    ("input", "string"),
    ("language", "string"),
    ("country", "string"),
    ("title", "string"),
    ("brand", "string"),
    ("manufacturer", "string"),
    ("parent_asin", "string"),
    ("price", "Float64"),
    ("price_strikethrough", "Float64"),
    ("price_buybox", "Float64"),
    ("savings_pct", "Float64"),
    ("currency", "string"),
    ("rating", "Float64"),
    ("reviews_count", "Int64"),
    ("rating_distribution", "object"),
    ("availability", "string"),
    ("is_prime", "boolean"),
    ("seller_name", "string"),
    ("seller_id", "string"),
    ("is_amazon_fulfilled", "boolean"),
    ("images", "object"),
    ("bullet_points", "object"),
    ("description", "string"),
    ("categories", "object"),
    ("best_seller_rank", "Int64"),
    ("product_details", "object"),
    ("product_dimensions", "string"),
    ("answered_questions_count", "Int64"),
    ("has_videos", "boolean"),
    ("variations", "object"),
    ("reviews", "object"),
    ("marketplace", "string"),
]

# --- the documented product bodies, copied verbatim (api-examples/ and api-reference §2.1) ---

DOCS_GETTING_STARTED = json.loads("""
{
  "asin": "B09HN3Q81F",
  "title": "LEGEND COOKWARE 5-Ply Stainless Steel Cookware Set",
  "price": 299.99,
  "currency": "USD",
  "rating": 4.7,
  "reviews_count": 2481,
  "images": ["https://m.media-amazon.com/images/I/71..."],
  "bullet_points": "5-PLY STAINLESS STEEL ... \\n ...",
  "category": [],
  "buybox": []
}
""")

SDK_README = json.loads("""
{
  "asin": "B09HN3Q81F",
  "title": "Apple AirPods Pro (2nd Generation)...",
  "brand": "Apple",
  "price": { "current": 199.00, "currency": "USD", "was": 249.00, "savings_pct": 20 },
  "rating": { "average": 4.7, "count": 58214, "distribution": {"5":0.81,"4":0.12} },
  "availability": "In Stock",
  "buybox": { "seller": "Amazon.com", "ships_from": "Amazon.com", "prime": true },
  "images": ["https://m.media-amazon.com/images/I/...jpg"],
  "bullets": ["Active Noise Cancellation...", "Adaptive Audio..."],
  "variants": [{ "asin": "B0BDHB9Y8H", "name": "USB-C", "price": 249.00 }],
  "categories": ["Electronics", "Headphones", "Earbud Headphones"],
  "specifications": { "Brand": "Apple", "Model Name": "AirPods Pro 2" },
  "_meta": { "tier": "direct", "duration_ms": 2634, "marketplace": "amazon.com" }
}
""")

SKILL = json.loads("""
{
  "asin": "B09HN3Q81F",
  "title": "...",
  "brand": "...",
  "price": { "current": 29.99, "was": 39.99, "savings_pct": 25, "currency": "USD" },
  "rating": 4.6,
  "review_count": 12483,
  "availability": "In Stock",
  "buybox_seller": "Amazon.com",
  "images": ["https://...", "..."],
  "variants": [{ "asin": "...", "name": "Color: Black", "price": 29.99 }],
  "features": ["bullet 1", "bullet 2"],
  "description": "...",
  "category_ladder": ["Electronics", "Headphones", "..."],
  "scraped_at": "2026-05-15T12:34:56Z"
}
""")

DOCS_FULL = json.loads("""
{
  "asin": "B09HN3Q81F",
  "parent_asin": "B09HN3Q81F",
  "title": "LEGEND COOKWARE 5-Ply Stainless Steel Cookware Set",
  "brand": "LEGEND COOKWARE",
  "manufacturer": "Legend Cookware",
  "price": 299.99,
  "price_buybox": 299.99,
  "price_strikethrough": 349.99,
  "currency": "USD",
  "stock": "In Stock",
  "is_prime": true,
  "rating": 4.7,
  "reviews_count": 2481,
  "images": ["https://m.media-amazon.com/images/I/71abcDEF12L._AC_SL1500_.jpg"],
  "bullet_points": "5-PLY STAINLESS STEEL ... \\n INDUCTION READY ...",
  "description": "Professional-grade 5-ply clad cookware ...",
  "product_details": {"Material": "Stainless Steel", "Item Weight": "38 Pounds"},
  "product_dimensions": "22 x 14 x 12 inches",
  "answered_questions_count": 112,
  "has_videos": true,
  "category": [
    {"ladder": [{"name": "Home & Kitchen"}, {"name": "Cookware Sets"}], "rank": 1532}
  ],
  "buybox": [
    {"price": 299.99, "seller_name": "Legend Cookware", "seller_id": "A2EXAMPLE1234",
     "stock": "In Stock",
     "returns": "Eligible for Return, Refund or Replacement within 30 days of receipt"}
  ],
  "featured_merchant": {"name": "Legend Cookware", "seller_id": "A2EXAMPLE1234",
                        "is_amazon_fulfilled": true},
  "variations": [
    {"asin": "B09HN3Q81F", "dimensions": {"Size": "14-Piece"}, "selected": true},
    {"asin": "B09HN4K2ZZ", "dimensions": {"Size": "10-Piece"}, "selected": false}
  ],
  "reviews": [
    {"id": "R1EXAMPLE0001", "author": "J. Doe", "title": "Heavy and even heating", "content": "...",
     "rating": 5, "timestamp": "Reviewed in the United States on March 3, 2026",
     "is_verified": true, "helpful_count": 14}
  ]
}
""")

# What each documented body flattens to (fields not listed must be NA).
EXPECTED: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "docs-getting-started": (
        DOCS_GETTING_STARTED,
        {
            "title": "LEGEND COOKWARE 5-Ply Stainless Steel Cookware Set",
            "price": 299.99,
            "currency": "USD",
            "rating": 4.7,
            "reviews_count": 2481,
            "images": ["https://m.media-amazon.com/images/I/71..."],
            "bullet_points": ["5-PLY STAINLESS STEEL ...", "..."],
            "categories": [],
        },
    ),
    "sdk-readme": (
        SDK_README,
        {
            "title": "Apple AirPods Pro (2nd Generation)...",
            "brand": "Apple",
            "price": 199.0,
            "price_strikethrough": 249.0,
            "savings_pct": 20.0,
            "currency": "USD",
            "rating": 4.7,
            "reviews_count": 58214,
            "rating_distribution": {"5": 0.81, "4": 0.12},
            "availability": "In Stock",
            "is_prime": True,
            "seller_name": "Amazon.com",
            "images": ["https://m.media-amazon.com/images/I/...jpg"],
            "bullet_points": ["Active Noise Cancellation...", "Adaptive Audio..."],
            "categories": ["Electronics", "Headphones", "Earbud Headphones"],
            "product_details": {"Brand": "Apple", "Model Name": "AirPods Pro 2"},
            "variations": [{"asin": "B0BDHB9Y8H", "name": "USB-C", "price": 249.0}],
            "marketplace": "amazon.com",
        },
    ),
    "skill": (
        SKILL,
        {
            "title": "...",
            "brand": "...",
            "price": 29.99,
            "price_strikethrough": 39.99,
            "savings_pct": 25.0,
            "currency": "USD",
            "rating": 4.6,
            "reviews_count": 12483,
            "availability": "In Stock",
            "seller_name": "Amazon.com",
            "images": ["https://...", "..."],
            "bullet_points": ["bullet 1", "bullet 2"],
            "description": "...",
            "categories": ["Electronics", "Headphones", "..."],
            "variations": [{"asin": "...", "name": "Color: Black", "price": 29.99}],
        },
    ),
    "docs-full": (
        DOCS_FULL,
        {
            "title": "LEGEND COOKWARE 5-Ply Stainless Steel Cookware Set",
            "brand": "LEGEND COOKWARE",
            "manufacturer": "Legend Cookware",
            "parent_asin": "B09HN3Q81F",
            "price": 299.99,
            "price_strikethrough": 349.99,
            "price_buybox": 299.99,
            "currency": "USD",
            "rating": 4.7,
            "reviews_count": 2481,
            "availability": "In Stock",
            "is_prime": True,
            "seller_name": "Legend Cookware",
            "seller_id": "A2EXAMPLE1234",
            "is_amazon_fulfilled": True,
            "images": ["https://m.media-amazon.com/images/I/71abcDEF12L._AC_SL1500_.jpg"],
            "bullet_points": ["5-PLY STAINLESS STEEL ...", "INDUCTION READY ..."],
            "description": "Professional-grade 5-ply clad cookware ...",
            "categories": ["Home & Kitchen", "Cookware Sets"],
            "best_seller_rank": 1532,
            "product_details": {"Material": "Stainless Steel", "Item Weight": "38 Pounds"},
            "product_dimensions": "22 x 14 x 12 inches",
            "answered_questions_count": 112,
            "has_videos": True,
            "variations": DOCS_FULL["variations"],
            "reviews": DOCS_FULL["reviews"],
        },
    ),
}


def ok(request: ProductRequest, product: Any = None, **fields: Any) -> ResultRecord:
    values: dict[str, Any] = {
        "status": "ok",
        "http_status": 200,
        "attempts": 1,
        "key_id": "asa_live_Tq0x4k9Pd8Mn",
        "request_id": "req_9f2c8a1b3e4d",
        "latency_ms": 2634.5,
        "fetched_at": WHEN,
        "body": product,
    }
    values.update(fields)
    return ResultRecord(request, **values)


def frame_for(*bodies: Any, raw: bool = False) -> pd.DataFrame:
    """One ok row per body (distinct ASINs)."""
    rows, results = list[InputRow](), dict[Request, ResultRecord]()
    for i, body in enumerate(bodies):
        request = ProductRequest(f"B{i:09d}")
        rows.append(InputRow(i, request.asin, request, asin=request.asin, domain="com"))
        results[request] = ok(request, body)
    return build_frame(rows, results, raw=raw)


def is_na(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


# --- columns and dtypes ---------------------------------------------------------------------


def dtypes_of(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return [(str(name), str(dtype)) for name, dtype in frame.dtypes.items()]


def test_column_order_and_dtypes() -> None:
    frame = frame_for(DOCS_FULL, SDK_README)
    assert dtypes_of(frame) == CONTRACT
    assert list(frame.columns[: len(BASE_COLUMNS)]) == list(BASE_COLUMNS)
    assert tuple(frame.columns[len(BASE_COLUMNS) :]) == PRODUCT_COLUMNS
    assert list(frame.index) == [0, 1]


@pytest.mark.parametrize("raw", [False, True])
def test_empty_frame_has_the_same_columns_and_dtypes(raw: bool) -> None:
    full = frame_for(DOCS_FULL, raw=raw)
    for empty in (empty_frame(raw=raw), build_frame([], {}, raw=raw)):
        assert len(empty) == 0
        assert dtypes_of(empty) == dtypes_of(full)
    assert list(column_dtypes(raw=raw)) == list(full.columns)


def test_raw_column_is_last_and_holds_the_untouched_body() -> None:
    frame = frame_for(SDK_README, None, raw=True)
    assert frame.columns[-1] == "raw"
    assert frame["raw"].dtype == object
    assert frame.at[0, "raw"] is SDK_README
    assert frame.at[1, "raw"] is None
    assert "raw" not in frame_for(SDK_README).columns


@pytest.mark.parametrize("storage", ["python", "pyarrow"])
def test_text_columns_follow_the_configured_string_storage(storage: str) -> None:
    pytest.importorskip("pyarrow")
    with pd.option_context("mode.string_storage", storage):
        frame = frame_for(DOCS_FULL)
    assert frame["title"].dtype == "string"
    assert cast(pd.StringDtype, frame["title"].dtype).storage == storage
    assert dtypes_of(frame) == CONTRACT


# --- rows: valid, invalid, duplicates -------------------------------------------------------


def test_invalid_rows_are_reported_and_never_need_a_record() -> None:
    frame_input = pd.DataFrame(
        {"asin": ["  b09hn3q81f ", "hello", ASIN, None], "domain": ["de", "de", "cn", None]}
    )
    rows = list(iter_input_rows(frame_input, language="de_DE"))
    request = rows[0].request
    assert request is not None
    frame = build_frame(rows, {request: ok(request, DOCS_FULL)})

    assert list(frame["status"]) == ["ok", "invalid", "invalid", "invalid"]
    assert frame.loc[0, "input"] == "  b09hn3q81f "
    assert frame.loc[0, "asin"] == ASIN
    assert frame.loc[0, "domain"] == "de"
    assert frame.loc[0, "language"] == "de_DE"
    assert frame.loc[0, "title"] == DOCS_FULL["title"]

    bad = frame.loc[1]
    assert bad["error"] == "invalid_asin"
    assert bad["error_message"] == rows[1].message
    assert bad["error_message"].startswith("row 2: 'hello'")  # the second item
    assert is_na(bad["asin"])
    assert bad["input"] == "hello"
    assert bad["attempts"] == 0
    assert bad["domain"] == "de"
    for column in ("http_status", "key_id", "request_id", "latency_ms", "fetched_at", "title"):
        assert is_na(bad[column]) or bad[column] is pd.NaT, column

    # only the domain was wrong: the ASIN still shows
    assert frame.loc[2, "error"] == "invalid_domain"
    assert frame.loc[2, "asin"] == ASIN
    assert is_na(frame.loc[2, "domain"])
    assert frame.loc[3, "error"] == "invalid_asin"
    assert frame.loc[3, "input"] == ""


def test_duplicates_fan_out_one_record() -> None:
    rows = list(iter_input_rows([ASIN, "junk", "b09hn3q81f", f"https://www.amazon.com/dp/{ASIN}"]))
    request = ProductRequest(ASIN)
    assert {r.request for r in rows if r.request} == {request}
    frame = build_frame(rows, {request: ok(request, SDK_README)})

    assert len(frame) == 4
    assert list(frame["status"]) == ["ok", "invalid", "ok", "ok"]
    assert list(frame["input"]) == [ASIN, "junk", "b09hn3q81f", f"https://www.amazon.com/dp/{ASIN}"]
    # ignore[operator]: pandas-stubs types a cell as a union holding NA, whose == takes no NA
    for i in (2, 3):
        assert frame.loc[i, "request_id"] == frame.loc[0, "request_id"]  # type: ignore[operator]
        assert frame.loc[i, "price"] == 199.0
        assert frame.loc[i, "bullet_points"] == frame.loc[0, "bullet_points"]  # type: ignore[operator]


def test_a_valid_row_without_a_record_is_a_bug_not_a_silent_drop() -> None:
    rows = list(iter_input_rows([ASIN, "B000000001"]))
    request = ProductRequest(ASIN)
    with pytest.raises(RuntimeError, match=r"row 2 \(B000000001\|com\|\|\)"):
        build_frame(rows, {request: ok(request, DOCS_FULL)})


@pytest.mark.parametrize(
    ("record_fields", "expected"),
    [
        (
            {"status": "not_found", "error": "product_not_found", "http_status": 404},
            {"status": "not_found", "error": "product_not_found", "http_status": 404},
        ),
        (
            {"status": "failed", "error": "timeout", "http_status": None, "attempts": 4},
            {"status": "failed", "error": "timeout", "attempts": 4},
        ),
        (
            {"status": "skipped", "error": "no_usable_keys", "attempts": 0, "key_id": None},
            {"status": "skipped", "error": "no_usable_keys", "attempts": 0},
        ),
        (
            {"status": "invalid", "error": "invalid_params", "http_status": 400},
            {"status": "invalid", "error": "invalid_params", "http_status": 400},
        ),
    ],
)
def test_non_ok_records_copy_their_outcome_and_have_no_product(
    record_fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    request = ProductRequest(ASIN, "de", "de_DE", "DE")
    row = InputRow(0, ASIN, request, asin=ASIN, domain="de")
    record = ok(request, None, error_message="details here", **record_fields)
    frame = build_frame([row], {request: record})
    got = frame.loc[0]
    for column, value in expected.items():
        assert got[column] == value, column
    assert got["error_message"] == "details here"
    assert (got["language"], got["country"]) == ("de_DE", "DE")
    assert all(is_na(got[column]) for column in PRODUCT_COLUMNS)


def test_fetched_at_is_utc() -> None:
    requests = [ProductRequest(f"B{i:09d}") for i in range(3)]
    rows = [InputRow(i, r.asin, r) for i, r in enumerate(requests)]
    berlin = datetime(2026, 11, 26, 13, 30, tzinfo=timezone(timedelta(hours=1)))
    naive = datetime(2026, 11, 26, 12, 30)  # taken as UTC
    results: dict[Request, ResultRecord] = {
        requests[0]: ok(requests[0], fetched_at=berlin),
        requests[1]: ok(requests[1], fetched_at=naive),
        requests[2]: ok(requests[2], fetched_at=None),
    }
    column = build_frame(rows, results)["fetched_at"]
    assert str(column.dt.tz) == "UTC"
    assert column[0] == pd.Timestamp("2026-11-26 12:30", tz="UTC")
    assert column[1] == pd.Timestamp("2026-11-26 12:30", tz="UTC")
    assert column[2] is pd.NaT


def test_gc_state_is_restored() -> None:
    rows = list(iter_input_rows([ASIN, "B000000001"]))
    request = ProductRequest(ASIN)
    assert gc.isenabled()
    build_frame(rows[:1], {request: ok(request, DOCS_FULL)})
    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        build_frame(rows, {request: ok(request, DOCS_FULL)})
    assert gc.isenabled()
    gc.disable()
    try:
        build_frame(rows[:1], {request: ok(request, DOCS_FULL)})
        assert not gc.isenabled()  # a caller's choice is left alone
    finally:
        gc.enable()


# --- product shapes ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", list(EXPECTED))
def test_each_documented_shape_flattens_to_the_expected_values(shape: str) -> None:
    body, expected = EXPECTED[shape]
    flat = flatten_product(body)
    assert list(flat) == list(PRODUCT_COLUMNS)
    got = {column: value for column, value in flat.items() if value is not None}
    assert got == expected

    row = frame_for(body).loc[0]
    for column in PRODUCT_COLUMNS:
        if column in expected:
            assert row[column] == expected[column], column
        else:
            assert is_na(row[column]), column


def test_the_same_product_in_every_shape_lands_in_the_same_columns() -> None:
    docs = {
        "title": "Buds",
        "brand": "Acme",
        "price": 29.99,
        "price_strikethrough": 39.99,
        "currency": "EUR",
        "stock": "In Stock",
        "is_prime": True,
        "rating": 4.6,
        "reviews_count": 12483,
        "images": ["https://img/1.jpg"],
        "bullet_points": "Loud \n Small\n",
        "description": "Tiny buds.",
        "category": [{"ladder": [{"name": "Electronics"}, {"name": "Headphones"}], "rank": 9}],
        "buybox": [{"price": 29.99, "seller_name": "Acme EU", "seller_id": "A1"}],
        "product_details": {"Colour": "Black"},
        "variations": [{"asin": "B000000009"}],
    }
    sdk = {
        "title": "Buds",
        "brand": "Acme",
        "price": {"current": 29.99, "currency": "EUR", "was": 39.99, "savings_pct": 25},
        "rating": {"average": 4.6, "count": 12483},
        "availability": "In Stock",
        "buybox": {"seller": "Acme EU", "ships_from": "Amazon", "prime": True},
        "images": ["https://img/1.jpg"],
        "bullets": ["Loud", "Small"],
        "description": "Tiny buds.",
        "categories": ["Electronics", "Headphones"],
        "specifications": {"Colour": "Black"},
        "variants": [{"asin": "B000000009"}],
        "_meta": {"marketplace": "amazon.de"},
    }
    skill = {
        "title": "Buds",
        "brand": "Acme",
        "price": {"current": 29.99, "was": 39.99, "savings_pct": 25, "currency": "EUR"},
        "rating": 4.6,
        "review_count": 12483,
        "availability": "In Stock",
        "buybox_seller": "Acme EU",
        "images": ["https://img/1.jpg"],
        "features": ["Loud", "Small"],
        "description": "Tiny buds.",
        "category_ladder": ["Electronics", "Headphones"],
        "variants": [{"asin": "B000000009"}],
    }
    frame = frame_for(docs, sdk, skill)
    shared = [
        "title", "brand", "price", "price_strikethrough", "currency", "rating", "reviews_count",
        "availability", "seller_name", "images", "bullet_points", "description", "categories",
        "variations",
    ]  # fmt: skip
    first = frame.loc[0, shared].tolist()
    assert first[shared.index("bullet_points")] == ["Loud", "Small"]
    assert frame.loc[1, shared].tolist() == first
    assert frame.loc[2, shared].tolist() == first
    assert frame.loc[0, "is_prime"] is frame.loc[1, "is_prime"]
    # ignore[operator]: pandas-stubs types a cell as a union holding NA, whose == takes no NA
    assert frame.loc[0, "product_details"] == frame.loc[1, "product_details"]  # type: ignore[operator]


# --- odd bodies -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "column", "expected"),
    [
        ({"price": "29.99"}, "price", 29.99),
        ({"price": "$1,299.00"}, "price", 1299.0),
        ({"price": "USD 5"}, "price", 5.0),
        ({"price": "N/A"}, "price", None),
        ({"price": "29,99 €"}, "price", None),  # ambiguous decimal comma: NA, not a wrong number
        ({"price": None}, "price", None),  # documented: a book sold in several formats
        ({"price": True}, "price", None),
        ({"price": float("nan")}, "price", None),
        ({"price": float("inf")}, "price", None),
        ({"price": 30}, "price", 30.0),
        ({"price": {}}, "price", None),
        ({"price": {"current": "x"}}, "price", None),
        ({"price": [1, 2]}, "price", None),
        ({"rating": "4.5"}, "rating", 4.5),
        ({"rating": {"average": None, "count": "1,204"}}, "reviews_count", 1204),
        ({"reviews_count": 2481.0}, "reviews_count", 2481),
        ({"reviews_count": 2481.5}, "reviews_count", None),
        ({"reviews_count": 2**70}, "reviews_count", None),  # does not fit Int64
        ({"reviews_count": False}, "reviews_count", None),
        ({"category": [{"rank": "#1,532"}]}, "best_seller_rank", 1532),
        ({"is_prime": "true"}, "is_prime", True),
        ({"is_prime": " No "}, "is_prime", False),
        ({"is_prime": 1}, "is_prime", True),
        ({"is_prime": "maybe"}, "is_prime", None),
        ({"is_prime": 2}, "is_prime", None),
        ({"has_videos": "yes"}, "has_videos", True),
        ({"title": 123}, "title", None),
        ({"title": ["a"]}, "title", None),
        ({"images": "https://img/1.jpg"}, "images", None),
        ({"bullet_points": 5}, "bullet_points", None),
        ({"bullet_points": ["a", 3, None, "b"]}, "bullet_points", ["a", "b"]),
        ({"bullet_points": "\n \n"}, "bullet_points", []),
        ({"category": [1, None]}, "categories", []),
        ({"category": ["Books", {"name": "Fiction"}]}, "categories", ["Books", "Fiction"]),
        ({"category": [{"ladder": "Books"}]}, "categories", None),
        ({"buybox": "Amazon"}, "seller_name", None),
        ({"buybox": [None, {"seller_name": "x"}]}, "seller_name", None),
        ({"buybox": [{"seller_name": 7}]}, "seller_name", None),
        ({"featured_merchant": "Acme"}, "seller_name", None),
        ({"product_details": []}, "product_details", None),
        ({"_meta": "amazon.com"}, "marketplace", None),
        ({"rating": {"distribution": [0.8]}}, "rating_distribution", None),
    ],
)
def test_odd_values_become_na_or_are_read_leniently(
    body: dict[str, Any], column: str, expected: Any
) -> None:
    assert flatten_product(body)[column] == expected
    value = frame_for(body).loc[0, column]
    if expected is None:
        assert is_na(value)
    else:
        assert value == expected


@pytest.mark.parametrize(
    "body",
    [
        {},
        None,
        [],
        "not json",
        42,
        {"price": {"current": {"deep": 1}}, "rating": [], "buybox": [[]], "category": "x"},
        {"title": "lone surrogate \ud800 from a JSON escape", "bullet_points": "\ud800"},
    ],
    ids=["empty", "none", "list", "str", "int", "wrong-nesting", "surrogate"],
)
def test_weird_bodies_never_crash(body: Any) -> None:
    frame = frame_for(body, DOCS_FULL)
    assert dtypes_of(frame) == CONTRACT
    assert frame.loc[1, "title"] == DOCS_FULL["title"]
    if isinstance(body, dict) and "title" in body:
        assert cast(str, frame.loc[0, "title"]).startswith("lone surrogate ")
