"""From a format's batches to the ``Chunk``s of the reader contract.

Each format yields ``Piece``s (a batch, and the stored byte position after it when known). This
module numbers the rows, appends the system columns, marks the last chunk ``completed`` (by
holding one piece back), and turns parse errors into ``ReadError`` after handing over the rows
read before the error.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Generator, Iterator
from typing import NamedTuple

import pyarrow as pa

from replicator.model import Chunk, FileInfo, Offset
from replicator.readers.base import ReaderOptions
from replicator.readers.columns import add_system_columns
from replicator.readers.failures import as_read_error, is_read_error
from replicator.schema.conform import ColumnDrift, Conformer, Misfit

# An empty file has no columns: its only chunk holds no rows and, if on, the system columns.
EMPTY_BATCH = pa.RecordBatch.from_arrays([], names=[])


class Piece(NamedTuple):
    """A batch of rows in file order, and the byte position in the stored stream after it.

    ``read`` is how far the reader has read the stored object by then, for progress.
    """

    batch: pa.RecordBatch
    byte: int | None = None
    read: int | None = None
    # Values the reader could not convert to their column's type; their slots are null.
    misfits: tuple[Misfit, ...] = ()


class StoredPosition:
    """How far a format has read into the stored object. Probed after each batch."""

    def __init__(self) -> None:
        self._stream: pa.NativeFile | None = None

    def follow(self, stream: pa.NativeFile) -> None:
        self._stream = stream

    def __call__(self) -> int | None:
        if self._stream is None or self._stream.closed:
            return None
        try:
            return int(self._stream.tell())
        except (OSError, ValueError):
            return None


Pieces = Generator[Piece, None, None]


def coalesce(pieces: Pieces, target: int) -> Pieces:
    """Join consecutive pieces into pieces of about ``target`` bytes.

    A parse error still comes after the rows read before it: they are yielded first.
    """
    held: list[Piece] = []
    size = 0

    def joined() -> Piece:
        last = held[-1]
        if len(held) == 1:
            return last
        batch = pa.concat_batches([p.batch for p in held])
        misfits: list[Misfit] = []
        rows = 0
        for piece in held:  # rows renumbered in the joined batch
            misfits += [dataclasses.replace(m, row=m.row + rows) for m in piece.misfits]
            rows += piece.batch.num_rows
        return Piece(batch, last.byte, last.read, tuple(misfits))

    with contextlib.closing(pieces):
        while True:
            try:
                piece = next(pieces, None)
            except Exception:
                if held:
                    yield joined()
                raise
            if piece is None:
                break
            if held and piece.batch.schema != held[0].batch.schema:
                yield joined()
                held, size = [], 0
            held.append(piece)
            size += piece.batch.nbytes
            if size >= target:
                yield joined()
                held, size = [], 0
    if held:
        yield joined()


def conformed(pieces: Pieces, conformer: Conformer) -> Pieces:
    """The pieces with their batches conformed to the pipeline schema (``schema.conform``);
    raises its ``Evolve`` when the schema must change first."""
    with contextlib.closing(pieces):
        while True:
            try:
                piece = next(pieces, None)
            except ColumnDrift as drift:
                raise conformer.drifted(drift) from None
            if piece is None:
                return
            yield Piece(conformer.conform(piece.batch, piece.misfits), piece.byte, piece.read)


def to_chunks(
    file: FileInfo, pieces: Pieces, *, fmt: str, options: ReaderOptions, system_columns: bool
) -> Iterator[Chunk]:
    """The chunks of ``file``; the last one has ``completed=True`` and may hold no rows."""
    rows = 0

    def chunk(piece: Piece, completed: bool) -> Chunk:
        nonlocal rows
        batch = piece.batch
        if system_columns:
            batch = add_system_columns(batch, file.key, rows)
        rows += piece.batch.num_rows
        return Chunk(
            file=file,
            offset=Offset(rows, piece.byte),
            items=batch,
            completed=completed,
            read_bytes=piece.byte if piece.read is None else piece.read,
        )

    pending: Piece | None = None
    with contextlib.closing(pieces):
        while True:
            try:
                piece = next(pieces, None)
            except Exception as exc:
                if not is_read_error(exc):
                    raise
                if pending is not None and pending.batch.num_rows:
                    # The rows before the bad one are good: hand them over, then fail.
                    yield chunk(pending, completed=False)
                failure = as_read_error(
                    exc, key=file.key, fmt=fmt, rows=rows, chunk_size=options.chunk_size
                )
                if failure is exc:
                    raise
                raise failure from exc
            if piece is None:
                break
            if pending is None or (pending.batch.num_rows == 0 and piece.batch.num_rows):
                pending = piece
            elif piece.batch.num_rows == 0:
                # Nothing to send, but the position moved on.
                pending = Piece(pending.batch, piece.byte, piece.read)
            else:
                yield chunk(pending, completed=False)
                pending = piece
    yield chunk(pending or Piece(EMPTY_BATCH), completed=True)
