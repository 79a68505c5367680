"""Input hygiene: ASIN/URL normalisation, per-row marketplaces, and unreadable input."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from asa_bulk._errors import ConfigError, InputError
from asa_bulk._inputs import RAW_MAX_CHARS, InputRow, iter_input_rows
from asa_bulk._marketplaces import (
    DOMAINS,
    LANGUAGE_RE,
    MARKETPLACES,
    domain_from_host,
    normalize_country,
    normalize_domain,
    normalize_language,
)
from asa_bulk._records import ProductRequest

ASIN = "B09HN3Q81F"


def one(item: object, **defaults: Any) -> InputRow:
    (row,) = list(iter_input_rows([item], **defaults))
    return row


# --- marketplaces -------------------------------------------------------------------------


def test_marketplace_table_has_the_20_documented_domains() -> None:
    assert len(DOMAINS) == 20
    assert DOMAINS[0] == "com"
    assert MARKETPLACES["co.uk"].currency == "GBP"
    assert MARKETPLACES["co.uk"].country == "GB"
    assert MARKETPLACES["com.mx"].host == "amazon.com.mx"
    assert {m.currency for m in MARKETPLACES.values()} >= {"USD", "EUR", "JPY", "EGP"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("de", "de"),
        (".de", "de"),
        ("amazon.de", "de"),
        ("www.amazon.de", "de"),
        ("AMAZON.CO.UK", "co.uk"),
        ("https://www.amazon.co.uk", "co.uk"),
        ("https://www.amazon.co.uk/dp/B09HN3Q81F?th=1", "co.uk"),
        ("  com.MX ", "com.mx"),
        ("amazon.com", "com"),
        ("www.amazon.com.au/", "com.au"),
    ],
)
def test_normalize_domain_accepts_common_spellings(value: str, expected: str) -> None:
    assert normalize_domain(value) == expected


@pytest.mark.parametrize(
    "value", ["cn", "amazon.cn", "uk", "", "example.com", "https://example.com", None, 5, "de.com"]
)
def test_normalize_domain_rejects_with_the_allowed_list(value: object) -> None:
    with pytest.raises(ConfigError, match=r"com, co\.uk, de, .*eg"):
        normalize_domain(value)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("www.amazon.de", "de"),
        ("amazon.co.jp", "co.jp"),
        ("smile.amazon.com", "com"),
        ("WWW.AMAZON.COM.BR:443", "com.br"),
        ("www.amazon.cn", None),
        ("amazon.co.uk.evil.example", None),
        ("notamazon.de", None),
        ("example.com", None),
    ],
)
def test_domain_from_host(host: str, expected: str | None) -> None:
    assert domain_from_host(host) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("en_US", "en_US"), ("de-de", "de_DE"), (" DE_de ", "de_DE"), ("es_US", "es_US")],
)
def test_normalize_language(value: str, expected: str) -> None:
    assert normalize_language(value) == expected
    assert LANGUAGE_RE.match(expected)


@pytest.mark.parametrize("value", ["en", "english", "en_USA", "e1_US", "", None, 1])
def test_normalize_language_rejects(value: object) -> None:
    with pytest.raises(ConfigError, match="xx_YY"):
        normalize_language(value)


@pytest.mark.parametrize(("value", "expected"), [("de", "DE"), (" us ", "US"), ("GB", "GB")])
def test_normalize_country(value: str, expected: str) -> None:
    assert normalize_country(value) == expected


@pytest.mark.parametrize(
    ("value", "match"),
    [("UK", "use 'GB'"), ("XX", "ISO 3166"), ("DEU", "ISO 3166"), ("", "ISO 3166"), (None, "ISO")],
)
def test_normalize_country_rejects(value: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        normalize_country(value)


# --- one item ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "asin", "domain"),
    [
        (ASIN, ASIN, "com"),
        ("b09hn3q81f", ASIN, "com"),
        ("  B09HN3Q81F\n", ASIN, "com"),
        ("\ufeffB09HN3Q81F", ASIN, "com"),  # BOM from a CSV export
        ("\u200bB09HN3Q81F\u200b", ASIN, "com"),  # zero-width space
        ("\xa0B09HN3Q81F\t", ASIN, "com"),  # NBSP
        ("0306406152", "0306406152", "com"),  # ISBN-10
        ("080442957x", "080442957X", "com"),  # ISBN-10 with check digit X
        (np.str_(ASIN), ASIN, "com"),
        (b"b09hn3q81f", ASIN, "com"),
        ("https://www.amazon.com/dp/B09HN3Q81F", ASIN, "com"),
        ("https://www.amazon.de/dp/b09hn3q81f/ref=sr_1_1?th=1", ASIN, "de"),
        ("http://amazon.co.uk/gp/product/B09HN3Q81F", ASIN, "co.uk"),
        ("www.amazon.co.jp/gp/aw/d/B09HN3Q81F?psc=1", ASIN, "co.jp"),
        ("amazon.fr/exec/obidos/ASIN/080442957X/", "080442957X", "fr"),
        ("https://www.amazon.com.mx/Some-Title-Here/dp/B09HN3Q81F", ASIN, "com.mx"),
        ("https://www.amazon.in/product/B09HN3Q81F#reviews", ASIN, "in"),
        ("HTTPS://WWW.AMAZON.COM.AU/DP/B09HN3Q81F", ASIN, "com.au"),
        ("/dp/B09HN3Q81F", ASIN, "com"),  # a bare path takes the default marketplace
    ],
)
def test_valid_items_become_requests(item: object, asin: str, domain: str) -> None:
    row = one(item)
    assert row.request == ProductRequest(asin, domain)
    assert row.error is None
    assert row.message is None
    assert row.index == 0


@pytest.mark.parametrize(
    ("item", "match"),
    [
        ("hello", r"^row 1: 'hello' is not an ASIN \(10 letters/digits\) or an Amazon product URL"),
        ("B09HN3Q81", "has 9 characters"),
        ("B09HN3Q81FX", "has 11 characters"),
        ("B09-N3Q81F", "is not an ASIN"),
        ("B09HN3Q8 F", "is not an ASIN"),
        ("", "empty"),
        ("   ", "empty"),
        (None, "empty"),
        (float("nan"), "empty"),
        (pd.NA, "empty"),
        (306406152, "is a number"),
        (3.5, "is a number"),
        (np.int64(7), "is a number"),
        (True, "is not an ASIN"),
        (["B09HN3Q81F"], "is not an ASIN"),
        ("https://www.amazon.com/s?k=headphones", "Amazon product URL"),
        ("https://www.amazon.com/dp/B09HN3Q8", "Amazon product URL"),  # 8-char ASIN in a URL
        ("https://example.com/dp/B09HN3Q81F", "not an Amazon product URL"),
        ("https://amzn.to/3abcDEF", "short link"),
    ],
)
def test_junk_becomes_invalid_asin_row(item: object, match: str) -> None:
    row = one(item)
    assert row.request is None
    assert row.error == "invalid_asin"
    assert row.message is not None
    assert row.message.startswith("row 1: ")  # 1-based: the first item
    assert re.search(match, row.message), row.message


def test_unsupported_amazon_host_is_invalid_domain_and_keeps_the_asin() -> None:
    row = one("https://www.amazon.cn/dp/b09hn3q81f")
    assert row.request is None
    assert row.error == "invalid_domain"
    assert row.asin == ASIN
    assert row.message is not None
    assert "www.amazon.cn" in row.message
    assert "co.uk" in row.message  # the allowed list


def test_url_host_overrides_the_default_domain() -> None:
    row = one("https://www.amazon.de/dp/B09HN3Q81F", domain="fr", language="de_DE", country="at")
    assert row.request == ProductRequest(ASIN, "de", "de_DE", "AT")


def test_raw_keeps_the_original_text_truncated() -> None:
    long = "x" * 500
    row = one(long)
    assert row.raw == "x" * RAW_MAX_CHARS
    assert one("  b09hn3q81f ").raw == "  b09hn3q81f "
    assert one(None).raw == ""
    assert one(306406152).raw == "306406152"


def test_one_row_per_item_in_order_including_blanks_and_duplicates() -> None:
    items = [ASIN, None, "", ASIN, "b09hn3q81f", "junk"]
    rows = list(iter_input_rows(items))
    assert [r.index for r in rows] == list(range(6))
    assert [r.error for r in rows] == [
        None,
        "invalid_asin",
        "invalid_asin",
        None,
        None,
        "invalid_asin",
    ]
    # duplicates give equal (hashable) requests, so the runner can deduplicate them
    assert rows[0].request == rows[3].request == rows[4].request
    assert len({r.request for r in rows if r.request}) == 1


# --- the kinds of iterables ---------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        list,
        tuple,
        lambda xs: (x for x in xs),
        pd.Series,
        lambda xs: pd.Series(xs, dtype="string"),
        np.array,
        lambda xs: pd.Index(xs),
    ],
    ids=["list", "tuple", "generator", "series", "string-series", "ndarray", "index"],
)
def test_any_iterable_of_strings(make: Any) -> None:
    rows = list(iter_input_rows(make([ASIN, "b000000001", "bad"])))
    assert [r.request.asin if r.request else None for r in rows] == [ASIN, "B000000001", None]


def test_series_with_missing_values_gives_invalid_rows_not_errors() -> None:
    rows = list(iter_input_rows(pd.Series([ASIN, None, np.nan], dtype=object)))
    assert [r.error for r in rows] == [None, "invalid_asin", "invalid_asin"]


def test_lazy_on_an_infinite_generator() -> None:
    counter = itertools.count()
    items = (f"B{next(counter):09d}" for _ in itertools.repeat(None))
    rows = list(itertools.islice(iter_input_rows(items), 5))
    assert [r.request.asin for r in rows if r.request] == [f"B{i:09d}" for i in range(5)]
    assert next(counter) == 5  # only what was asked for was read


def test_reads_nothing_until_iterated() -> None:
    seen: list[str] = []

    def source() -> Iterator[str]:
        for item in (ASIN, ASIN):
            seen.append(item)
            yield item

    rows = iter_input_rows(source())
    assert seen == []
    next(rows)
    assert seen == [ASIN]


@pytest.mark.parametrize("items", ["B09HN3Q81F", b"B09HN3Q81F"])
def test_a_single_string_is_an_input_error(items: Any) -> None:
    with pytest.raises(InputError, match=r"wrap it in a list"):
        iter_input_rows(items)


@pytest.mark.parametrize("items", [42, None, object()])
def test_a_non_iterable_is_an_input_error(items: Any) -> None:
    with pytest.raises(InputError, match="iterable"):
        iter_input_rows(items)


def test_a_mapping_is_an_input_error() -> None:
    with pytest.raises(InputError, match="mapping"):
        iter_input_rows({ASIN: 1})


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"domain": "cn"}, "domain 'cn'"),
        ({"language": "english"}, "xx_YY"),
        ({"country": "UK"}, "GB"),
    ],
)
def test_bad_defaults_raise_before_anything_is_read(options: dict[str, Any], match: str) -> None:
    seen: list[str] = []

    def source() -> Iterator[str]:
        seen.append("read")
        yield ASIN

    with pytest.raises(ConfigError, match=match):
        iter_input_rows(source(), **options)
    assert seen == []


def test_defaults_are_normalised() -> None:
    row = one(ASIN, domain="https://www.amazon.co.uk", language="en-gb", country="gb")
    assert row.request == ProductRequest(ASIN, "co.uk", "en_GB", "GB")


# --- DataFrame input -----------------------------------------------------------------------


def test_dataframe_with_per_row_marketplace_and_na_defaults() -> None:
    frame = pd.DataFrame(
        {
            "asin": [ASIN, "b000000001", "https://www.amazon.fr/dp/B000000002", ASIN, ASIN],
            "domain": ["de", None, "de", "", pd.NA],
            "language": ["de_DE", np.nan, None, "es-us", ""],
            "country": [pd.NA, "at", None, "us", " "],
            "notes": ["kept out", "", "", "", ""],
        }
    )
    rows = list(iter_input_rows(frame, domain="co.uk", language="en_GB"))
    assert [r.request for r in rows] == [
        ProductRequest(ASIN, "de", "de_DE", None),
        ProductRequest("B000000001", "co.uk", "en_GB", "AT"),
        ProductRequest("B000000002", "fr", "en_GB", None),  # the URL's host wins over the column
        ProductRequest(ASIN, "co.uk", "es_US", "US"),
        ProductRequest(ASIN, "co.uk", "en_GB", None),
    ]


@pytest.mark.parametrize(
    ("column", "value", "error", "match"),
    [
        ("domain", "cn", "invalid_domain", "domain 'cn'"),
        ("domain", 7, "invalid_domain", "not text"),
        ("language", "german", "invalid_language", "xx_YY"),
        ("country", "ZZ", "invalid_country", "ISO 3166"),
    ],
)
def test_dataframe_bad_cell_is_an_invalid_row_not_an_exception(
    column: str, value: object, error: str, match: str
) -> None:
    frame = pd.DataFrame({"asin": [ASIN, ASIN], column: [value, None]}, dtype=object)
    bad, good = iter_input_rows(frame)
    assert bad.request is None
    assert bad.error == error
    assert bad.asin == ASIN  # the part that was fine is kept for reporting
    assert bad.message is not None
    assert bad.message.startswith("row 1: ")
    assert match in bad.message
    assert good.request == ProductRequest(ASIN)


def third_message(items: Any) -> str:
    message = list(iter_input_rows(items))[2].message
    assert message is not None
    return message


def test_row_numbers_are_1_based_positions_with_the_index_label_when_it_says_more() -> None:
    items = ["B09HN3Q81F", "B09HN3Q81F", "junk"]
    assert third_message(items).startswith("row 3: 'junk' is not an ASIN")
    assert third_message(pd.DataFrame({"asin": items})).startswith("row 3: 'junk'")
    labelled = pd.DataFrame({"asin": items}, index=["sku-1", "sku-9", "sku-17"])
    assert third_message(labelled).startswith("row 3 (index 'sku-17'): 'junk' is not an ASIN")
    filtered = pd.DataFrame({"asin": ["x", *items]}).iloc[1:]  # index 1..3, not 0..2
    assert third_message(filtered).startswith("row 3 (index 3): 'junk'")
    series = pd.Series(items, index=pd.MultiIndex.from_tuples([("de", 1), ("de", 2), ("fr", 1)]))
    assert third_message(series).startswith("row 3 (index ('fr', 1)): 'junk'")


def test_dataframe_row_with_several_problems_names_them_all() -> None:
    frame = pd.DataFrame({"asin": ["nope"], "domain": ["cn"], "country": ["ZZ"]})
    (row,) = iter_input_rows(frame)
    assert row.error == "invalid_asin"  # the first problem decides the code
    assert row.message is not None
    assert "'nope'" in row.message
    assert "'cn'" in row.message
    assert "'ZZ'" in row.message


def test_dataframe_column_names_match_loosely() -> None:
    frame = pd.DataFrame({" ASIN ": [ASIN], "Domain": ["de"]})
    (row,) = iter_input_rows(frame)
    assert row.request == ProductRequest(ASIN, "de")


def test_dataframe_without_asin_column_names_its_columns() -> None:
    frame = pd.DataFrame({"sku": [ASIN], "domain": ["de"]})
    with pytest.raises(InputError, match=r"no 'asin' column.*\['sku', 'domain'\]"):
        iter_input_rows(frame)


def test_dataframe_with_two_asin_columns_is_an_input_error() -> None:
    frame = pd.DataFrame([[ASIN, ASIN]], columns=["asin", "ASIN"])
    with pytest.raises(InputError, match="more than one 'asin'"):
        iter_input_rows(frame)


def test_empty_inputs_give_no_rows() -> None:
    assert list(iter_input_rows([])) == []
    assert list(iter_input_rows(pd.DataFrame({"asin": []}))) == []
