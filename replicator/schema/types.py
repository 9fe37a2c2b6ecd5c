"""How column types combine: across files (``unify``) and within a running pipeline (``widen``).

``unify`` is inference's rule: the narrowest type that holds every value of both types. It is
commutative and associative, so the schema inferred from a sample does not depend on the order
the files were read in (column order aside, which follows the files). Its rules:

* null with T is T; equal types are themselves;
* integers: the widest; a signed with an unsigned, the narrowest signed type holding both
  (``uint64`` with a signed type: ``decimal128(20, 0)``);
* integer or decimal with a float: ``float64``; floats: the widest;
* decimals: enough integer digits and scale for both (an integer counts its digits);
* timestamps: the finest unit; zones: the same zone, two zones ``UTC`` (an instant either way),
  a zone with none is a conflict; a date with a timestamp is the timestamp; times, durations:
  the finest unit;
* text types: text (large when either is); binary with binary or text: binary;
* structs: every field of both, each unified; lists: their items unified;
* anything else (a number with text, a boolean with a number, an object with a number) is a
  conflict of kinds and gives text, which holds any value.

``widen`` is evolution's rule: the type an existing column must take to hold new values *of its
own kind* (wider integers, integer to float, float32 to float64, decimal precision, finer time
units, null to anything, new struct fields), or ``None`` when the new values are of another kind:
those are rescued, never converted.
"""

from __future__ import annotations

import pyarrow as pa

_INT_DIGITS = {8: 3, 16: 5, 32: 10, 64: 19}
_UNIT_ORDER = {"s": 0, "ms": 1, "us": 2, "ns": 3}
_MAX_DECIMAL128 = 38
_MAX_DECIMAL256 = 76


def normalize(dtype: pa.DataType) -> pa.DataType:
    """The type a column is kept as: dictionaries decoded, views and fixed sizes plain."""
    if pa.types.is_dictionary(dtype):
        return normalize(dtype.value_type)
    if pa.types.is_string_view(dtype):
        return pa.string()
    if pa.types.is_binary_view(dtype) or pa.types.is_fixed_size_binary(dtype):
        return pa.binary()
    if pa.types.is_fixed_size_list(dtype) or _is_list_view(dtype):
        return pa.list_(normalize(dtype.value_type))
    if pa.types.is_list(dtype):
        return pa.list_(normalize(dtype.value_type))
    if pa.types.is_large_list(dtype):
        return pa.large_list(normalize(dtype.value_type))
    if pa.types.is_struct(dtype):
        return pa.struct([_nullable(f.with_type(normalize(f.type))) for f in dtype])
    if pa.types.is_map(dtype):
        return pa.map_(normalize(dtype.key_type), normalize(dtype.item_type))
    return dtype


