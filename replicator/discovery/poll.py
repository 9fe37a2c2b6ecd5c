"""Polling discovery: list the source every interval and hand out what is new or changed."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

from replicator.checkpoint.base import CheckpointStore
from replicator.checkpoint.ledger import Ledger
from replicator.discovery.filters import KeyFilter, too_new
from replicator.discovery.listing import Listing, list_source
from replicator.model import FileInfo
from replicator.storage import Location


class PollDiscovery:
    """One listing per ``poll()``; the interval doubles while nothing changes, up to a cap.

    A file is new when its key is unknown or its version (etag, else size+mtime) differs from
    the completed one; the ledger's watermark keeps the state bounded (see ``Ledger``). A file
    that failed is retried after a backoff that doubles with each attempt, capped at the
    longest poll interval.
    """

    def __init__(
        self,
        source: Location,
        key_filter: KeyFilter,
        store: CheckpointStore,
        *,
        interval: float,
        max_interval: float,
        overlap: float,
        clock: Callable[[], float] = time.time,
        readable: Callable[[str], bool] = lambda _key: True,
        min_age: float = 0.0,
        follow_symlinks: bool = True,
    ) -> None:
        """``readable`` says whether a key's format is known: other files are left out (and
        named once in ``unknown``). Files modified less than ``min_age`` seconds ago are
        left for a later poll (counted in ``too_new``)."""
        self.source = source
        self.key_filter = key_filter
        self.store = store
        self.readable = readable
        self.min_age = min_age
        self.follow_symlinks = follow_symlinks
        self.unknown: list[FileInfo] = []  # of unknown format, first seen in the last poll
        self.too_new = 0  # left by the last poll for the next one
        self.listing: Listing | None = None  # what the last poll listed
        self._unknown_seen: set[str] = set()
        self.ledger = Ledger(store, overlap)
        self.base_interval = interval
        self.max_interval = max(max_interval, interval)
        self.interval = interval
        self.clock = clock
        self.last_poll: float | None = None

    def poll(self, in_work: Collection[str]) -> list[FileInfo]:
        """List the source once and return the files to replicate now, oldest first. Blocks for
        the listing. ``in_work`` holds the keys already being replicated; they are not returned.
        """
        now = self.last_poll = self.clock()
        self.listing = list_source(
            self.source, self.key_filter, follow_symlinks=self.follow_symlinks
        )
        listed = self.listing.files
        # Files no reader knows are left out as if filtered: they never hold the watermark.
        files = [f for f in listed if self.readable(f.key)]
        self.unknown = [
            f for f in listed if f.key not in self._unknown_seen and not self.readable(f.key)
        ]
        self._unknown_seen.update(f.key for f in self.unknown)
        todo, _done = self.ledger.split(files)
        records = self.store.get_many([f.key for f in todo])
        ready: list[FileInfo] = []
        pinned: list[FileInfo] = []
        ripe_at: list[float] = []  # when the files left for being too new may be read
        for file in todo:
            record = records.get(file.key)
            failed = record is not None and record.status == "failed" and record.matches(file)
            if not failed:
                pinned.append(file)  # not done yet: holds the watermark back
            if file.key in in_work:
                continue
            if too_new(file.mtime, now, self.min_age):
                ripe_at.append((file.mtime or now) + self.min_age)
                continue
            if (
                failed
                and record is not None
                and not self._retry_due(record.updated_at, record.attempts)
            ):
                continue
            ready.append(file)
        self.ledger.advance(files, pinned)
        self.ledger.compact()
        self.interval = self.base_interval if ready else min(self.interval * 2, self.max_interval)
        self.too_new = len(ripe_at)
        if ripe_at:
            # Come back for them as soon as they are old enough, not after a backed-off wait.
            self.interval = min(self.interval, max(min(ripe_at) - now, 0.5))
        return sorted(ready, key=lambda f: (f.mtime or 0.0, f.key))

    def _retry_due(self, failed_at: float, attempts: int) -> bool:
        backoff = min(self.base_interval * 2.0 ** max(attempts - 1, 0), self.max_interval)
        return self.clock() - failed_at >= backoff
