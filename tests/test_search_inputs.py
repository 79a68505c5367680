"""Search inputs: queries cleaned and validated, one row per page, bad rows named not raised."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from asa_bulk._errors import ConfigError, InputError
from asa_bulk._records import SearchRequest
from asa_bulk._search_inputs import clean_query, iter_query_rows, page_range


def test_each_query_gives_one_row_per_page_in_query_then_page_order() -> None:
    rows = list(iter_query_rows(["usb c cable", "desk lamp"], pages=3, start_page=2))
    assert [(row.index, row.page) for row in rows] == [
        (0, 2), (0, 3), (0, 4), (1, 2), (1, 3), (1, 4),
    ]  # fmt: skip
    assert rows[0].request == SearchRequest("usb c cable", "com", "best_match", 2)
    assert {row.query for row in rows[3:]} == {"desk lamp"}


def test_a_query_is_trimmed_and_its_spacing_made_one_so_duplicates_are_one_request() -> None:
    typed = ["  usb   c\tcable ", "usb c cable", "\ufeffusb c\u200b cable"]
    requests = {row.request for row in iter_query_rows(typed)}
    assert requests == {SearchRequest("usb c cable")}
    assert [row.raw for row in iter_query_rows(typed)] == typed


@pytest.mark.parametrize("value", ["", "   ", "\u200b", None, math.nan, pd.NA, 42])
def test_an_empty_or_non_text_query_is_one_invalid_row_naming_it(value: object) -> None:
    rows = list(iter_query_rows(["ok", value], pages=2))
    assert [row.page for row in rows] == [1, 2, None]
    bad = rows[-1]
    assert bad.request is None
    assert bad.error == "invalid_query"
    assert bad.message is not None
    assert bad.message.startswith("row 2: ")


def test_a_dataframe_gives_per_row_domain_and_sort_by_with_the_defaults_for_empty_cells() -> None:
    frame = pd.DataFrame(
        {
            "Query": ["pan", "pan", "pan", "pan", "pan"],
            "domain": ["amazon.de", None, "", "mars", "de"],
            "sort_by": ["newest", None, "price", " ", "price_asc"],
        },
        index=["a", "b", "c", "d", "e"],
    )
    rows = list(iter_query_rows(frame, domain="fr", sort_by="avg_customer_review"))
    assert [(row.domain, row.sort_by, row.error) for row in rows] == [
        ("de", "newest", None),
        ("fr", "avg_customer_review", None),
        ("fr", None, "invalid_sort_by"),
        (None, "avg_customer_review", "invalid_domain"),
        ("de", "price_asc", None),
    ]
    assert rows[2].message is not None
    assert rows[2].message.startswith("row 3 (index 'c'): sort_by must be")
    assert "'price'" in rows[2].message


def test_a_row_with_several_problems_names_them_all() -> None:
    frame = pd.DataFrame({"query": [""], "domain": ["mars"], "sort_by": ["price"]})
    (row,) = iter_query_rows(frame)
    assert row.error == "invalid_query"  # the first
    assert row.message is not None
    for part in ("query is empty", "'mars'", "got 'price'"):
        assert part in row.message


@pytest.mark.parametrize(
    ("queries", "match"),
    [
        ("usb c cable", "single str"),
        ({"q": 1}, "mapping"),
        (42, "iterable"),
        (pd.DataFrame({"keyword": ["x"]}), "no 'query' column"),
        (pd.DataFrame([["a", "b"]], columns=["query", " Query"]), "more than one 'query'"),
    ],
)
def test_input_that_cannot_be_read_raises_at_once(queries: object, match: str) -> None:
    with pytest.raises(InputError, match=match):
        iter_query_rows(queries)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"pages": 0}, "pages must be 1 or more"),
        ({"pages": 2.0}, "pages must be a whole number"),
        ({"pages": True}, "pages must be a whole number"),
        ({"pages": math.nan}, "pages must be a whole number"),
        ({"start_page": 11}, "start_page must be 10 or less"),
        ({"start_page": 8, "pages": 4}, "would reach page 11.*at most 3 page"),
        ({"sort_by": "price"}, "sort_by must be"),
        ({"domain": "mars"}, "mars"),
    ],
)
def test_bad_settings_are_config_errors_naming_them_before_any_row(
    settings: dict[str, object], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        iter_query_rows(["x"], **settings)  # type: ignore[arg-type]


def test_the_last_documented_page_can_be_reached() -> None:
    assert page_range(pages=10, start_page=1) == range(1, 11)
    assert page_range(pages=1, start_page=10) == range(10, 11)


def test_clean_query_keeps_case_and_inner_words() -> None:
    assert clean_query(b" Caf\xc3\xa9  Mug ") == "Café Mug"
    assert clean_query(None) is None


def test_a_search_request_sends_only_what_differs_from_the_defaults() -> None:
    assert SearchRequest("pan").params() == {"query": "pan", "domain": "com"}
    assert SearchRequest("pan", "de", "newest", 4).params() == {
        "query": "pan", "domain": "de", "sort_by": "newest", "start_page": "4",
    }  # fmt: skip
    assert SearchRequest("a|b", "de", "newest", 4).ident == "search|de|newest|4|a|b"
    assert SearchRequest.credits == 5


def test_a_per_row_setting_that_is_not_text_is_named() -> None:
    (row,) = iter_query_rows(pd.DataFrame({"query": ["pan"], "domain": [3]}))
    assert row.error == "invalid_domain"
    assert row.message == "row 1: domain 3 is not text"
