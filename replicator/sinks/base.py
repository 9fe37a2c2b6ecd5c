"""The sink contract."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from replicator.model import Chunk, FileInfo


@dataclass(frozen=True, slots=True)
class Committed:
    """What a sink made durable for one source file."""

    outputs: tuple[str, ...]
    rows: int


class Sink(Protocol):
    """Receives chunks and makes each file's output durable on ``commit``.

    Thread-safety: chunks of different files may arrive from different threads at once; the
    chunks of one file arrive in order, from one thread at a time.
    """

    def write(self, chunk: Chunk) -> None:
        """Take a chunk. Blocks until the sink holds it; never reports a chunk it does not hold."""

    def commit(self, file: FileInfo) -> Committed:
        """Make the file's output durable and visible. Blocks until it is."""

    def abort(self, file: FileInfo) -> None:
        """Drop whatever was written for ``file`` and not committed. Never raises for a missing file."""

    def close(self) -> None:
        """Release resources. Uncommitted outputs are aborted."""
