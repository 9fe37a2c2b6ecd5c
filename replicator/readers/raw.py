"""The stored bytes as they are (never decompressed), for byte-for-byte mirroring.

One ``data`` binary column, one row per block of ``chunk_size`` bytes; no system columns.
"""

from __future__ import annotations

from collections.abc import Generator

import pyarrow as pa
from fsspec import AbstractFileSystem

from replicator.model import FileInfo
from replicator.readers.base import ReaderOptions
from replicator.readers.chunking import Piece
from replicator.readers.streams import open_stored

DATA_COLUMN = "data"
SCHEMA = pa.schema([(DATA_COLUMN, pa.binary())])


def read_raw(
    fs: AbstractFileSystem, file: FileInfo, options: ReaderOptions
) -> Generator[Piece, None, None]:
    """One piece per block, with its end position in the file."""
    size = max(1, min(options.chunk_size, 2**31 - 1))  # binary offsets are int32
    with open_stored(fs, file.path) as stored:
        position = 0
        while block := stored.read(size):
            position += len(block)
            yield Piece(_batch(block), position)
        if position == 0:
            yield Piece(pa.RecordBatch.from_pylist([], schema=SCHEMA), 0)


def _batch(block: bytes) -> pa.RecordBatch:
    # The array points at the bytes object's memory: no copy.
    offsets = pa.array([0, len(block)], pa.int32()).buffers()[1]
    data = pa.Array.from_buffers(pa.binary(), 1, [None, offsets, pa.py_buffer(block)])
    return pa.RecordBatch.from_arrays([data], schema=SCHEMA)
