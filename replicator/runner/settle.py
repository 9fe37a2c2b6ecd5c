"""How a file ends, shared by the snapshot and watch runners: its record, or its error's kind.

Committing is always the same steps in the same order, which is the data-safety rule: the dead
letter and the output are made durable first (``runner.committer``), the checkpoint store hears
of the file last. A crash between them leaves the file unrecorded, so it is redone, never lost.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

from replicator.checkpoint.base import CheckpointStore, FileRecord, Status
from replicator.errors import ReplicatorError, StateConflict, StorageError
from replicator.model import FileInfo
from replicator.pusher.inflight import Cancelled
from replicator.storage import is_transient, redact

# A file read again this many times for schema changes is failed: each change widens the
# schema, so this many in a row for one file means something else is wrong.
MAX_REREADS = 20


class Reread(ReplicatorError):
    """The pipeline schema changed for this file: its partial output is dropped and it is read
    again from the start under the new version."""


class ErrorKind(enum.Enum):
    REDO = "redo"  # the schema changed: read the file again at once
    CANCELLED = "cancelled"  # stopped on purpose: redone next run
    VANISHED = "vanished"  # deleted at the source after it was found: nothing to replicate
    FATAL = "fatal"  # the destination or credentials refuse: every file would fail alike
    TRANSIENT = "transient"  # may pass: redo the file after a backoff
    FAILED = "failed"  # this file is bad: record it, go on with the others


def classify(error: BaseException) -> ErrorKind:
    if isinstance(error, Reread):
        return ErrorKind.REDO
    if isinstance(error, Cancelled):
        return ErrorKind.CANCELLED
    if isinstance(error, FileNotFoundError):
        return ErrorKind.VANISHED
    if isinstance(error, StorageError | StateConflict):
        return ErrorKind.FATAL
    if is_transient(error):
        return ErrorKind.TRANSIENT
    return ErrorKind.FAILED


@dataclass(frozen=True, slots=True)
class Settled:
    rows: int
    outputs: tuple[str, ...]
    bad_rows: int


def record_failure(file: FileInfo, store: CheckpointStore, error: BaseException) -> str:
    """Record ``file`` as failed; returns the reason, redacted, as stored."""
    reason = describe(error)
    store.record_failed(record_for(file, "failed", error=reason))
    return reason


def record_for(
    file: FileInfo,
    status: Status,
    *,
    rows: int = 0,
    outputs: tuple[str, ...] = (),
    error: str | None = None,
) -> FileRecord:
    return FileRecord(
        key=file.key,
        etag=file.etag,
        size=file.size,
        mtime=file.mtime,
        status=status,
        rows=rows,
        outputs=outputs,
        error=error,
        updated_at=time.time(),
    )


def describe(exc: BaseException) -> str:
    """One line for logs and the state store, with credentials and signed URLs redacted."""
    if isinstance(exc, ReplicatorError):
        return redact(str(exc))
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return redact(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)
