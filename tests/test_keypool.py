from __future__ import annotations

import itertools
import logging

import pytest

from asa_bulk._keypool import KeyPool, KeySlot, NoUsableKeys, WorkspaceStopped
from asa_bulk._keys import ApiKey

KEYS = [ApiKey(f"asa_test_{c * 24}") for c in "abc"]


def make_pool(concurrency: int = 2, rps: float = 100.0, *, pinned: bool = False) -> KeyPool:
    return KeyPool(
        KEYS, concurrency=concurrency, rps=rps, pin_concurrency=pinned, pin_rps=pinned, now=0.0
    )


def test_picks_the_key_with_most_free_capacity() -> None:
    pool = make_pool(concurrency=3)
    first = pool.pick(0.0)
    assert isinstance(first, KeySlot)
    pool.begin(first, 0.0)
    second = pool.pick(0.0)
    assert isinstance(second, KeySlot)
    assert second is not first  # the busy key has less room
    pool.begin(second, 0.0)
    third = pool.pick(0.0)
    assert isinstance(third, KeySlot)
    assert third not in (first, second)


def test_concurrency_cap_then_wait_for_release() -> None:
    pool = make_pool(concurrency=1)
    slots = []
    for _ in range(3):
        slot = pool.pick(0.0)
        assert isinstance(slot, KeySlot)
        pool.begin(slot, 0.0)
        slots.append(slot)
    assert pool.pick(0.0) is None  # every key is full: wait for a release
    pool.end(slots[1])
    assert pool.pick(0.0) is slots[1]


def test_rate_cap_reports_when_the_next_token_arrives() -> None:
    pool = KeyPool(KEYS[:1], concurrency=10, rps=2.0, pin_concurrency=False, pin_rps=False, now=0.0)
    now, sent = 0.0, list[float]()
    while len(sent) < 5:
        choice = pool.pick(now)
        if isinstance(choice, KeySlot):
            pool.begin(choice, now)
            pool.end(choice)
            sent.append(now)
        else:
            assert isinstance(choice, float)
            assert choice > now  # a real wait, never "now" again
            now = choice
    # Sustained 2/s: after the first burst, one request every 0.5 s (+ the 5 ms lag once).
    gaps = [b - a for a, b in itertools.pairwise(sent[1:])]
    assert gaps == pytest.approx([0.5] * 3)


def test_cooling_key_is_skipped_until_its_time() -> None:
    pool = make_pool()
    a = pool.slots[0]
    pool.cool_down(a, until=10.0)
    for _ in range(4):
        slot = pool.pick(1.0)
        assert slot is not a
        assert isinstance(slot, KeySlot)
        pool.begin(slot, 1.0)
    assert pool.pick(1.0) == 10.0  # only the cooling key has room: it wakes at t=10
    assert pool.pick(10.0) is a


def test_retire_logs_once_by_key_id(caplog: pytest.LogCaptureFixture) -> None:
    pool = make_pool()
    with caplog.at_level(logging.WARNING, logger="asa_bulk"):
        for slot in pool.slots:
            pool.retire(slot, "revoked")
            pool.retire(slot, "revoked")
    assert len(caplog.records) == 3
    assert "asa_test_aaaaaaaaaaaa " in caplog.records[0].getMessage()
    assert "a" * 24 not in caplog.text
    with pytest.raises(NoUsableKeys):
        pool.pick(0.0)


def test_stop_blocks_every_key() -> None:
    pool = make_pool()
    pool.stop("insufficient_credits")
    with pytest.raises(WorkspaceStopped, match="insufficient_credits"):
        pool.pick(0.0)


def test_limits_follow_headers_unless_pinned() -> None:
    pool = make_pool(concurrency=10, rps=2.0)
    slot = pool.slots[0]
    pool.observe_limits(slot, 50.0, 25.0, now=1.0)
    assert (slot.concurrency, slot.bucket.rate) == (50, 25.0)
    pinned = make_pool(concurrency=10, rps=2.0, pinned=True)
    pinned.observe_limits(pinned.slots[0], 50.0, 25.0, now=1.0)
    assert (pinned.slots[0].concurrency, pinned.slots[0].bucket.rate) == (10, 2.0)
