"""Reading past records longer than the block size.

Arrow's streaming CSV and JSON readers need every record to fit in one block and otherwise fail
with "straddling object straddles two block boundaries". When that happens the file is read
again with twice the block size, skipping the rows already produced (so no row comes out twice),
and with the column types found the first time (so every batch of a file has one schema).
Memory stays bounded by the longest record; the re-read costs time only on such files.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterator

import pyarrow as pa

# Arrow block sizes are int32; past this a "record" is more likely an unclosed quote.
MAX_BLOCK_SIZE = 1 << 30

# Arrow's streaming CSV and JSON readers parse up to 32 blocks ahead of the consumer, so their
# block size, times 32, is memory per file. Blocks this small parse as fast; ``to_chunks`` joins
# their batches back into chunks of the size asked for.
ARROW_BLOCK_SIZE = 1 << 20


def arrow_block_size(chunk_size: int) -> int:
    return max(1, min(chunk_size, ARROW_BLOCK_SIZE))


# Opens the file afresh and yields its batches; ``schema`` (when given) fixes the column types.
OpenBatches = Callable[[int, pa.Schema | None], Generator[pa.RecordBatch, None, None]]


def is_straddle_error(exc: BaseException) -> bool:
    return isinstance(exc, pa.ArrowInvalid) and "straddl" in str(exc)


def read_with_growing_blocks(
    open_batches: OpenBatches, block_size: int, *, skip: int = 0
) -> Iterator[pa.RecordBatch]:
    """The batches of ``open_batches``, re-reading with larger blocks when a record straddles.

    The first ``skip`` rows are left out (they were produced by an earlier reading).
    """
    block_size = max(1, min(block_size, MAX_BLOCK_SIZE))
    done = skip  # rows produced so far, across attempts
    schema: pa.Schema | None = None
    while True:
        seen = 0  # rows seen in this attempt
        try:
            with contextlib.closing(open_batches(block_size, schema)) as batches:
                for batch in batches:
                    if schema is None:
                        schema = batch.schema
                    count = batch.num_rows
                    skip = min(count, done - seen)  # rows an earlier attempt already produced
                    seen += count
                    if count and skip == count:
                        continue
                    done = max(done, seen)
                    yield batch.slice(skip) if skip else batch
            return
        except pa.ArrowInvalid as exc:
            if not is_straddle_error(exc) or block_size >= MAX_BLOCK_SIZE:
                raise
            block_size = min(block_size * 2, MAX_BLOCK_SIZE)
