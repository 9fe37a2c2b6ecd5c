"""System columns: ``_file`` (the key) and ``_row`` (0-based row index in the file).

Both are built by Arrow kernels, never by a Python loop over rows.
"""

from __future__ import annotations

import threading

import pyarrow as pa
import pyarrow.compute as pc

FILE_COLUMN = "_file"
ROW_COLUMN = "_row"
SYSTEM_COLUMNS = (FILE_COLUMN, ROW_COLUMN)

_ONE = pa.scalar(1, pa.int64())
_lock = threading.Lock()
_arange: pa.Int64Array = pa.array([], pa.int64())


def row_numbers(start: int, count: int) -> pa.Int64Array:
    """``start, start+1, ..., start+count-1`` as int64: a slice of a shared 0..n range, shifted."""
    global _arange  # noqa: PLW0603 - one process-wide cache, grown by doubling
    base = _arange
    if len(base) < count:
        with _lock:
            size = max(count, 2 * len(_arange), 1024)
            if len(_arange) < size:
                _arange = pc.subtract(pc.cumulative_sum(pa.repeat(_ONE, size)), _ONE)
            base = _arange
    window = base.slice(0, count)
    if start == 0:
        return window
    result: pa.Int64Array = pc.add(window, pa.scalar(start, pa.int64()))
    return result


def add_system_columns(batch: pa.RecordBatch, key: str, first_row: int) -> pa.RecordBatch:
    """``batch`` with ``_file`` (string) and ``_row`` (int64) appended.

    Columns of those names already in the file (an earlier replicator's output, typically) are
    replaced: the system columns always name this file and row.
    """
    names = batch.schema.names
    if FILE_COLUMN in names or ROW_COLUMN in names:
        keep = [i for i, name in enumerate(names) if name not in SYSTEM_COLUMNS]
        batch = batch.select(keep)
    count = batch.num_rows
    files = pa.repeat(pa.scalar(key, pa.string()), count)
    arrays = [*batch.columns, files, row_numbers(first_row, count)]
    schema = batch.schema.append(pa.field(FILE_COLUMN, pa.string())).append(
        pa.field(ROW_COLUMN, pa.int64())
    )
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
