"""CSV and TSV, parsed by Arrow's streaming CSV reader (multi-threaded, one block at a time).

Column types are inferred from the first block. A column that is empty throughout that block
would be typed ``null`` and break on the first later value, so such columns are read as strings.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Literal

import pyarrow as pa
import pyarrow.csv as pacsv
from fsspec import AbstractFileSystem

from replicator.model import FileInfo
from replicator.readers.badrows import BadRow, OnBadRow
from replicator.readers.base import CsvOptions, ReaderOptions
from replicator.readers.chunking import EMPTY_BATCH, Piece, StoredPosition, coalesce
from replicator.readers.compression import open_decompressed
from replicator.readers.growth import arrow_block_size, read_with_growing_blocks

# Arrow's message for a file with no header and no rows, or a first block without a whole line.
_EMPTY_MARKER = "Empty CSV file"


def read_csv(
    fs: AbstractFileSystem,
    file: FileInfo,
    options: ReaderOptions,
    on_bad_row: OnBadRow | None = None,
) -> Generator[Piece, None, None]:
    """Comma-separated (unless ``options.csv.delimiter`` says otherwise).

    Rows with the wrong number of fields fail the file, or go to ``on_bad_row`` when given.
    """
    return _read(fs, file, options, on_bad_row, default_delimiter=",")


def read_tsv(
    fs: AbstractFileSystem,
    file: FileInfo,
    options: ReaderOptions,
    on_bad_row: OnBadRow | None = None,
) -> Generator[Piece, None, None]:
    """Tab-separated (unless ``options.csv.delimiter`` says otherwise); bad rows as in csv."""
    return _read(fs, file, options, on_bad_row, default_delimiter="\t")


def _read(
    fs: AbstractFileSystem,
    file: FileInfo,
    options: ReaderOptions,
    on_bad_row: OnBadRow | None,
    *,
    default_delimiter: str,
) -> Generator[Piece, None, None]:
    csv = options.csv
    parse = pacsv.ParseOptions(
        delimiter=csv.delimiter or default_delimiter,
        quote_char=csv.quote_char if csv.quote_char else False,
        newlines_in_values=csv.newlines_in_values,
        invalid_row_handler=_BadRowReporter(on_bad_row) if on_bad_row else None,
    )
    # Arrow numbers the lines of invalid rows only when it parses on one thread; on 2-8 cores
    # its streaming reader is no slower that way.
    threads = on_bad_row is None

    def open_batches(
        block_size: int, schema: pa.Schema | None
    ) -> Generator[pa.RecordBatch, None, None]:
        read = _read_options(csv, block_size, threads)
        with open_decompressed(fs, file.path, file.key, options.compression) as source:
            position.follow(source.stored)
            try:
                reader = pacsv.open_csv(
                    source.stream,
                    read_options=read,
                    parse_options=parse,
                    convert_options=_convert_options(csv, schema),
                )
            except pa.ArrowInvalid as exc:
                if _EMPTY_MARKER not in str(exc):
                    raise
                if _has_content(fs, file, options):
                    # Arrow says "empty" when the first block holds no whole line.
                    raise pa.ArrowInvalid(
                        f"straddling object: the first row is longer than {block_size} bytes"
                    ) from exc
                yield _empty_batch(csv)
                return
            with reader:
                if schema is None and any(pa.types.is_null(t) for t in reader.schema.types):
                    strings = pa.schema(
                        [
                            f.with_type(pa.string()) if pa.types.is_null(f.type) else f
                            for f in reader.schema
                        ]
                    )
                    # Read again from the start with those columns as strings.
                    reader.close()
                    source.stream.close()
                    yield from open_batches(block_size, strings)
                    return
                empty = True
                for batch in reader:
                    empty = False
                    yield batch
                if empty:
                    # A header and no rows: the columns are still known.
                    yield pa.RecordBatch.from_pylist([], schema=reader.schema)

    position = StoredPosition()
    batches = read_with_growing_blocks(open_batches, arrow_block_size(options.chunk_size))
    yield from coalesce((Piece(b, read=position()) for b in batches), options.chunk_size)


class _BadRowReporter:
    """Arrow's invalid-row handler: reports the row and skips it.

    The file is read again from the start when a record outgrows the block or a column needs
    retyping; rows already reported (by line number, which grows) are not reported twice.
    """

    def __init__(self, on_bad_row: OnBadRow) -> None:
        self.on_bad_row = on_bad_row
        self.last_line = 0

    def __call__(self, row: pacsv.InvalidRow) -> Literal["skip"]:
        if row.number is not None:
            if row.number <= self.last_line:
                return "skip"
            self.last_line = row.number
        reason = f"expected {row.expected_columns} fields, got {row.actual_columns}"
        self.on_bad_row(BadRow(reason=reason, raw=row.text, line=row.number))
        return "skip"


def _read_options(csv: CsvOptions, block_size: int, threads: bool) -> pacsv.ReadOptions:
    names = list(csv.column_names) if csv.column_names else None
    return pacsv.ReadOptions(
        use_threads=threads,
        block_size=block_size,
        column_names=names,
        # Given names replace the header line, which is then skipped.
        skip_rows=1 if names and csv.header else 0,
        autogenerate_column_names=not csv.header and not names,
    )


def _convert_options(csv: CsvOptions, schema: pa.Schema | None) -> pacsv.ConvertOptions:
    kwargs: dict[str, object] = {}
    if schema is not None:
        kwargs["column_types"] = dict(zip(schema.names, schema.types, strict=True))
    if csv.null_values is not None:
        # Spelled-out null markers mean null in text columns too, not only in typed ones.
        kwargs["null_values"] = list(csv.null_values)
        kwargs["strings_can_be_null"] = True
    return pacsv.ConvertOptions(**kwargs)


def _empty_batch(csv: CsvOptions) -> pa.RecordBatch:
    """No rows; the given column names (as strings) when there are some, else no columns."""
    if not csv.column_names:
        return EMPTY_BATCH
    return pa.RecordBatch.from_pylist(
        [], schema=pa.schema([(n, pa.string()) for n in csv.column_names])
    )


def _has_content(fs: AbstractFileSystem, file: FileInfo, options: ReaderOptions) -> bool:
    """Whether the file holds anything but line breaks (read until the first such byte)."""
    with open_decompressed(fs, file.path, file.key, options.compression) as source:
        while block := source.stream.read(1 << 16):
            if block.strip(b"\r\n"):
                return True
    return False
