"""The sink contract."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

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

    def finish(self, file: FileInfo) -> Committed:
        """Complete the file's output after its last chunk, not yet necessarily durable or
        visible: ``publish`` makes it so. ``commit`` is ``finish`` then ``publish``."""

    def schema_changed(self, schema: pa.Schema, version: int) -> None:
        """The pipeline's output schema is now ``schema`` (version ``version``): rows of it
        follow. Called before the first chunk that has it; versions only grow."""

    def publish(self, files: Sequence[FileInfo]) -> list[BaseException | None]:
        """Make the finished outputs of ``files`` durable and visible, as one batch. Blocks.

        Per file: ``None`` once published, else the error that stopped it (that output is
        discarded). Never raises for one file's failure.
        """

    def abort(self, file: FileInfo) -> None:
        """Drop whatever was written for ``file`` and not committed. Never raises for a missing file."""

    def close(self) -> None:
        """Release resources. Uncommitted outputs are aborted."""
