"""The unification and widening rules of the pipeline schema, on types and on values."""

from __future__ import annotations

import datetime as dt
import decimal
import functools
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replicator.schema.conform import cast_into
from replicator.schema.types import is_widening, unify, unify_schemas, widen

SCALARS = [
    pa.null(),
    pa.bool_(),
    pa.int8(),
    pa.int16(),
    pa.int32(),
    pa.int64(),
    pa.uint8(),
    pa.uint32(),
    pa.uint64(),
    pa.float32(),
    pa.float64(),
    pa.decimal128(10, 2),
    pa.decimal128(38, 0),
    pa.string(),
    pa.large_string(),
    pa.binary(),
    pa.date32(),
    pa.timestamp("s"),
    pa.timestamp("ms", tz="UTC"),
    pa.timestamp("us", tz="Europe/Paris"),
    pa.time32("ms"),
    pa.time64("us"),
]


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        (pa.int32(), pa.int64(), pa.int64()),
        (pa.int64(), pa.float64(), pa.float64()),
        (pa.null(), pa.int32(), pa.int32()),
        (pa.int8(), pa.uint8(), pa.int16()),
        (pa.int64(), pa.uint64(), pa.decimal128(20, 0)),
        (pa.timestamp("s"), pa.timestamp("ns"), pa.timestamp("ns")),
        (
            pa.timestamp("s", tz="UTC"),
            pa.timestamp("ms", tz="Asia/Tokyo"),
            pa.timestamp("ms", tz="UTC"),
        ),
        (pa.timestamp("s"), pa.timestamp("s", tz="UTC"), pa.string()),
        (pa.date32(), pa.timestamp("ms"), pa.timestamp("ms")),
        (pa.int64(), pa.string(), pa.string()),
        (pa.bool_(), pa.int64(), pa.string()),
        (pa.decimal128(10, 2), pa.int32(), pa.decimal128(12, 2)),
        (pa.decimal128(10, 2), pa.decimal128(5, 4), pa.decimal128(12, 4)),
        (pa.binary(), pa.string(), pa.binary()),
        (
            pa.struct([("a", pa.int32()), ("b", pa.string())]),
            pa.struct([("a", pa.float64()), ("c", pa.bool_())]),
            pa.struct([("a", pa.float64()), ("b", pa.string()), ("c", pa.bool_())]),
        ),
        (pa.list_(pa.int64()), pa.list_(pa.float64()), pa.list_(pa.float64())),
        (pa.list_(pa.int64()), pa.int64(), pa.string()),
        (pa.struct([("a", pa.int32())]), pa.int64(), pa.string()),
        (pa.dictionary(pa.int32(), pa.string()), pa.string(), pa.string()),
    ],
)
def test_unify(a: pa.DataType, b: pa.DataType, want: pa.DataType) -> None:
    assert unify(a, b) == want
    # The other way round: the same fields and types (a struct's fields in the order seen).
    assert _canonical(unify(b, a)) == _canonical(want)


def _canonical(dtype: pa.DataType) -> pa.DataType:
    if pa.types.is_struct(dtype):
        fields = sorted((f.with_type(_canonical(f.type)) for f in dtype), key=lambda f: f.name)
        return pa.struct(fields)
    if pa.types.is_list(dtype):
        return pa.list_(_canonical(dtype.value_type))
    return dtype


@pytest.mark.parametrize(
    ("old", "new", "want"),
    [
        (pa.int64(), pa.float64(), pa.float64()),
        (pa.int8(), pa.int64(), pa.int64()),
        (pa.uint16(), pa.int8(), pa.int32()),
        (pa.float32(), pa.float64(), pa.float64()),
        (pa.float64(), pa.int64(), pa.float64()),  # fits already
        (pa.decimal128(10, 2), pa.decimal128(14, 2), pa.decimal128(14, 2)),
        (pa.timestamp("ms"), pa.timestamp("ns"), pa.timestamp("ns")),
        (pa.null(), pa.bool_(), pa.bool_()),
        (pa.string(), pa.int64(), pa.string()),  # text holds any value
        (pa.int64(), pa.string(), None),
        (pa.int64(), pa.bool_(), None),
        (pa.timestamp("s"), pa.timestamp("s", tz="UTC"), None),
        (pa.string(), pa.binary(), pa.string()),  # text's own rule: holds anything as text
        (pa.int64(), pa.struct([("a", pa.int64())]), None),
        (
            pa.struct([("a", pa.int64())]),
            pa.struct([("a", pa.float64()), ("b", pa.string())]),
            pa.struct([("a", pa.float64()), ("b", pa.string())]),
        ),
        (pa.struct([("a", pa.int64())]), pa.struct([("a", pa.string())]), None),
    ],
)
def test_widen(old: pa.DataType, new: pa.DataType, want: pa.DataType | None) -> None:
    assert widen(old, new) == want


