"""Text lines: one ``line`` string column, one row per line, a trailing "\\r" stripped.

Blocks of ``chunk_size`` bytes are cut after their last newline (so a multi-byte character is
never split) and split into lines by Arrow kernels. A line longer than a block is carried over
until its newline arrives, so memory is bounded by the block size plus the longest line.
"""

from __future__ import annotations

from collections.abc import Generator

import pyarrow as pa
import pyarrow.compute as pc
from fsspec import AbstractFileSystem

from replicator.model import FileInfo
from replicator.readers.base import ReaderOptions
from replicator.readers.chunking import Piece
from replicator.readers.compression import open_decompressed

LINE_COLUMN = "line"
SCHEMA = pa.schema([(LINE_COLUMN, pa.string())])
_INT32_MAX = 2**31 - 1


def read_lines(
    fs: AbstractFileSystem, file: FileInfo, options: ReaderOptions
) -> Generator[Piece, None, None]:
    """One piece per block; byte positions are known when the file is not compressed."""
    with open_decompressed(fs, file.path, file.key, options.compression) as source:
        stream = source.stream
        size = max(1, options.chunk_size)
        carried: list[bytes] = []  # the start of a line whose newline has not come yet
        position = 0  # bytes read so far
        produced = False
        block: bytes = stream.read(size)
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
            yield Piece(_batch(split_lines(data, end)), byte if source.codec is None else None)
            produced = True
            block = following
        if not produced:
            yield Piece(_batch(pa.array([], pa.string())), 0 if source.codec is None else None)


def split_lines(data: bytes, end: int) -> pa.StringArray:
    """The lines of ``data[:end]`` (split at "\\n", without it and a trailing "\\r"), as UTF-8."""
    large = end > _INT32_MAX
    offsets = pa.array([0, end], pa.int64() if large else pa.int32())
    whole = pa.Array.from_buffers(
        pa.large_binary() if large else pa.binary(),
        1,
        [None, offsets.buffers()[1], pa.py_buffer(data)],
    )
    pieces = pc.split_pattern(whole, b"\n").flatten()
    # The cast checks that the text is valid UTF-8 (a ReadError otherwise).
    lines: pa.StringArray = pieces.cast(pa.string())
    if b"\r" in data:
        lines = pc.replace_substring_regex(lines, r"\r\z", "")
    return lines


def _batch(lines: pa.StringArray) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([lines], schema=SCHEMA)
