"""Parquet, row group by row group. The file's own compression applies; ``--compression`` does not.

A row group is split into batches of about ``chunk_size`` bytes (judged from the row group's
uncompressed size in the footer), and no batch spans two row groups.

Each batch is validated in full (cheap next to decoding): a corrupt page can hold text that is
not UTF-8, which Arrow's reader passes on. Each row group must yield as many rows as its
metadata says: a corrupt column chunk (one that
holds fewer values than the group has rows) makes Arrow's batch reader yield nothing for the
group rather than fail, so without this check the file would pass with rows missing. The count
is the row group's, not the file's: some writers leave the file-level count at 0.
"""

from __future__ import annotations

from collections.abc import Generator

import pyarrow as pa
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem

from replicator.errors import ReadError
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
        produced = 0
        for index in range(metadata.num_row_groups):
            group = metadata.row_group(index)
            bytes_per_row = max(1, group.total_byte_size // max(1, group.num_rows))
            batch_size = max(1, options.chunk_size // bytes_per_row)
            read = 0
            for batch in parquet.iter_batches(
                batch_size=batch_size, row_groups=[index], use_threads=True
            ):
                # Arrow's Parquet reader passes on a corrupt page's text as it is (not UTF-8).
                batch.validate(full=True)
                read += batch.num_rows
                yield Piece(batch)
            if read != group.num_rows:
                raise _short_group(file.key, index, group.num_rows, read, produced + read)
            produced += read
        if produced == 0:
            # No row groups (or only empty ones): one empty batch carries the schema.
            yield Piece(pa.RecordBatch.from_pylist([], schema=parquet.schema_arrow))


def _short_group(key: str, index: int, expected: int, read: int, rows: int) -> ReadError:
    return ReadError(
        f"{key}: cannot read as parquet: row group {index} holds {expected} rows by its "
        f"metadata but {read} could be read (after {rows} rows); the file is corrupt: write "
        "it again, or copy its bytes as they are with --format raw",
        key=key,
        rows=rows,
    )
