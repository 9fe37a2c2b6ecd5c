"""The splitter under arbitrary JSON: any values, any layout, any block boundaries."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replicator.readers.jsonsplit import JsonSyntaxError, Lines, split_values

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)
_LAYOUT = st.sampled_from(
    [
        {"indent": None},
        {"indent": None, "separators": (",", ":")},
        {"indent": 2},
        {"indent": "\t", "ensure_ascii": False},
        {"indent": 0, "ensure_ascii": False},
    ]
)


def _blocks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def _split(data: bytes, cuts: list[int], *, array: bool) -> list[Lines]:
    offset = data.index(b"[") + 1 if array else 0
    return list(split_values(_blocks(data[offset:], cuts), array=array, offset=offset))


def _check(data: bytes, found: list[Lines], values: list[Any]) -> None:
    lines = [line for block in found for line in block.data.split(b"\n") if block.data]
    assert [json.loads(line) for line in lines] == values
    assert all(not block.broken for block in found)
    starts = [(block, start) for block in found for start in block.starts]
    assert [data[start : start + 1] for _, start in starts] == [line[:1] for line in lines]
    assert [block.line_of(start) for block, start in starts] == [
        data.count(b"\n", 0, start) + 1 for _, start in starts
    ]


@settings(max_examples=300, deadline=None)
@given(values=st.lists(_JSON, max_size=8), layout=_LAYOUT, cuts=st.lists(st.integers(0, 10**6)))
def test_an_array_becomes_one_line_per_value(
    values: list[Any], layout: dict[str, Any], cuts: list[int]
) -> None:
    data = json.dumps(values, **layout).encode()
    _check(data, _split(data, cuts, array=True), values)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(_JSON, max_size=8), layout=_LAYOUT, cuts=st.lists(st.integers(0, 10**6)))
def test_values_one_after_another_become_one_line_each(
    values: list[Any], layout: dict[str, Any], cuts: list[int]
) -> None:
    data = b"\n".join(json.dumps(v, **layout).encode() for v in values)
    _check(data, _split(data, cuts, array=False), values)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(_JSON, min_size=1, max_size=6), layout=_LAYOUT, cut=st.integers(0, 10**6))
def test_a_cut_short_array_is_an_error_after_its_whole_values(
    values: list[Any], layout: dict[str, Any], cut: int
) -> None:
    data = json.dumps(values, **layout).encode()
    data = data[: 1 + cut % (len(data) - 1)]  # loses at least the closing bracket
    found: list[Lines] = []

    def consume() -> None:
        for block in split_values(_blocks(data[1:], [3, 17]), array=True, offset=1):
            found.append(block)

    with pytest.raises(JsonSyntaxError) as info:
        consume()
    assert info.value.byte <= len(data)
    lines = [line for block in found for line in block.data.split(b"\n") if block.data]
    assert [json.loads(line) for line in lines] == values[: len(lines)]
