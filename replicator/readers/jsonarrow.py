"""Handing JSON Lines to Arrow's parser only in the shapes it parses without crashing.

pyarrow's JSON reader kills the process (SIGSEGV, no exception) on some inputs; with pyarrow
26.0.1 the readers' fuzz test (``tests/test_fuzz_readers.py``) found two kinds:

- a top-level ``null`` (or any line starting with ``null``) that is the first value of a block
  Arrow parses: the first line of its input, or the line that straddles one of its block
  boundaries (apache/arrow#47409 reports the same crash);
- with types inferred (no explicit schema, or new fields allowed), a line straddling a block
  boundary whose type conflicts with the types inferred before it.

So Arrow never sees a block boundary: text is cut into pieces of whole lines here, each parsed
as one Arrow block, and a piece whose first non-blank line does not start an object is not
handed over at all (``NotAnObject``; the caller reads that block line by line). Later pieces are
parsed with the types of the first, on a small pool of threads, as Arrow's own threads would.

Arrow is also wrong, without failing, in other ways. ``suspect`` tells cheaply when a block
may hold a ``null`` line further in (a row of nulls) or a line of two values (``{"a":1}{"b":2}``,
two rows), and only such blocks are read line by line. Each table is validated in full: Arrow
passes on text that is not UTF-8 as it is (the block is then read line by line too) and, with
types inferred, builds a list whose first items are null with offsets past its values
(``[null,1]`` reads as ``[1,0]``; apache/arrow#51305): such a piece is parsed again with the
types found, which Arrow gets right.
"""

from __future__ import annotations

import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from replicator.readers.jsontext import as_text, has_timestamps, without_timestamps

# Bytes per piece after the first block: what one thread parses at a time.
PIECE = 1 << 20
# A first block up to this size is parsed whole, so types are inferred from all of it.
_WHOLE = 1 << 30
# A line (after the first) that starts with null; an object followed by another value.
_NULL_LINE = r"\n[ \t\r]*null"
_SECOND_VALUE = r"\}[ \t\r]*(?:\{|null)"
_FIRST = re.compile(rb"[^ \t\r\n]")
JSON_BLANKS = b" \t\r\n"  # JSON's whitespace (Python's strip() takes more)
_INT32_MAX = 2**31 - 1

# Each round reads the timestamps found as strings; only new fields can bring more.
_TIMESTAMP_ROUNDS = 8

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


class NotAnObject(pa.ArrowInvalid):  # type: ignore[misc]  # pyarrow is untyped
    """A piece whose first non-blank line does not start a JSON object (not handed to Arrow)."""


def parse(data: bytes, schema: pa.Schema | None, *, grow: bool = False) -> pa.Table | None:
    """The rows of ``data`` (whole lines), with ``schema``'s columns or, without, inferred ones.

    With ``schema``, a value of another type raises ``ArrowInvalid``, and so does a field it
    lacks unless ``grow`` (then its type is inferred, in data of up to 1 GiB).
    Raises ``NotAnObject`` instead of handing Arrow a piece that could crash it. ``None`` when
    ``data`` holds only blank lines.
    """
    if (schema is None or grow) and len(data) <= _WHOLE:
        return _parse_piece(memoryview(data), schema, grow=True)
    pieces = _split(data, PIECE)
    tables: list[pa.Table] = []
    if schema is None:
        while pieces and schema is None:
            first = _parse_piece(pieces.pop(0), None, grow=True)
            if first is not None:
                tables.append(first)
                schema = first.schema
    if len(pieces) == 1:
        tables.append(_parse_piece(pieces[0], schema, grow=False))
    elif pieces:
        tables.extend(_threads().map(lambda piece: _parse_piece(piece, schema, grow=False), pieces))
    found = [table for table in tables if table is not None]
    return concat(found) if found else None


def parse_text(data: bytes) -> pa.Table | None:
    """The rows of ``data`` with every column text (``jsontext``); the pieces' types are each
    their own, so a value of any type fits. ``None`` when ``data`` holds only blank lines."""
    pieces = _split(data, PIECE)
    if len(pieces) == 1:
        tables = [_text_piece(pieces[0])]
    else:
        tables = list(_threads().map(_text_piece, pieces))
    found = [table for table in tables if table is not None]
    return concat(found) if found else None


def _text_piece(piece: memoryview) -> pa.Table | None:
    table = _parse_piece(piece, None, grow=True)
    # Strings that look like timestamps are read as timestamps; read those fields as strings.
    for _ in range(_TIMESTAMP_ROUNDS):
        if table is None or not has_timestamps(table.schema):
            break
        table = _parse_piece(piece, without_timestamps(table.schema), grow=True)
    return None if table is None else as_text(table)


