"""JSON Lines that keeps going past bad lines: each one is reported, the good ones are kept.

Arrow's JSON parser rejects a whole block for one bad line, so the file is read in blocks of
whole lines (``text_blocks``) and each block is parsed by Arrow at once. Only when a block fails
is it taken apart: every line is checked with orjson (valid JSON? an object?), and the valid
objects are parsed again by Arrow, halving the run on failure until each line that does not fit
the file's columns stands alone. Rows keep their order; Python touches single lines only in
blocks that hold a bad one.

Column types come from the first block (like the streaming reader); later blocks are parsed with
those types, and a row that does not fit them (a new field, a number turned string) is a bad row.
"""

from __future__ import annotations

import re
from collections.abc import Generator

import orjson
import pyarrow as pa
import pyarrow.json as pajson
from fsspec import AbstractFileSystem

from replicator.model import FileInfo
from replicator.readers.badrows import BadRow, OnBadRow
from replicator.readers.base import ReaderOptions
from replicator.readers.chunking import EMPTY_BATCH, Piece
from replicator.readers.compression import open_decompressed
from replicator.readers.growth import is_straddle_error
from replicator.readers.textblocks import TextBlock, text_blocks

_EMPTY_MARKER = "Empty JSON"
_ROW_SUFFIX = re.compile(r" in row \d+$")
# Arrow parses a block in parallel pieces of this size; longer lines make it retry whole.
_PARSE_BLOCK = 1 << 20


def read_jsonl_tolerant(
    fs: AbstractFileSystem, file: FileInfo, options: ReaderOptions, on_bad_row: OnBadRow
) -> Generator[Piece, None, None]:
    """One piece per block of lines; bad lines go to ``on_bad_row`` instead of failing."""
    with open_decompressed(fs, file.path, file.key, options.compression) as source:
        parser = _BlockParser(on_bad_row)
        produced = False
        for block in text_blocks(source.stream, options.chunk_size):
            table = parser.parse(block)
            byte = block.end if source.codec is None else None
            if table is None:
                continue
            batches = table.combine_chunks().to_batches()
            for index, batch in enumerate(batches):
                # Only the block's last batch ends where the block ends.
                last = index == len(batches) - 1
                yield Piece(batch, byte if last else None, _tell(source.stored))
                produced = True
        if not produced:
            yield Piece(EMPTY_BATCH, 0 if source.codec is None else None)


class _BlockParser:
    """Parses blocks of one file, holding the column types found in its first rows."""

    def __init__(self, on_bad_row: OnBadRow) -> None:
        self.on_bad_row = on_bad_row
        self.schema: pa.Schema | None = None

    def parse(self, block: TextBlock) -> pa.Table | None:
        """The block's good rows (``None`` when it holds none)."""
        try:
            return self._arrow(block.data)
        except pa.ArrowInvalid as exc:
            if _EMPTY_MARKER in str(exc):
                return None
        tables: list[pa.Table] = []
        self._fit(self._valid_objects(block), tables)
        if not tables:
            return None
        return pa.concat_tables(tables)

    def _arrow(self, data: bytes) -> pa.Table:
        parse = pajson.ParseOptions(
            explicit_schema=self.schema,
            unexpected_field_behavior="infer" if self.schema is None else "error",
        )
        block_size = _PARSE_BLOCK
        while True:
            # One parse block gains nothing from Arrow's threads, only the handoff to them.
            read = pajson.ReadOptions(use_threads=len(data) > block_size, block_size=block_size)
            try:
                table = pajson.read_json(pa.BufferReader(data), read, parse)
                break
            except pa.ArrowInvalid as exc:
                if not is_straddle_error(exc) or block_size > len(data):
                    raise
                block_size = len(data) + 1
        if self.schema is None:
            self.schema = table.schema
        return table

    def _valid_objects(self, block: TextBlock) -> list[tuple[bytes, int, int]]:
        """(line, line number, byte offset) of the block's lines that are JSON objects."""
        good: list[tuple[bytes, int, int]] = []
        offset = block.start
        for number, line in enumerate(block.data.split(b"\n"), start=block.first_line):
            start, offset = offset, offset + len(line) + 1
            text = line[:-1] if line.endswith(b"\r") else line
            if not text.strip():
                continue  # blank lines are not rows, as in Arrow
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                self._bad(f"not valid JSON: {exc}", text, number, start)
                continue
            if not isinstance(value, dict):
                self._bad(f"not a JSON object but {_kind(value)}", text, number, start)
                continue
            good.append((text, number, start))
        return good

    def _fit(self, lines: list[tuple[bytes, int, int]], tables: list[pa.Table]) -> None:
        """Parse ``lines`` with the file's columns; halve on failure until each misfit is alone."""
        if not lines:
            return
        try:
            tables.append(self._arrow(b"\n".join(line for line, _, _ in lines)))
            return
        except pa.ArrowInvalid as exc:
            if len(lines) == 1:
                text, number, start = lines[0]
                # Arrow counts rows in what it was given: here always "row 0".
                reason = _ROW_SUFFIX.sub("", str(exc).strip().splitlines()[0][:300])
                self._bad(f"does not fit the file's columns: {reason}", text, number, start)
                return
        middle = len(lines) // 2
        self._fit(lines[:middle], tables)
        self._fit(lines[middle:], tables)

    def _bad(self, reason: str, text: bytes, line: int, byte: int) -> None:
        self.on_bad_row(BadRow(reason=reason, raw=text, line=line, byte=byte))


def _kind(value: object) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", int: "a number"}
    return "null" if value is None else kinds.get(type(value), "a number")


def _tell(stored: pa.NativeFile) -> int | None:
    try:
        return int(stored.tell())
    except (OSError, ValueError):
        return None
