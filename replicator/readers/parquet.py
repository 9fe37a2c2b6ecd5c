"""Parquet, row group by row group. The file's own compression applies; ``--compression`` does not.

A row group is split into batches of about ``chunk_size`` bytes (judged from the row group's
uncompressed size in the footer), and no batch spans two row groups.
"""

from __future__ import annotations

from collections.abc import Generator

import pyarrow as pa
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem

from replicator.model import FileInfo
from replicator.readers.base import ReaderOptions
from replicator.readers.chunking import EMPTY_BATCH, Piece
from replicator.readers.streams import open_stored


def read_parquet(
    fs: AbstractFileSystem, file: FileInfo, options: ReaderOptions
) -> Generator[Piece, None, None]:
    """One piece per row group, or several for row groups larger than the chunk size."""
    with open_stored(fs, file.path) as stored:
        if stored.size() == 0:
            # An empty object holds no rows (it is not a valid Parquet file either).
            yield Piece(EMPTY_BATCH)
            return
        parquet = pq.ParquetFile(stored)
        metadata = parquet.metadata
        for index in range(metadata.num_row_groups):
            group = metadata.row_group(index)
            bytes_per_row = max(1, group.total_byte_size // max(1, group.num_rows))
            batch_size = max(1, options.chunk_size // bytes_per_row)
            for batch in parquet.iter_batches(
                batch_size=batch_size, row_groups=[index], use_threads=True
            ):
                yield Piece(batch)
        if metadata.num_rows == 0:
            # No row groups (or only empty ones): one empty batch carries the schema.
            yield Piece(pa.RecordBatch.from_pylist([], schema=parquet.schema_arrow))
