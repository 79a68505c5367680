"""asa_bulk._json gives the standard library's values, only faster."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from asa_bulk._checkpoint_format import pack, unpack
from asa_bulk._json import dumps_text, loads
from tests.support.records import make_record

DOCUMENTS = [
    b'{"asin":"B000000001","price":19.99,"images":["a","b"],"n":null,"ok":true}',
    b'{"big":123456789012345678901234567890,"small":-98765432109876543210}',
    b'{"id":9223372036854775807,"neg":-9223372036854775808,"u":18446744073709551615}',
    b'{"x":1e400,"y":-1e400}',
    b"[NaN, Infinity, -Infinity]",
    b'{"s":"\\ud800 lone"}',
    b'{"a":1,"a":2}',
    '{"t":"caf\u00e9 \u2028"}'.encode(),
    b"[-0, -0.0, 0.1, 5e-324, 1.7976931348623157e308]",
]


def _same(a: Any, b: Any) -> bool:
    """Equal, with the same types throughout (1 != 1.0 here) and NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and repr(a) == repr(b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@pytest.mark.parametrize("document", DOCUMENTS)
def test_loads_gives_exactly_what_json_gives(document: bytes) -> None:
    assert _same(loads(document), json.loads(document))


def test_integers_beyond_64_bits_stay_integers() -> None:
    value = loads(b'{"n":123456789012345678901234567890}')["n"]
    assert value == 123456789012345678901234567890
    assert type(value) is int


def test_what_neither_reads_raises_the_fallbacks_error() -> None:
    with pytest.raises(json.JSONDecodeError):
        loads(b'{"unterminated": ')
    strict_utf8 = lambda data: json.loads(data.decode("utf-8"))  # noqa: E731
    with pytest.raises(UnicodeDecodeError):  # an encoded lone surrogate is not UTF-8
        loads(b'{"s":"\xed\xa0\x80"}', fallback=strict_utf8)


@pytest.mark.parametrize(
    "value",
    [
        ["a", "b", {"k": [1, 2.5, None, True]}],
        {"Brand": "Caf\u00e9", "line": "\u2028"},
        [2**70, -(2**70)],  # beyond orjson's integers
        {1: "a non-string key"},
        ["lone \ud800 surrogate"],
        [1e16, 0.1, 1.5e-7],
    ],
)
def test_dumps_text_reads_back_as_the_same_value(value: Any) -> None:
    text = dumps_text(value)
    assert ", " not in text
    assert ": " not in text
    assert json.loads(text) == json.loads(json.dumps(value))


def test_dumps_text_writes_nan_as_null_and_keeps_non_ascii() -> None:
    assert dumps_text([math.nan, math.inf]) == "[null,null]"
    assert dumps_text(["\u00e9"]) == '["\u00e9"]'


def test_a_checkpoint_row_keeps_a_big_integer_exact() -> None:
    record = make_record(1)
    record.body = {"asin": "B000000001", "id": 2**80}
    record.body_json = json.dumps(record.body).encode()  # stored as received
    body = unpack(pack(record)).body
    assert body == {"asin": "B000000001", "id": 2**80}
    assert type(body["id"]) is int
