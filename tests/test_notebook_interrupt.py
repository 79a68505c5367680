"""Interrupting a notebook cell that awaits fetch_products: a real kernel, a real interrupt."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import start_new_kernel

from asa_bulk._checkpoint import SqliteCheckpoint
from asa_bulk.sandbox import make_test_keys, serve_in_thread


@pytest.fixture
def kernel() -> Iterator[tuple[Any, Any]]:
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        yield manager, client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _outcome(client: Any, msg_id: str) -> list[str]:
    """The error names and stream texts the cell ``msg_id`` produced, once it is done."""
    seen: list[str] = []
    while True:
        message = client.get_iopub_msg(timeout=60)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = message["msg_type"], message["content"]
        if kind == "error":
            seen.append(content["ename"])
        elif kind == "stream":
            seen.append(content["text"])
        elif kind == "status" and content["execution_state"] == "idle":
            return seen


def test_an_interrupted_cell_keeps_what_was_paid_for_and_says_keyboardinterrupt(
    kernel: tuple[Any, Any], tmp_path: Path
) -> None:
    manager, client = kernel
    checkpoint = tmp_path / "nb.ckpt"
    with serve_in_thread(fixed_latency=0.05, concurrency=200, rps=1000.0, burst_rps=1000.0) as sb:
        cell = client.execute(
            "import asa_bulk\n"
            f"df = await asa_bulk.fetch_products([f'B0CELL{{n:04d}}' for n in range(400)], "
            f"keys={make_test_keys(1)!r}, base_url={sb.base_url!r}, progress=False, "
            f"concurrency=4, checkpoint={str(checkpoint)!r})\n"
        )
        deadline = time.monotonic() + 60
        while sb.stats.billed_total < 10:  # polling another process: no clock to inject
            assert time.monotonic() < deadline, "the cell never got going"
            time.sleep(0.01)
        manager.interrupt_kernel()
        seen = _outcome(client, cell)
        billed = sb.stats.billed_total
    assert seen == ["KeyboardInterrupt"], seen
    assert billed < 400, "interrupted too late to test anything"
    with SqliteCheckpoint(checkpoint) as store:
        assert store.status_counts().get("ok", 0) == billed, "the answers in flight were kept"
    assert _outcome(client, client.execute("print('alive')")) == ["alive\n"]
