"""asa_bulk.partitions.fetch_partition: one partition with a lease, engine-neutral (no Dask)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import asa_bulk
from asa_bulk._keys import key_id_of
from asa_bulk.partitions import StaticLease, fetch_partition, partition_digest
from asa_bulk.sandbox import Sandbox, make_test_keys

KEYS = make_test_keys(2, seed=11)


def test_a_partition_keeps_its_index_and_reports_retired_keys(
    asa_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ASA_API_KEYS", ",".join(KEYS))  # the worker's own keys
    asa_sandbox.revoke(KEYS[0])
    frame = pd.DataFrame({"sku": ["a", "b", "c"], "code": ["B09HN3Q81F", "bad", "B08D6T6BKS"]},
                         index=pd.Index([10, 20, 30], name="row"))  # fmt: skip
    lease = StaticLease([key_id_of(k) for k in KEYS])
    out = fetch_partition(
        frame, lease, column="code", base_url=asa_sandbox.base_url, env_file=None,
        checkpoint=tmp_path / "part.sqlite",
    )  # fmt: skip
    assert out.index.tolist() == [10, 20, 30]
    assert out["status"].tolist() == ["ok", "invalid", "ok"]
    assert list(lease.retired) == [key_id_of(KEYS[0])]


def test_a_worker_without_the_leased_keys_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASA_API_KEYS", KEYS[1])
    with pytest.raises(asa_bulk.ConfigError, match="none of the leased keys"):
        fetch_partition(pd.DataFrame({"asin": ["B09HN3Q81F"]}), StaticLease(["asa_test_zzzz"]),
                        env_file=None)  # fmt: skip


def test_the_digest_names_the_content_not_the_order_of_calls() -> None:
    a = pd.DataFrame({"asin": ["B1", "B2"]}, index=[0, 1])
    assert partition_digest(a, "asin") == partition_digest(a.copy(), "asin")
    assert partition_digest(a, "asin") != partition_digest(a.iloc[::-1], "asin")
