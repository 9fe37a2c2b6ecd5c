"""Reading a text stream in blocks that end at a line break.

A block is cut after its last newline (so no line and no multi-byte character is split), and a
line longer than a block is carried over until its newline arrives: memory is bounded by the
block size plus the longest line. A UTF-8 byte-order mark is not part of the first line.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

import pyarrow as pa

from replicator.readers.encoding import bom_size


class TextBlock(NamedTuple):
    """Whole lines of the stream, the line number of the first (1-based) and where they lie."""

    data: bytes
    first_line: int
    start: int  # offset of data[0] in the stream
    end: int  # offset after the block (after its final newline)


def text_blocks(
    stream: pa.NativeFile | BinaryIO, size: int, *, utf8: bool = True
) -> Iterator[TextBlock]:
    """The stream's bytes in blocks of whole lines (the last may lack its newline).

    With ``utf8`` (text that was not decoded from another encoding), a byte-order mark at the
    start is left out (offsets still count it) and a UTF-16 one raises ``EncodingError``.
    """
    size = max(1, size)
    carried: list[bytes] = []
    start = 0  # offset of the next block's first byte
    line = 1
    block: bytes = stream.read(size)
    if utf8 and (start := bom_size(block)):
        block = block[start:]
    while block:
        following: bytes = stream.read(size)
        cut = block.rfind(b"\n") + 1 if following else len(block)
        if cut == 0:
            carried.append(block)
            block = following
            continue
        data = b"".join([*carried, block[:cut]]) if carried else block[:cut]
        carried = [block[cut:]] if cut < len(block) else []
        yield TextBlock(data, line, start, start + len(data))
        if following:  # only a later block needs the count (most files are one block)
            line += data.count(b"\n")
        start += len(data)
        block = following
