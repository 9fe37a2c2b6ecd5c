"""JSON values as text (``--no-infer-types``): every column of a JSON Lines file a string.

Arrow parses the values; Arrow kernels write each back as text, so rows never go through
Python. What a value becomes:

- a string: itself;
- ``true``/``false``: ``"true"``/``"false"``;
- an integer: its digits (one too large for 64 bits is a float to Arrow's parser, see next);
- any other number: its shortest decimal form (``1.50`` gives ``"1.5"``, ``1e3`` ``"1000"``,
  ``1e300`` ``"1e+300"``; ``NaN``, ``Infinity``, ``-Infinity`` as spelled);
- an object or an array: its compact JSON text, members in the order the file's columns have
  them, members whose value is null left out;
- ``null``: null.

Arrow's parser turns strings that look like timestamps into timestamps; ``without_timestamps``
gives the schema that reads such fields as strings instead, so they too stay as written.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

_CONTROL = [chr(code) for code in range(32)]


def as_text(table: pa.Table) -> pa.Table:
    """``table`` with every column a string column, its values written as above."""
    if table.num_columns == 0:
        return table  # rows of {} only: nothing to write, and the row count must stay
    columns = [_column_text(column) for column in table.columns]
    return pa.table(columns, schema=pa.schema([(name, pa.string()) for name in table.schema.names]))


def has_timestamps(dtype: pa.DataType | pa.Schema) -> bool:
    """Whether ``dtype`` (or a schema) holds a timestamp at any depth."""
    if isinstance(dtype, pa.Schema):
        return any(has_timestamps(field.type) for field in dtype)
    if pa.types.is_timestamp(dtype):
        return True
    return any(has_timestamps(dtype.field(i).type) for i in range(dtype.num_fields))


def without_timestamps(schema: pa.Schema) -> pa.Schema:
    """``schema`` with every timestamp, at any depth, a string."""
    return pa.schema([field.with_type(_untimed(field.type)) for field in schema])


def _untimed(dtype: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(dtype):
        return pa.string()
    if pa.types.is_struct(dtype):
        return pa.struct([f.with_type(_untimed(f.type)) for f in dtype])
    if pa.types.is_list(dtype):
        return pa.list_(dtype.value_field.with_type(_untimed(dtype.value_type)))
    return dtype


def _column_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    chunks = [_top_text(chunk) for chunk in column.chunks]
    return pa.chunked_array(chunks, pa.string())


def _top_text(array: pa.Array) -> pa.Array:
    """A top-level value's text: a string is itself, anything else its JSON text."""
    if pa.types.is_string(array.type):
        return array
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), pa.string())
    return _json(array)


def _json(array: pa.Array) -> pa.Array:
    """The compact JSON text of each value of ``array`` (null where the value is null)."""
    dtype = array.type
    if pa.types.is_null(dtype):
        return pa.nulls(len(array), pa.string())
    if pa.types.is_string(dtype):
        return _quoted(array)
    if pa.types.is_boolean(dtype):
        return pc.if_else(array, "true", "false")
    if pa.types.is_integer(dtype):
        return array.cast(pa.string())
    if pa.types.is_floating(dtype):
        return _float_text(array)
    if pa.types.is_timestamp(dtype):
        return _quoted(array.cast(pa.string()))
    if pa.types.is_struct(dtype):
        return _object(array)
    if pa.types.is_list(dtype):
        return _array(array)
    return _quoted(array.cast(pa.string()))


def _float_text(array: pa.Array) -> pa.Array:
    """Shortest decimal form; NaN and the infinities spelled as Python's json writes them."""
    text = array.cast(pa.string())
    if pc.any(pc.invert(pc.is_finite(array))).as_py():
        text = pc.if_else(pc.is_nan(array), "NaN", text)
        text = pc.if_else(pc.equal(array, float("inf")), "Infinity", text)
        text = pc.if_else(pc.equal(array, float("-inf")), "-Infinity", text)
    return text


def _object(array: pa.StructArray) -> pa.Array:
    members = []
    for index, field in enumerate(array.type):
        key = json.dumps(field.name, ensure_ascii=False)
        # A leading comma on each member; the first one's is cut below.
        member = pc.binary_join_element_wise(f",{key}:", _json(array.field(index)), "")
        members.append(pc.fill_null(member, ""))
    joined = pc.binary_join_element_wise(*members, "") if members else _empty(len(array))
    text = pc.binary_join_element_wise("{", pc.utf8_slice_codeunits(joined, 1), "}", "")
    return pc.if_else(array.is_valid(), text, pa.scalar(None, pa.string()))


def _array(array: pa.ListArray) -> pa.Array:
    items = pc.fill_null(_json(array.values), "null")
    lists = pa.ListArray.from_arrays(array.offsets, items)
    text = pc.binary_join_element_wise("[", pc.binary_join(lists, ","), "]", "")
    return pc.if_else(array.is_valid(), text, pa.scalar(None, pa.string()))


def _quoted(array: pa.Array) -> pa.Array:
    """JSON string literals: quotes, backslashes and control characters escaped."""
    text = pc.replace_substring(array, "\\", "\\\\")
    text = pc.replace_substring(text, '"', '\\"')
    if pc.any(pc.match_substring_regex(text, "[\\x00-\\x1f]")).as_py():
        for char in _CONTROL:
            text = pc.replace_substring(text, char, json.dumps(char)[1:-1])
    return pc.binary_join_element_wise('"', text, '"', "")


def _empty(length: int) -> pa.Array:
    return pa.repeat(pa.scalar("", pa.string()), length)
