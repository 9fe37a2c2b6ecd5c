"""Declared CSV column types (``--csv-column-types``): reading the setting and naming the types.

On the command line: ``id:int64,ts:timestamp[ms],price:decimal128(12,2),name:string``; in a
config file also a table, ``[csv] column-types = { id = "int64" }``. Type names are Arrow's
(whatever ``pyarrow.type_for_alias`` accepts) plus ``decimal128(p,s)`` (or ``decimal(p,s)``) and
``timestamp[unit, tz=zone]``, limited to the types Arrow's CSV reader can produce.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

import pyarrow as pa

ColumnTypes = tuple[tuple[str, str], ...]

EXAMPLES = "e.g. id:int64,ts:timestamp[ms],price:decimal128(12,2),name:string"
KNOWN = (
    "int8..int64, uint8..uint64, float32, float64, bool, string, binary, date32, date64, "
    "time32[s|ms], time64[us|ns], timestamp[s|ms|us|ns] (or timestamp[ms, tz=UTC]), "
    "decimal128(p,s)"
)

_DECIMAL = re.compile(r"decimal(?:128)?\(\s*(\d+)\s*,\s*(-?\d+)\s*\)", re.IGNORECASE)
_TIMESTAMP_TZ = re.compile(r"timestamp\[\s*(s|ms|us|ns)\s*,\s*tz\s*=\s*([^\]\s]+)\s*\]", re.I)
_SPLIT = re.compile(r",(?![^\[(]*[\])])")  # commas outside [...] and (...)


class TypeSpecError(ValueError):
    """A declared type that cannot be used; the message is one line saying why and what to do."""


def parse_column_types(value: object) -> ColumnTypes:
    """``(column, type)`` pairs from ``"a:int64,b:string"`` or a ``{column: type}`` mapping.

    Every type is checked (``TypeSpecError`` otherwise); the spellings are kept as given.
    """
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, str):
        pairs = [_pair(item) for item in _SPLIT.split(value) if item.strip()]
    elif isinstance(value, list | tuple) and all(
        isinstance(p, list | tuple) and len(p) == 2 for p in value
    ):
        pairs = [(p[0], p[1]) for p in value]
    else:
        raise TypeSpecError(f"expected NAME:TYPE pairs or a table, got {value!r}; {EXAMPLES}")
    seen: set[str] = set()
    result: list[tuple[str, str]] = []
    for name, spec in pairs:
        if not isinstance(name, str) or not name or not isinstance(spec, str):
            raise TypeSpecError(f"expected a column name and a type name, got {name!r}: {spec!r}")
        if name in seen:
            raise TypeSpecError(f'column "{name}" is declared twice')
        seen.add(name)
        resolve_type(spec, column=name)
        result.append((name, spec.strip()))
    return tuple(result)


def _pair(item: str) -> tuple[str, str]:
    name, colon, spec = item.partition(":")
    if not colon or not name.strip() or not spec.strip():
        raise TypeSpecError(f"cannot read {item.strip()!r}: expected NAME:TYPE; {EXAMPLES}")
    return name.strip(), spec.strip()


def declared_types(types: ColumnTypes | None) -> dict[str, pa.DataType]:
    """The Arrow type of each declared column (in ``ConvertOptions.column_types`` form)."""
    return {name: resolve_type(spec, column=name) for name, spec in types or ()}


@functools.lru_cache(maxsize=256)
def resolve_type(spec: str, *, column: str = "") -> pa.DataType:
    """The Arrow type named by ``spec``; ``TypeSpecError`` naming ``column`` when there is none."""
    text = spec.strip()
    decimal = _DECIMAL.fullmatch(text)
    zoned = _TIMESTAMP_TZ.fullmatch(text)
    try:
        if decimal:
            dtype: pa.DataType = pa.decimal128(int(decimal[1]), int(decimal[2]))
        elif zoned:
            dtype = pa.timestamp(zoned[1].lower(), tz=zoned[2])
            pa.array([0], dtype).cast(pa.string())  # an unknown zone fails here, not in the reader
        else:
            dtype = pa.type_for_alias(text)
    except (ValueError, TypeError, pa.ArrowException) as exc:
        raise TypeSpecError(_explain(text, column, str(exc).lower())) from None
    if not csv_can_produce(dtype):
        raise TypeSpecError(f"{_where(column)}CSV columns cannot be {dtype}; use one of {KNOWN}")
    return dtype


def _explain(spec: str, column: str, error: str) -> str:
    if "precision" in error:
        return f"{_where(column)}{spec!r}: decimal precision must be 1 to 38, e.g. decimal128(12,2)"
    if "timezone" in error or "time zone" in error:
        return (
            f"{_where(column)}{spec!r}: unknown time zone; use a name such as UTC or "
            "Europe/Paris, or an offset such as +01:00"
        )
    return f"{_where(column)}unknown type {spec!r}; use one of {KNOWN}"


def _where(column: str) -> str:
    return f'column "{column}": ' if column else ""


def csv_can_produce(dtype: pa.DataType) -> bool:
    # What Arrow's CSV converter supports and ``csvconvert`` mirrors (not halffloat, decimal256,
    # durations, nested or dictionary types).
    return bool(
        pa.types.is_integer(dtype)
        or pa.types.is_float32(dtype)
        or pa.types.is_float64(dtype)
        or pa.types.is_boolean(dtype)
        or pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_binary(dtype)
        or pa.types.is_large_binary(dtype)
        or pa.types.is_date(dtype)
        or pa.types.is_time(dtype)
        or pa.types.is_timestamp(dtype)
        or pa.types.is_decimal128(dtype)
    )
