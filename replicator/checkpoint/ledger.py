"""Which listed files are already done, with state that stays bounded on growing buckets.

The rule (used by snapshot and both watch modes alike):

* The store keeps a watermark ``W`` per pipeline: a modification time below which every file
  is known to be done. A file whose mtime is older than ``W - overlap`` counts as done without a
  record, unless it has a *failed* record (failures are never compacted and are retried).
* Files inside the window (mtime >= ``W - overlap``), and files without an mtime, are done only
  when a completed record matches their version (key and etag, or size+mtime).
* After a discovery pass, ``W`` advances to the oldest mtime among the listed files that are not
  done yet (in work, pending or failed ones excepted), or to the newest mtime listed when all
  are done. It never moves back.
* ``compact()`` drops completed records older than ``W - overlap``: the watermark vouches for
  them. The ledger then holds the files of the overlap window plus the failures.

The overlap window absorbs listings that show an object late (S3 gives a multipart upload the
LastModified of its start, so a large file can appear after newer ones). A file that arrives
with an mtime older than the window is missed: choose the window longer than your longest upload.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from replicator.checkpoint.base import CheckpointStore
from replicator.model import FileInfo

WATERMARK = "ledger.watermark"
DEFAULT_OVERLAP = 3600.0
_LOOKUP_BATCH = 500


class Ledger:
    """Applies the watermark rule over a checkpoint store. Not thread-safe; one per discovery."""

    def __init__(self, store: CheckpointStore, overlap: float = DEFAULT_OVERLAP) -> None:
        self.store = store
        self.overlap = overlap
        value = store.get_value(WATERMARK)
        self.watermark: float | None = float(value) if value is not None else None

    @property
    def horizon(self) -> float | None:
        """Files modified before this time are done unless they failed."""
        return None if self.watermark is None else self.watermark - self.overlap

    def split(
        self, files: Sequence[FileInfo], *, full_refresh: bool = False
    ) -> tuple[list[FileInfo], list[FileInfo]]:
        """(to do, already done) of ``files``, keeping their order."""
        if full_refresh:
            return list(files), []
        horizon = self.horizon
        failed = {r.key for r in self.store.list("failed")}
        todo: list[FileInfo] = []
        done: list[FileInfo] = []
        recent: list[FileInfo] = []
        for file in files:
            old = horizon is not None and file.mtime is not None and file.mtime < horizon
            if old and file.key not in failed:
                done.append(file)
            else:
                recent.append(file)
        for start in range(0, len(recent), _LOOKUP_BATCH):
            batch = recent[start : start + _LOOKUP_BATCH]
            records = self.store.get_many([f.key for f in batch])
            for file in batch:
                record = records.get(file.key)
                if record is not None and record.status == "completed" and record.matches(file):
                    done.append(file)
                else:
                    todo.append(file)
        return todo, done

    def advance(self, listed: Iterable[FileInfo], not_done: Iterable[FileInfo]) -> float | None:
        """Move the watermark after a pass: to the oldest not-done mtime, else the newest listed."""
        pinned = [f.mtime for f in not_done if f.mtime is not None]
        seen = [f.mtime for f in listed if f.mtime is not None]
        if pinned:
            candidate = min(pinned)
        elif seen:
            candidate = max(seen)
        else:
            return self.watermark
        if self.watermark is None or candidate > self.watermark:
            self.watermark = candidate
            self.store.set_value(WATERMARK, repr(candidate))
        return self.watermark

    def compact(self) -> int:
        """Drop completed records the watermark vouches for. Returns how many were dropped."""
        horizon = self.horizon
        if horizon is None:
            return 0
        return self.store.compact_completed(before_mtime=horizon)