# -- properties: any order gives the same schema; every value casts to it ----------------------

# Integers within 2**53, which float64 (the type of an integer with a float) holds exactly; a
# larger one in a float column is rescued, not rounded (``test_schema_conform``).
_EXACT = 2**53
_VALUES: dict[str, Any] = {
    "bool": st.booleans(),
    "int8": st.integers(-128, 127),
    "int32": st.integers(-(2**31), 2**31 - 1),
    "int64": st.integers(-_EXACT, _EXACT),
    "uint8": st.integers(0, 255),
    "uint64": st.integers(0, _EXACT),
    "double": st.floats(allow_nan=False, allow_infinity=False, width=64),
    "float": st.floats(allow_nan=False, allow_infinity=False, width=32),
    "decimal128(10, 2)": st.decimals(
        min_value=-99999999, max_value=99999999, places=2, allow_nan=False
    ),
    "string": st.text(max_size=8),
    "date32[day]": st.dates(),
    "timestamp[s]": st.datetimes(
        min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2200, 1, 1)
    ).map(lambda d: d.replace(microsecond=0)),
    "timestamp[ms, tz=UTC]": st.datetimes(
        min_value=dt.datetime(1970, 1, 1),
        max_value=dt.datetime(2200, 1, 1),
        timezones=st.just(dt.UTC),
    ).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)),
}
_TYPES = {
    "bool": pa.bool_(),
    "int8": pa.int8(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "uint8": pa.uint8(),
    "uint64": pa.uint64(),
    "double": pa.float64(),
    "float": pa.float32(),
    "decimal128(10, 2)": pa.decimal128(10, 2),
    "string": pa.string(),
    "date32[day]": pa.date32(),
    "timestamp[s]": pa.timestamp("s"),
    "timestamp[ms, tz=UTC]": pa.timestamp("ms", tz="UTC"),
}


@st.composite
def samples(draw: st.DrawFn) -> list[pa.Array]:
    """A few sampled columns of one field, each of its own type, with values."""
    names = draw(st.lists(st.sampled_from(sorted(_TYPES)), min_size=1, max_size=4))
    columns = []
    for name in names:
        values = draw(st.lists(st.one_of(st.none(), _VALUES[name]), min_size=1, max_size=5))
        columns.append(pa.array(values, _TYPES[name]))
    return columns


@settings(max_examples=300, deadline=None)
@given(samples(), st.randoms())
def test_unifying_in_any_order_gives_one_type_that_holds_every_value(
    columns: list[pa.Array], rnd: Any
) -> None:
    types = [c.type for c in columns]
    result = functools.reduce(unify, types)
    shuffled = list(types)
    rnd.shuffle(shuffled)
    assert functools.reduce(unify, shuffled) == result
    for column in columns:
        cast = cast_into(column, result)
        if pa.types.is_string(result):
            # Kinds in conflict: text holds each value as its text, none becomes null.
            assert cast.is_null().to_pylist() == column.is_null().to_pylist()
            continue
        assert is_widening(column.type, result)
        assert _values(cast) == _values(column), (column.type, result)


def _values(column: pa.Array) -> list[Any]:
    """The values as comparable Python values: instants, exact numbers."""
    out: list[Any] = []
    for value in column.to_pylist():
        if value is None:
            out.append(None)
        elif isinstance(value, dt.datetime):
            out.append(
                value.timestamp() if value.tzinfo else value.replace(tzinfo=dt.UTC).timestamp()
            )
        elif isinstance(value, dt.date):
            out.append(dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp())
        elif isinstance(value, decimal.Decimal | float | int):
            out.append(
                decimal.Decimal(value)
                if not isinstance(value, float)
                else decimal.Decimal(repr(value))
            )
        else:
            out.append(value)
    return out


def test_unify_schemas_matches_fields_by_name_in_order_of_appearance() -> None:
    one = pa.schema([("id", pa.int32()), ("name", pa.string())])
    two = pa.schema([("score", pa.float64()), ("id", pa.int64())])
    three = pa.schema([("name", pa.null()), ("extra", pa.null())])
    got = unify_schemas([one, two, three])
    assert got == pa.schema(
        [("id", pa.int64()), ("name", pa.string()), ("score", pa.float64()), ("extra", pa.null())]
    )
