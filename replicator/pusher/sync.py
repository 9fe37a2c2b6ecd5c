"""The synchronous pusher used by snapshots: the sink has a chunk when ``push`` returns."""

from __future__ import annotations

from replicator.model import Chunk
from replicator.sinks.base import Sink


class SyncPusher:
    """Writes each chunk to the sink on the caller's thread.

    ``push`` blocks until the sink holds the chunk, and returns True on the file's last chunk:
    nothing of a file is ever in flight once ``push`` returns.
    """

    def __init__(self, sink: Sink) -> None:
        self._sink = sink

    def push(self, chunk: Chunk) -> bool:
        self._sink.write(chunk)
        return chunk.completed
