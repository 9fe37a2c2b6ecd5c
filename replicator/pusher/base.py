"""The pusher contract: moves chunks to a sink and says when a file is done."""

from __future__ import annotations

from typing import Protocol

from replicator.model import Chunk


class Pusher(Protocol):
    def push(self, chunk: Chunk) -> bool:
        """Hand ``chunk`` to the sink. Returns True when its file is now done (last chunk acked)."""
