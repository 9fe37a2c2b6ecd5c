"""JSON Lines: one object per line; nested objects become struct columns, arrays list columns.

The file is read in blocks of whole lines (``text_blocks``), each parsed by ``JsonBlockParser``.
Given an ``on_bad_row``, bad lines go to it and the good ones are kept; without one, the file
fails at its first bad line, after the rows of the blocks before it.
"""

from __future__ import annotations

from collections.abc import Generator

import pyarrow as pa
from fsspec import AbstractFileSystem

from replicator.errors import ReadError
from replicator.model import FileInfo
from replicator.readers.badrows import BadRow, OnBadRow
from replicator.readers.base import ReaderOptions
from replicator.readers.chunking import EMPTY_BATCH, Piece
from replicator.readers.encoding import open_text
from replicator.readers.failures import drift_hint
from replicator.readers.jsonblocks import JsonBlockParser
from replicator.readers.textblocks import text_blocks


def read_jsonl(
    fs: AbstractFileSystem,
    file: FileInfo,
    options: ReaderOptions,
    on_bad_row: OnBadRow | None = None,
) -> Generator[Piece, None, None]:
    """One piece per block of lines (or per batch of a large block)."""
    with open_text(fs, file.path, file.key, options.compression, options.encoding) as source:
        strict = _Strict() if on_bad_row is None else None
        report = on_bad_row if on_bad_row is not None else strict
        assert report is not None
        parser = JsonBlockParser(
            report,
            offsets=not source.transcoded,
            text=not options.infer_types,
            schema=options.schema,
        )
        rows = 0
        produced = False
        for block in text_blocks(source.stream, options.chunk_size, utf8=not source.transcoded):
            tables = parser.parse_all(block)
            if strict is not None and strict.found:
                raise strict.failure(file.key, rows, options.chunk_size)
            byte = block.end if source.positions_known else None
            batches = [b for table in tables for b in table.combine_chunks().to_batches()]
            for index, batch in enumerate(batches):
                # Only the block's last batch ends where the block ends.
                last = index == len(batches) - 1
                yield Piece(batch, byte if last else None, _tell(source.stored))
                rows += batch.num_rows
                produced = True
        if not produced:
            yield Piece(EMPTY_BATCH, 0 if source.positions_known else None)


class _Strict:
    """Collects a block's bad rows, to fail the file at the first of them."""

    def __init__(self) -> None:
        self.found: list[BadRow] = []

    def __call__(self, row: BadRow) -> None:
        self.found.append(row)

    def failure(self, key: str, rows: int, chunk_size: int) -> ReadError:
        first = min(self.found, key=lambda row: row.line or 0)
        hint = drift_hint(first.reason.lower(), chunk_size) or "check that it is valid jsonl"
        return ReadError(
            f"{key}: cannot read as jsonl: line {first.line}: {first.reason} (after {rows} "
            f"rows); {hint}, or pass --on-bad-rows dead-letter to set such lines aside",
            key=key,
            rows=rows,
        )


def _tell(stored: pa.NativeFile) -> int | None:
    try:
        return int(stored.tell())
    except (OSError, ValueError):
        return None