def unify(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """The narrowest type holding every value of ``a`` and of ``b`` (see the module's rules)."""
    a, b = normalize(a), normalize(b)
    if a.equals(b):
        return a
    if pa.types.is_null(a):
        return b
    if pa.types.is_null(b):
        return a
    for rule in _RULES:
        result = rule(a, b)
        if result is None:
            result = rule(b, a)
        if result is not None:
            return result
    return pa.string()


def unify_fields(fields: list[pa.Field], more: list[pa.Field]) -> list[pa.Field]:
    """Fields matched by name, each unified: those of ``fields`` first, then the new ones."""
    merged = {f.name: _nullable(f.with_type(normalize(f.type))) for f in fields}
    for field in more:
        known = merged.get(field.name)
        dtype = field.type if known is None else unify(known.type, field.type)
        merged[field.name] = _nullable(field.with_type(normalize(dtype)))
    return list(merged.values())


def unify_schemas(schemas: list[pa.Schema]) -> pa.Schema:
    """One schema for all: fields unified by name, in order of first appearance."""
    fields: list[pa.Field] = []
    for schema in schemas:
        fields = unify_fields(fields, list(schema))
    return pa.schema(fields)


def widen(old: pa.DataType, new: pa.DataType) -> pa.DataType | None:
    """The type ``old`` becomes to hold values of ``new`` of its own kind (``old`` itself when
    they fit already), or ``None`` when ``new`` is of another kind."""
    old, new = normalize(old), normalize(new)
    if old.equals(new) or pa.types.is_null(new):
        return old
    if pa.types.is_null(old):
        return new
    if _is_text(old):
        # Text holds any scalar as its text, and a nested value as its JSON text.
        return pa.large_string() if pa.types.is_large_string(new) else old
    if pa.types.is_struct(old):
        if not pa.types.is_struct(new):
            return None
        fields = {f.name: f for f in old}
        for field in new:
            known = fields.get(field.name)
            dtype = field.type if known is None else widen(known.type, field.type)
            if dtype is None:
                return None
            fields[field.name] = _nullable(pa.field(field.name, dtype))
        return pa.struct(list(fields.values()))
    if _is_list(old):
        if not _is_list(new):
            return None
        item = widen(old.value_type, new.value_type)
        if item is None:
            return None
        large = pa.types.is_large_list(old) or pa.types.is_large_list(new)
        return pa.large_list(item) if large else pa.list_(item)
    if pa.types.is_map(old):
        if not pa.types.is_map(new):
            return None
        key, item = widen(old.key_type, new.key_type), widen(old.item_type, new.item_type)
        return None if key is None or item is None else pa.map_(key, item)
    merged = unify(old, new)
    return merged if _same_kind(old, merged) else None


def is_widening(old: pa.DataType, new: pa.DataType) -> bool:
    """Whether ``new`` is ``old`` or a widening of it: every value of ``old`` casts to it."""
    widened = widen(old, new)
    return widened is not None and bool(widened.equals(normalize(new)))


# -- rules of ``unify``, each for an ordered pair; None where it does not apply -------------


def _ints(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    if not (pa.types.is_integer(a) and pa.types.is_integer(b)):
        return None
    signed_a, signed_b = pa.types.is_signed_integer(a), pa.types.is_signed_integer(b)
    if signed_a == signed_b:
        return a if a.bit_width >= b.bit_width else b
    if not signed_a:
        return None  # the pair the other way round
    if b.bit_width == 64:
        return pa.decimal128(20, 0)
    bits = max(a.bit_width, b.bit_width * 2)
    return _signed(bits)


def _floats(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    if pa.types.is_floating(a) and pa.types.is_floating(b):
        return a if a.bit_width >= b.bit_width else b
    if pa.types.is_floating(a) and (pa.types.is_integer(b) or pa.types.is_decimal(b)):
        return pa.float64()
    return None


def _decimals(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    if not pa.types.is_decimal(a):
        return None
    if pa.types.is_decimal(b):
        digits, scale = max(a.precision - a.scale, b.precision - b.scale), max(a.scale, b.scale)
    elif pa.types.is_integer(b):
        digits, scale = max(a.precision - a.scale, _int_digits(b)), a.scale
    else:
        return None
    precision = digits + scale
    if precision <= _MAX_DECIMAL128 and not pa.types.is_decimal256(a):
        return pa.decimal128(precision, scale)
    if precision <= _MAX_DECIMAL256:
        return pa.decimal256(precision, scale)
    return pa.string()


def _texts(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    if _is_text(a) and _is_text(b):
        return pa.large_string()  # the only way two text types differ here
    if _is_binary(a) and (_is_binary(b) or _is_text(b)):
        large = pa.types.is_large_binary(a) or pa.types.is_large_binary(b)
        return pa.large_binary() if large or pa.types.is_large_string(b) else pa.binary()
    return None


def _times(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    if pa.types.is_timestamp(a) and pa.types.is_timestamp(b):
        unit = _finest(a.unit, b.unit)
        if a.tz == b.tz:
            return pa.timestamp(unit, tz=a.tz)
        if a.tz is not None and b.tz is not None:
            return pa.timestamp(unit, tz="UTC")
        return pa.string()
    if pa.types.is_timestamp(a) and pa.types.is_date(b):
        return a
    if pa.types.is_date(a) and pa.types.is_date(b):
        return pa.date32()
    if pa.types.is_time(a) and pa.types.is_time(b):
        unit = _finest(a.unit, b.unit)
        return pa.time64(unit) if unit in ("us", "ns") else pa.time32(unit)
    if pa.types.is_duration(a) and pa.types.is_duration(b):
        return pa.duration(_finest(a.unit, b.unit))
    return None


def _nested(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    if pa.types.is_struct(a) and pa.types.is_struct(b):
        return pa.struct(unify_fields(list(a), list(b)))
    if _is_list(a) and _is_list(b):
        item = unify(a.value_type, b.value_type)
        large = pa.types.is_large_list(a) or pa.types.is_large_list(b)
        return pa.large_list(item) if large else pa.list_(item)
    if pa.types.is_map(a) and pa.types.is_map(b):
        return pa.map_(unify(a.key_type, b.key_type), unify(a.item_type, b.item_type))
    return None


_RULES = (_ints, _floats, _decimals, _texts, _times, _nested)


# -- helpers ---------------------------------------------------------------------------------


def _kind(dtype: pa.DataType) -> str:
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return "number"
    if pa.types.is_timestamp(dtype) or pa.types.is_date(dtype):
        return "timestamp"
    if _is_text(dtype):
        return "text"
    if _is_binary(dtype):
        return "binary"
    return str(dtype.id)


def _same_kind(old: pa.DataType, merged: pa.DataType) -> bool:
    if pa.types.is_date(old) and pa.types.is_timestamp(merged):
        return True  # a date is a midnight timestamp
    if pa.types.is_timestamp(old):
        return bool(pa.types.is_timestamp(merged))
    return _kind(old) == _kind(merged)


def _signed(bits: int) -> pa.DataType:
    return {8: pa.int8(), 16: pa.int16(), 32: pa.int32(), 64: pa.int64()}[bits]


def _int_digits(dtype: pa.DataType) -> int:
    digits = _INT_DIGITS[dtype.bit_width]
    return 20 if dtype.bit_width == 64 and pa.types.is_unsigned_integer(dtype) else digits


def _finest(a: str, b: str) -> str:
    return a if _UNIT_ORDER[a] >= _UNIT_ORDER[b] else b


def _is_text(dtype: pa.DataType) -> bool:
    return bool(pa.types.is_string(dtype) or pa.types.is_large_string(dtype))


def _is_binary(dtype: pa.DataType) -> bool:
    return bool(pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype))


def _is_list(dtype: pa.DataType) -> bool:
    return bool(pa.types.is_list(dtype) or pa.types.is_large_list(dtype))


def _is_list_view(dtype: pa.DataType) -> bool:
    check = getattr(pa.types, "is_list_view", None)
    large = getattr(pa.types, "is_large_list_view", None)
    return bool((check and check(dtype)) or (large and large(dtype)))


def _nullable(field: pa.Field) -> pa.Field:
    return field if field.nullable else field.with_nullable(True)
