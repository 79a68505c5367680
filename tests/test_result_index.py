"""The result keeps the input's index, so assigning a column back to the input aligns."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import asa_bulk
from asa_bulk.sandbox import Sandbox

A1, A2, A3 = "B0INDEX001", "B0INDEX002", "B0INDEX003"


async def fetch(sandbox: Sandbox, items: Any) -> pd.DataFrame:
    return await asa_bulk.fetch_products(
        items, keys=sandbox.test_keys(1), base_url=sandbox.base_url, progress=False
    )


async def test_a_filtered_dataframe_keeps_its_index(asa_sandbox: Sandbox) -> None:
    catalog = pd.DataFrame({"asin": [A1, "junk", A2, A3], "sku": ["a", "b", "c", "d"]})
    catalog.index = [0, 10, 20, 30]
    wanted = catalog[catalog["sku"] != "c"]  # index [0, 10, 30]
    df = await fetch(asa_sandbox, wanted)
    assert list(df.index) == [0, 10, 30]
    assert list(df["status"]) == ["ok", "invalid", "ok"]
    catalog["price"] = df["price"]  # aligns on the index: row 20 was not looked up
    assert catalog.loc[0, "price"] == df.loc[0, "price"]
    assert catalog.loc[30, "price"] == df.loc[30, "price"]
    assert pd.isna(catalog.loc[20, "price"])
    assert pd.isna(catalog.loc[10, "price"])


@pytest.mark.parametrize(
    "index",
    [
        pd.MultiIndex.from_tuples([("de", 1), ("de", 2), ("fr", 1)], names=["shop", "n"]),
        pd.Index(["sku-1", "sku-1", "sku-2"], name="sku"),  # not unique
        pd.RangeIndex(5, 8),
    ],
    ids=["multiindex", "non_unique", "offset_range"],
)
async def test_any_index_survives(asa_sandbox: Sandbox, index: pd.Index) -> None:
    items = pd.DataFrame({"asin": [A1, A2, A1]}, index=index)
    df = await fetch(asa_sandbox, items)
    pd.testing.assert_index_equal(df.index, index)
    assert list(df["asin"]) == [A1, A2, A1]


async def test_a_series_keeps_its_index(asa_sandbox: Sandbox) -> None:
    series = pd.Series([A1, A2], index=["x", "y"], name="asin")
    df = await fetch(asa_sandbox, series)
    assert list(df.index) == ["x", "y"]


async def test_a_list_or_iterator_gets_a_range_index(asa_sandbox: Sandbox) -> None:
    for items in ([A1, A2], iter([A1, A2])):
        df = await fetch(asa_sandbox, items)
        pd.testing.assert_index_equal(df.index, pd.RangeIndex(2))


def test_sync_form_keeps_the_index(asa_sandbox: Sandbox) -> None:
    items = pd.DataFrame({"asin": [A1, A2]}, index=[7, 3])
    df = asa_bulk.fetch_products_sync(
        items, keys=asa_sandbox.test_keys(1), base_url=asa_sandbox.base_url, progress=False
    )
    assert list(df.index) == [7, 3]


async def test_an_empty_dataframe_keeps_its_empty_index(asa_sandbox: Sandbox) -> None:
    items = pd.DataFrame({"asin": pd.Series([], dtype=object)}, index=pd.Index([], name="sku"))
    df = await fetch(asa_sandbox, items)
    assert len(df) == 0
    assert df.index.name == "sku"
