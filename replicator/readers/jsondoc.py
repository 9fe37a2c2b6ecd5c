"""The json format: a file holding one JSON array of objects, JSON lines, or objects that span
lines (one pretty-printed object, or several one after another). Each object is a row.

``jsonsniff`` tells which from the first bytes. JSON lines are read by the jsonl readers as they
are. An array or a run of pretty-printed objects is turned into blocks of JSON lines by
``jsonsplit`` and parsed by the jsonl block parser, so types, nested columns and bad rows
behave as for JSON lines; memory is bounded by the chunk size plus the longest value, whatever
the size of the array. A value that is not an object is a bad row, located by its byte offset
and line in the decompressed text; its ``raw`` text has its line breaks made spaces.

A file that turns out to hold no rows because it is not what it claims (not JSON at all, a lone
number or string, an array none of whose values is an object) fails with the reason. An empty
file, one holding only whitespace, and ``[]`` hold no rows legitimately. Rows of an array cannot
be resumed at a byte position, so their pieces carry none.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from itertools import chain
from typing import BinaryIO

import pyarrow as pa
from fsspec import AbstractFileSystem

from replicator.errors import ReadError
from replicator.model import FileInfo
from replicator.readers.badrows import BadRow, OnBadRow
from replicator.readers.base import ReaderOptions
from replicator.readers.chunking import EMPTY_BATCH, Piece, StoredPosition
from replicator.readers.encoding import open_text
from replicator.readers.jsonblocks import JsonBlockParser
from replicator.readers.jsonl import read_jsonl
from replicator.readers.jsonsniff import Sniffed, sniff
from replicator.readers.jsonsplit import JsonSyntaxError, Lines, split_values
from replicator.readers.textblocks import TextBlock

_BROKEN = "not valid JSON: a line break inside a string"


def read_json(
    fs: AbstractFileSystem,
    file: FileInfo,
    options: ReaderOptions,
    on_bad_row: OnBadRow | None = None,
) -> Generator[Piece, None, None]:
    """One row per JSON object, wherever the file puts them.

    Bad rows go to ``on_bad_row``; without one, the first fails the file. Raises ``ReadError``
    when the file is not JSON (naming the byte offset where it stops being JSON), and when it
    held values but no row.
    """
    bad = _BadRows(file.key, on_bad_row, options.chunk_size)
    rows = 0
    try:
        for piece in _pieces(fs, file, options, bad):
            rows += piece.batch.num_rows
            bad.rows = rows
            yield piece
    except JsonSyntaxError as exc:
        raise ReadError(
            f"{file.key}: not valid JSON: at byte {exc.byte}: {exc} (after {rows} rows); "
            "check whether the file is truncated or corrupt",
            key=file.key,
            rows=rows,
        ) from exc
    if rows == 0 and bad.first is not None:
        first = bad.first
        raise ReadError(
            f"{file.key}: no rows: none of its {bad.count} values could be read as a row "
            f"({_where(first)}: {first.reason}); check that it holds JSON "
            "objects, or pass --format",
            key=file.key,
            rows=0,
        )


def _pieces(
    fs: AbstractFileSystem, file: FileInfo, options: ReaderOptions, bad: _BadRows
) -> Generator[Piece, None, None]:
    with open_text(fs, file.path, file.key, options.compression, options.encoding) as source:
        blocks = _blocks(source.stream, options.chunk_size)
        found = sniff(blocks)
        if found.kind in ("array", "objects"):
            kind, head, at = found
            del found  # the head is handed on: nothing else may hold it
            position = StoredPosition()
            position.follow(source.stored)
            rest = chain([head[at:]], blocks)
            del head
            values = split_values(rest, array=kind == "array", offset=at)
            yield from _parse(
                values, bad, position, text=not options.infer_types, schema=options.schema
            )
            return
    if found.kind == "lines":
        # Read as JSON lines, from the start again: only the first line was read.
        yield from read_jsonl(fs, file, options, None if bad.on_bad_row is None else bad.report)
    elif found.kind == "empty":
        yield Piece(EMPTY_BATCH)
    else:
        raise ReadError(_not_json(file.key, found), key=file.key, rows=0)


def _parse(
    values: Iterator[Lines],
    bad: _BadRows,
    position: StoredPosition,
    *,
    text: bool,
    schema: pa.Schema | None,
) -> Generator[Piece, None, None]:
    parser = JsonBlockParser(bad.report_line, offsets=False, text=text, schema=schema)
    produced = False
    for lines in values:
        bad.lines = lines
        for start, raw in lines.broken:
            bad.report(BadRow(_BROKEN, raw, line=lines.line_of(start), byte=start))
        if not lines.data:
            continue
        # Line numbers in the block stand for its values, in order (see _BadRows.report_line).
        tables = parser.parse_all(TextBlock(lines.data, 1, 0, len(lines.data)))
        for table in tables:
            for batch in table.combine_chunks().to_batches():
                yield Piece(batch, None, position())
                produced = True
    if not produced:
        yield Piece(EMPTY_BATCH, None, position())


class _BadRows:
    """A file's bad rows: counted, handed on, or failing the file when no one takes them."""

    def __init__(self, key: str, on_bad_row: OnBadRow | None, chunk_size: int) -> None:
        self.key = key
        self.on_bad_row = on_bad_row
        self.chunk_size = chunk_size
        self.count = 0
        self.first: BadRow | None = None
        self.rows = 0  # rows handed over so far, for the message of a failure
        self.lines: Lines | None = None  # the block being parsed

    def report(self, row: BadRow) -> None:
        self.count += 1
        if self.first is None:
            self.first = row
        if self.on_bad_row is None:
            hint = "fix the file"
            if row.reason.startswith("does not fit"):
                hint = (
                    f"column types are inferred from the first {self.chunk_size} bytes; raise "
                    "--chunk-size"
                )
            raise ReadError(
                f"{self.key}: cannot read as json: {_where(row)}: {row.reason} (after {self.rows} "
                f"rows); {hint}, or pass --on-bad-rows dead-letter to set such rows aside",
                key=self.key,
                rows=self.rows,
            )
        self.on_bad_row(row)

    def report_line(self, row: BadRow) -> None:
        """A bad row of a split block: its line number there is its value's index + 1."""
        assert self.lines is not None
        assert row.line is not None
        start = self.lines.starts[row.line - 1]
        self.report(BadRow(row.reason, row.raw, line=self.lines.line_of(start), byte=start))


def _blocks(stream: pa.NativeFile | BinaryIO, size: int) -> Iterator[bytes]:
    while block := stream.read(max(1, size)):
        yield block


def _not_json(key: str, found: Sniffed) -> str:
    line = found.head[found.at : found.at + 60].split(b"\n", 1)[0].decode("utf-8", "replace")
    return (
        f"{key}: not JSON objects: at byte {found.at}, where a JSON array ('[') or object ('{{') "
        f"should start, it holds {line!r}; pass --format with the format it is in"
    )


def _where(row: BadRow) -> str:
    return f"line {row.line}, byte {row.byte}"