def suspect(table: pa.Table, data: bytes) -> bool:
    """Whether Arrow's rows of ``data`` may not be its lines' objects, one row per line: a line
    starts with null (a row of nulls), or a second value follows an object (two rows; only an
    object or null pass Arrow there). The same text inside a string is a false alarm, which
    costs a reading line by line, no more.

    RE2 scans: the one for null lines only when some row is null in every column, as a null
    line makes it (one scan with both patterns is much slower than two).
    """
    if _matches(data, _SECOND_VALUE):
        return True
    return _may_hold_null_lines(table) and _matches(data, _NULL_LINE)


def _may_hold_null_lines(table: pa.Table) -> bool:
    if table.num_rows == 0:
        return False
    if table.num_columns == 0 or all(column.null_count for column in table.columns):
        every = pc.is_null(table.column(0)) if table.num_columns else None
        for column in table.columns[1:]:
            every = pc.and_(every, pc.is_null(column))
        return every is None or bool(pc.any(every).as_py())
    return False


def _matches(data: bytes, pattern: str) -> bool:
    """Whether ``pattern`` (RE2, run by Arrow: much faster here than Python's re) is in data."""
    return bool(pc.any(pc.match_substring_regex(_whole(data), pattern)).as_py())


def _whole(data: bytes | memoryview) -> pa.Array:
    """``data`` as a one-value binary array, without a copy."""
    large = len(data) > _INT32_MAX
    offsets = pa.array([0, len(data)], pa.int64() if large else pa.int32()).buffers()[1]
    kind = pa.large_binary() if large else pa.binary()
    return pa.Array.from_buffers(kind, 1, [None, offsets, pa.py_buffer(data)])


def concat(tables: list[pa.Table]) -> pa.Table:
    """``tables`` one after the other, columns missing from some filled with nulls."""
    if len(tables) == 1:
        return tables[0]
    if all(table.num_columns == 0 for table in tables):
        # Arrow counts a table's rows by its columns: rows of {} alone would be lost.
        batches = [batch for table in tables for batch in table.to_batches()]
        return pa.Table.from_batches(batches, schema=pa.schema([]))
    return pa.concat_tables(tables, promote_options="default")


def _parse_piece(piece: memoryview, schema: pa.Schema | None, *, grow: bool) -> pa.Table | None:
    first = _FIRST.search(piece)
    if first is None:
        return None
    if piece[first.start()] != ord("{"):
        shown = piece[first.start() : first.start() + 20].tobytes()
        raise NotAnObject(f"a line does not start a JSON object: {shown!r}")
    # One Arrow block holds the whole piece: no line straddles a block boundary.
    read = pajson.ReadOptions(use_threads=False, block_size=len(piece) + 1)
    parse_options = pajson.ParseOptions(
        explicit_schema=schema,
        unexpected_field_behavior="infer" if grow else "error",
    )
    table = pajson.read_json(pa.BufferReader(pa.py_buffer(piece)), read, parse_options)
    try:
        _check(table)
    except pa.ArrowInvalid:
        if schema is not None and not grow:
            raise
        # Inferred list types can come out broken (apache/arrow#51305); given, they do not.
        given = pajson.ParseOptions(explicit_schema=_fixed_lists(table.schema))
        table = pajson.read_json(pa.BufferReader(pa.py_buffer(piece)), read, given)
        _check(table)
    return table


def _check(table: pa.Table) -> None:
    """``ArrowInvalid`` unless ``table`` is valid: Arrow's JSON parser takes text (keys too)
    that is not UTF-8 as it is, and can build lists whose offsets pass their values."""
    table.validate(full=True)
    try:
        table.schema.to_string()  # decodes every field name
    except UnicodeDecodeError:
        raise pa.ArrowInvalid("a key is not valid UTF-8") from None


def _fixed_lists(schema: pa.Schema) -> pa.Schema:
    """``schema`` with lists of nulls as lists of strings (given, those still come out broken)."""
    return pa.schema([field.with_type(_fixed_list(field.type)) for field in schema])


def _fixed_list(dtype: pa.DataType) -> pa.DataType:
    if pa.types.is_list(dtype):
        item = dtype.value_type
        item = pa.string() if pa.types.is_null(item) else _fixed_list(item)
        return pa.list_(dtype.value_field.with_type(item))
    if pa.types.is_struct(dtype):
        return pa.struct([f.with_type(_fixed_list(f.type)) for f in dtype])
    return dtype


def _split(data: bytes, size: int) -> list[memoryview]:
    """``data`` cut after a newline about every ``size`` bytes (lines are never split)."""
    view = memoryview(data)
    pieces: list[memoryview] = []
    start = 0
    while start < len(data):
        end = data.find(b"\n", start + size - 1) + 1 if start + size < len(data) else 0
        end = end or len(data)
        pieces.append(view[start:end])
        start = end
    return pieces


def _threads() -> ThreadPoolExecutor:
    global _pool  # noqa: PLW0603 - one pool per process, started on first use
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=max(2, min(8, os.cpu_count() or 2)), thread_name_prefix="json"
            )
        return _pool
