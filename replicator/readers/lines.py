"""Text lines: one ``line`` string column, one row per line, a trailing "\\r" stripped.

Blocks of ``chunk_size`` bytes are cut after their last newline (so a multi-byte character is
never split) and split into lines by Arrow kernels. A line longer than a block is carried over
until its newline arrives, so memory is bounded by the block size plus the longest line.

A line that is not valid UTF-8 is a bad row (its bytes kept exactly, with its line number and
byte offset in the decompressed text); only a block holding one pays for finding it. A UTF-8
byte-order mark at the start is not part of the first line; a file in another encoding
(``--encoding``) is decoded to UTF-8 as it is read.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
from fsspec import AbstractFileSystem

from replicator.errors import ReadError
from replicator.model import FileInfo
from replicator.readers.badrows import BadRow, OnBadRow
from replicator.readers.base import ReaderOptions
from replicator.readers.chunking import Piece
from replicator.readers.columns import row_numbers
from replicator.readers.encoding import bom_size, open_text
from replicator.readers.isolate import isolate

LINE_COLUMN = "line"
SCHEMA = pa.schema([(LINE_COLUMN, pa.string())])
_INT32_MAX = 2**31 - 1


def read_lines(
    fs: AbstractFileSystem,
    file: FileInfo,
    options: ReaderOptions,
    on_bad_row: OnBadRow | None = None,
) -> Generator[Piece, None, None]:
    """One piece per block; byte positions are known when the file is not compressed.

    A line that is not valid UTF-8 goes to ``on_bad_row`` (its bytes kept as they are) or,
    without one, fails the file naming its line number.
    """
    with open_text(fs, file.path, file.key, options.compression, options.encoding) as source:
        stream = source.stream
        size = max(1, options.chunk_size)
        carried: list[bytes] = []  # the start of a line whose newline has not come yet
        position = 0  # bytes read so far
        lines = 0  # lines read so far, good and bad
        produced = False
        block: bytes = stream.read(size)
        if not source.transcoded and (position := bom_size(block)):
            block = block[position:]
        while block:
            # Reading one block ahead tells whether this one is the last (and then its unended
            # last line belongs to it).
            following: bytes = stream.read(size)
            position += len(block)
            cut = block.rfind(b"\n") if following else len(block)
            if cut < 0:
                carried.append(block)
                block = following
                continue
            data = b"".join([*carried, block]) if carried else block
            end = len(data) - len(block) + cut
            if not following and data.endswith(b"\n"):
                end -= 1  # the final newline ends the last line; no empty line follows it
            carried = [block[cut + 1 :]] if cut + 1 < len(block) else []
            byte = position - (len(block) - cut - 1) if following else position
            pieces = split_lines(data, end)
            start = None if source.transcoded else position - len(data)
            place = _Place(file.key, lines, start)
            text = _text(pieces, place, on_bad_row, returns=b"\r" in data)
            lines += len(pieces)
            yield Piece(_batch(text), byte if source.positions_known else None)
            produced = True
            block = following
        if not produced:
            yield Piece(_batch(pa.array([], pa.string())), 0 if source.positions_known else None)


def split_lines(data: bytes, end: int) -> pa.Array:
    """The lines of ``data[:end]`` (split at "\\n", without it), as bytes."""
    large = end > _INT32_MAX
    offsets = pa.array([0, end], pa.int64() if large else pa.int32())
    whole = pa.Array.from_buffers(
        pa.large_binary() if large else pa.binary(),
        1,
        [None, offsets.buffers()[1], pa.py_buffer(data)],
    )
    pieces: pa.Array = pc.split_pattern(whole, b"\n").flatten()
    return pieces


class _Place(NamedTuple):
    """Where a block's lines are: the file, lines before them, their first byte."""

    key: str
    lines_before: int
    start: int | None  # None: text decoded from another encoding, whose offsets differ


def _text(
    pieces: pa.Array, place: _Place, on_bad_row: OnBadRow | None, *, returns: bool
) -> pa.StringArray:
    """The lines as UTF-8 text, without a trailing "\\r" (when ``returns``: the block has some).

    Lines that are not UTF-8 are reported and left out.
    """
    try:
        # The cast checks that the text is valid UTF-8.
        lines: pa.Array = pieces.cast(pa.string())
    except pa.ArrowInvalid:
        # Only a block holding such lines pays for finding them.
        lines, bad = isolate(pieces, lambda values: values.cast(pa.string()), pa.string())
        _report(pieces, bad, place, on_bad_row)
        keep = pc.invert(pc.is_in(row_numbers(0, len(pieces)), value_set=pa.array(bad)))
        lines = lines.filter(keep)
    if returns:
        lines = pc.replace_substring_regex(lines, r"\r\z", "")
    result: pa.StringArray = lines
    return result


def _report(pieces: pa.Array, bad: list[int], place: _Place, on_bad_row: OnBadRow | None) -> None:
    # Where each line ends, its newline included (the lines before a bad one give its start).
    ends = pc.cumulative_sum(pc.add(pc.binary_length(pieces), 1))
    for index in bad:
        line = place.lines_before + index + 1
        if on_bad_row is None:
            raise ReadError(
                f"{place.key}: cannot read as lines: line {line} is not valid UTF-8; pass "
                "--on-bad-rows dead-letter to set such lines aside, or read the file with "
                "--format raw to copy its bytes as they are",
                key=place.key,
                rows=place.lines_before,
            )
        raw: bytes = pieces[index].as_py()
        byte = None
        if place.start is not None:
            byte = place.start + (ends[index - 1].as_py() if index else 0)
        text = raw[:-1] if raw.endswith(b"\r") else raw
        on_bad_row(BadRow(reason="not valid UTF-8", raw=text, line=line, byte=byte))


def _batch(lines: pa.StringArray) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([lines], schema=SCHEMA)
