"""JSON Lines, parsed by Arrow's streaming JSON reader: one object per line, nested objects
become struct columns and arrays list columns. Column types are inferred from the first block.
"""

from __future__ import annotations

from collections.abc import Generator

import pyarrow as pa
import pyarrow.json as pajson
from fsspec import AbstractFileSystem

from replicator.model import FileInfo
from replicator.readers.base import ReaderOptions
from replicator.readers.chunking import EMPTY_BATCH, Piece, StoredPosition, coalesce
from replicator.readers.compression import open_decompressed
from replicator.readers.growth import arrow_block_size, read_with_growing_blocks

# Arrow's message for a stream with no objects (empty, or only blank lines).
_EMPTY_MARKER = "Empty JSON stream"


def read_jsonl(
    fs: AbstractFileSystem, file: FileInfo, options: ReaderOptions
) -> Generator[Piece, None, None]:
    """One row per JSON object."""

    def open_batches(
        block_size: int, schema: pa.Schema | None
    ) -> Generator[pa.RecordBatch, None, None]:
        read = pajson.ReadOptions(use_threads=True, block_size=block_size)
        parse = pajson.ParseOptions(explicit_schema=schema)
        with open_decompressed(fs, file.path, file.key, options.compression) as source:
            position.follow(source.stored)
            try:
                reader = pajson.open_json(source.stream, read_options=read, parse_options=parse)
            except pa.ArrowInvalid as exc:
                if _EMPTY_MARKER not in str(exc):
                    raise
                yield EMPTY_BATCH
                return
            with reader:
                yield from reader

    position = StoredPosition()
    batches = read_with_growing_blocks(open_batches, arrow_block_size(options.chunk_size))
    return coalesce((Piece(b, read=position()) for b in batches), options.chunk_size)
