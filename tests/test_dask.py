"""asa_bulk.dask on a LocalCluster of 2 worker processes, against a sandbox they reach on loopback.

The workers read the keys from their environment (set when the cluster starts), as a real
deployment's would; the task graph carries key ids only. Each test uses keys of its own seed,
so that the cluster-wide retirement marks of one test never reach another.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask.dataframe as dd  # the `dask` extra, in `dev`
import distributed
import pandas as pd
import pytest

import asa_bulk.dask
from asa_bulk._keys import key_id_of
from asa_bulk.sandbox import Sandbox, make_test_keys, serve_in_thread
from tests.support.cli import sandbox_settings

SEEDS = range(1, 7)
KEYS = {seed: make_test_keys(4, seed=seed) for seed in SEEDS}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    every_key = ",".join(key for keys in KEYS.values() for key in keys)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=2,
            processes=True,
            dashboard_address=None,
            env={"ASA_API_KEYS": every_key},  # each worker's environment (a restarted one's too)
        ) as local,
        distributed.Client(local) as client,
    ):
        yield client


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with serve_in_thread(**sandbox_settings(fixed_latency=0.01)) as sb:
        yield sb


def catalogue(n: int, partitions: int) -> Any:
    asins = [f"B0{i:08d}" for i in range(n)]
    asins[5] = "not an asin"
    asins[7] = asins[3]  # a duplicate
    frame = pd.DataFrame(
        {"asin": asins, "sku": [f"sku-{i}" for i in range(n)]},
        index=pd.Index([f"row-{i}" for i in range(n)], name="row"),
    )
    return dd.from_pandas(frame, npartitions=partitions, sort=False)


def run(sb: Sandbox, ddf: Any, seed: int, tmp_path: Path, **options: Any) -> pd.DataFrame:
    out = asa_bulk.dask.fetch_products(
        ddf,
        keys=KEYS[seed],
        base_url=sb.base_url,
        checkpoint_dir=tmp_path / "parts",
        env_file=None,
        **options,
    )
    frame: pd.DataFrame = out.compute()
    return frame


def test_one_row_per_input_row_partition_for_partition(
    cluster: Any, sandbox: Sandbox, tmp_path: Path
) -> None:
    ddf = catalogue(120, 4)
    out = asa_bulk.dask.fetch_products(
        ddf, keys=KEYS[1], base_url=sandbox.base_url, checkpoint_dir=tmp_path, env_file=None
    )
    assert out.npartitions == 4
    empty = asa_bulk.fetch_products_sync([], keys=KEYS[1], base_url=sandbox.base_url)
    assert list(out._meta.columns) == list(empty.columns)  # the meta: nothing looked up
    frame = out.compute()
    assert frame.index.tolist() == [f"row-{i}" for i in range(120)]
    assert frame["status"].value_counts().to_dict() == {"ok": 119, "invalid": 1}
    assert frame.loc["row-5", "status"] == "invalid"
    for part in range(4):  # partition for partition: each output partition is its input's rows
        got = out.partitions[part].compute().index.tolist()
        assert got == ddf.partitions[part].compute().index.tolist()
    assert not {k: n for k, n in sandbox.stats.billed.items() if n > 1}  # recomputing: free


def test_a_key_serves_one_task_at_a_time_so_its_ceiling_holds_cluster_wide(
    cluster: Any, sandbox: Sandbox, tmp_path: Path
) -> None:
    frame = run(sandbox, catalogue(400, 8), 2, tmp_path, concurrency=3, rps=1000)
    assert (frame["status"] != "skipped").all()
    used = {key_id_of(k): sandbox.stats.max_in_flight.get(key_id_of(k), 0) for k in KEYS[2]}
    assert max(used.values()) <= 3  # two workers, four threads: never two tasks on one key
    assert sum(1 for n in used.values() if n > 0) >= 2  # and the work was spread


def test_a_revoked_key_is_retired_for_every_worker(
    cluster: Any, sandbox: Sandbox, tmp_path: Path
) -> None:
    revoked = sandbox.revoke(KEYS[3][0])
    frame = run(sandbox, catalogue(200, 8), 3, tmp_path, concurrency=2, rps=1000)
    assert (frame["status"].isin(["ok", "not_found", "invalid"])).all()  # its rows went elsewhere
    # One task met the 401s (at most its 2 in flight, then the key was retired); no other
    # task on either worker leased it again.
    assert sandbox.stats.requests_by_key.get(revoked, 0) <= 2


def test_every_key_revoked_skips_the_rows_and_the_job_completes(
    cluster: Any, sandbox: Sandbox, tmp_path: Path
) -> None:
    for key in KEYS[4]:
        sandbox.revoke(key)
    frame = run(sandbox, catalogue(60, 4), 4, tmp_path)
    valid = frame[frame["status"] != "invalid"]
    assert (valid["status"] == "skipped").all()
    assert (valid["error"] == "no_usable_keys").all()


def test_max_credits_holds_for_the_whole_job(
    cluster: Any, sandbox: Sandbox, tmp_path: Path
) -> None:
    frame = run(sandbox, catalogue(200, 8), 1, tmp_path, max_credits=240)
    assert sandbox.stats.credits_used <= 240  # the job's, not each partition's
    assert (frame["status"] == "ok").sum() >= 24  # partitions gave back what they did not use
    assert set(frame.loc[frame["status"] == "skipped", "error"]) <= {"budget_exhausted"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"concurency": 3}, "unknown option"),
        ({"concurrency": -1}, "concurrency"),
        ({"timeout": float("nan")}, "timeout"),
        ({"checkpoint": "x.sqlite"}, "does not take checkpoint"),
    ],
)
def test_bad_options_are_refused_before_anything_is_scheduled(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(asa_bulk.ConfigError, match=message):
        asa_bulk.dask.fetch_products(catalogue(10, 2), keys=KEYS[1], **options)


def test_no_key_travels_in_the_graph_or_shows_in_worker_logs(
    cluster: Any, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.revoke(KEYS[5][1])  # a retirement logs a line on the worker
    out = asa_bulk.dask.fetch_products(
        catalogue(40, 2),
        keys=KEYS[5],
        base_url=sandbox.base_url,
        checkpoint_dir=tmp_path,
        env_file=None,
    )
    import cloudpickle

    graph = cloudpickle.dumps(dict(out.__dask_graph__()))  # what is shipped to the workers
    out.compute()
    logs = repr(cluster.get_worker_logs())
    for key in KEYS[5]:
        assert key.encode() not in graph
        assert key not in logs
    assert key_id_of(KEYS[5][0]).encode() in graph  # ids only


def test_a_killed_worker_loses_no_row_and_rebills_no_finished_one(
    cluster: Any, tmp_path: Path
) -> None:
    import signal
    import threading
    import time

    with serve_in_thread(**sandbox_settings(fixed_latency=0.05)) as sb:
        out = asa_bulk.dask.fetch_products(
            catalogue(400, 8),
            keys=KEYS[6],
            base_url=sb.base_url,
            checkpoint_dir=tmp_path,
            env_file=None,
            concurrency=2,
            rps=1000,
        )
        pids = cluster.run(os.getpid)
        killed = threading.Event()

        def kill_one_worker_mid_run() -> None:
            while sum(sb.stats.billed.values()) < 60:  # well into the run
                time.sleep(0.01)
            os.kill(next(iter(pids.values())), signal.SIGKILL)
            killed.set()

        killer = threading.Thread(target=kill_one_worker_mid_run, daemon=True)
        killer.start()
        frame = out.compute()
        killer.join(timeout=30)
        assert killed.is_set()
        assert len(frame) == 400
        assert (frame["status"].isin(["ok", "invalid"])).all()
        twice = {k: n for k, n in sb.stats.billed.items() if n > 1}
        # Only what was in flight on the dead worker (its tasks' leased keys x 2 in flight)
        # can be paid again; everything it had finished was in its partition's checkpoint.
        assert len(twice) <= 2 * 4
    cluster.wait_for_workers(2, timeout=60)  # the nanny restarted it


def test_search_runs_partition_for_partition_with_each_card_under_its_query(
    cluster: Any, sandbox: Sandbox, tmp_path: Path
) -> None:
    queries = pd.DataFrame(
        {"query": ["usb c cable", "", "desk lamp", "mouse pad"]},
        index=pd.Index(["q0", "q1", "q2", "q3"], name="q"),
    )
    ddf = dd.from_pandas(queries, npartitions=2, sort=False)
    out = asa_bulk.dask.search(
        ddf,
        keys=KEYS[1],
        base_url=sandbox.base_url,
        checkpoint_dir=tmp_path,
        env_file=None,
        pages=2,
    )
    frame = out.compute()
    alone = asa_bulk.search_sync(
        queries, pages=2, keys=KEYS[1], base_url=sandbox.base_url, progress=False, env_file=None
    )
    own = ["fetched_at", "attempts", "key_id", "request_id"]
    # (dask keeps a string index as its own string dtype: the labels are what must match)
    pd.testing.assert_frame_equal(
        frame.drop(columns=own), alone.drop(columns=own), check_index_type=False
    )
    assert frame.loc["q1", "status"] == "invalid"
    assert set(frame.index) == {"q0", "q1", "q2", "q3"}


def test_a_key_revoked_mid_run_is_not_used_again_beyond_its_requests_in_flight(
    cluster: Any, tmp_path: Path
) -> None:
    import threading
    import time

    with serve_in_thread(**sandbox_settings(fixed_latency=0.02)) as sb:
        out = asa_bulk.dask.fetch_products(
            catalogue(400, 8),
            keys=KEYS[2][:3],
            base_url=sb.base_url,
            checkpoint_dir=tmp_path,
            env_file=None,
            concurrency=2,
            rps=1000,
        )
        revoked: dict[str, int] = {}

        def revoke_when_busy() -> None:
            while sum(sb.stats.requests_by_key.values()) < 80:
                time.sleep(0.005)
            key_id = sb.revoke(KEYS[2][0])
            revoked[key_id] = sb.stats.requests_by_key.get(key_id, 0)

        watcher = threading.Thread(target=revoke_when_busy, daemon=True)
        watcher.start()
        frame = out.compute()
        watcher.join(timeout=30)
        ((key_id, before),) = revoked.items()
        assert (frame["status"].isin(["ok", "invalid"])).all()  # its rows went to other keys
        after = sb.stats.requests_by_key.get(key_id, 0)
        assert after - before <= 2 + 2  # those in flight, then one round of 401s at most


def test_checkpoints_can_live_at_an_fsspec_url(
    cluster: Any, sandbox: Sandbox, tmp_path: Path
) -> None:
    url = f"file://{tmp_path}/remote"
    (tmp_path / "remote").mkdir()
    ddf = catalogue(60, 3)
    first = asa_bulk.dask.fetch_products(
        ddf, keys=KEYS[1], base_url=sandbox.base_url, checkpoint_dir=url, env_file=None
    ).compute()
    assert len(list((tmp_path / "remote").glob("part-*.sqlite"))) == 3  # uploaded
    billed = dict(sandbox.stats.billed)
    again = asa_bulk.dask.fetch_products(
        ddf, keys=KEYS[1], base_url=sandbox.base_url, checkpoint_dir=url, env_file=None
    ).compute()
    assert sandbox.stats.billed == billed  # every row came from the checkpoints
    assert again["asin"].tolist() == first["asin"].tolist()
