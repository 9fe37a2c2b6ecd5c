"""Counting a run's outcomes as they happen, into the ``RunSummary`` both runners return."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from replicator.model import FileInfo
from replicator.runner.events import RunSummary


class RunTally:
    """Thread-safe counters; memory does not grow with the number of files (failures aside).

    Failures are kept by key with each file's last outcome: a file that failed and later
    completed (a watch retries it at a later poll) is no longer a failure of the run.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._completed = self._vanished = self._unfinished = self._rereads = 0
        self._rows = self._bad_rows = self._bytes = 0
        self._failures: dict[str, str] = {}

    def completed(self, file: FileInfo, rows: int, bad_rows: int) -> None:
        with self._lock:
            self._completed += 1
            self._rows += rows
            self._bad_rows += bad_rows
            self._bytes += file.size
            self._failures.pop(file.key, None)

    def failed(self, file: FileInfo, reason: str) -> None:
        with self._lock:
            self._failures.pop(file.key, None)  # its latest reason goes last
            self._failures[file.key] = reason

    def vanished(self, file: FileInfo) -> None:
        with self._lock:
            self._vanished += 1
            self._failures.pop(file.key, None)

    def reread(self, count: int = 1) -> None:
        """A file was read again from its start because the schema changed."""
        with self._lock:
            self._rereads += count

    def unfinished(self) -> None:
        """A file stopped before its end (or never started): the run was interrupted."""
        with self._lock:
            self._unfinished += 1

    def summary(
        self,
        pipeline: str,
        seconds: float,
        *,
        skipped: int = 0,
        failed_before: Iterable[tuple[str, str]] = (),
        interrupted: bool = False,
        unknown_format: int = 0,
        too_new: int = 0,
        warnings: Iterable[str] = (),
        schema_changes: int = 0,
    ) -> RunSummary:
        before = tuple(failed_before)
        with self._lock:
            return RunSummary(
                pipeline=pipeline,
                files_completed=self._completed,
                files_skipped=skipped,
                files_failed=len(self._failures),
                files_failed_before=len(before),
                files_unknown_format=unknown_format,
                files_too_new=too_new,
                files_vanished=self._vanished,
                rows=self._rows,
                bad_rows=self._bad_rows,
                bytes=self._bytes,
                seconds=seconds,
                interrupted=interrupted or self._unfinished > 0,
                schema_changes=schema_changes,
                files_reread=self._rereads,
                failures=(*self._failures.items(), *before),
                warnings=tuple(warnings),
            )
