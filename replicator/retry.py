"""Redoing a whole file after a transient failure: how often, and how long to wait between.

Single requests are retried below us, by botocore and s3fs (see ``replicator.storage``); this
is the last layer, for a reader or sink that failed part way through a file after those gave
up. Redoing a file from the start is safe because the sink's outputs are idempotent.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with full jitter, for ``attempts`` tries in all."""

    attempts: int = 3
    base: float = 1.0
    cap: float = 30.0

    def delay(self, failures: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after the ``failures``-th failure (1-based): uniform in
        ``[0, min(cap, base * 2 ** (failures - 1))]``, so many workers do not retry in step."""
        exponent = min(max(0, failures - 1), 60)  # 2.0 ** large overflows; the cap rules anyway
        return rand() * min(self.cap, self.base * 2.0**exponent)

    def retry_after(self, failures: int) -> bool:
        """Whether another try is allowed after ``failures`` failures."""
        return failures < self.attempts


FILE_RETRIES = Backoff()

__all__ = ["FILE_RETRIES", "Backoff"]
