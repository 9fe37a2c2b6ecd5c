"""Replicating one file: read it, push its chunks, commit the output, then record it as done."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

from replicator.checkpoint.base import CheckpointStore, FileRecord
from replicator.errors import ReplicatorError, StorageError
from replicator.model import FileInfo
from replicator.pusher.sync import SyncPusher
from replicator.readers import read_file
from replicator.runner.events import (
    ChunkWritten,
    EventHandler,
    FileCompleted,
    FileFailed,
    FileStarted,
    FileVanished,
)
from replicator.runner.pipeline import Pipeline
from replicator.runner.stop import StopToken
from replicator.sinks.base import Sink


class Outcome(enum.Enum):
    COMPLETED = "completed"
    FAILED = "failed"
    VANISHED = "vanished"
    ABORTED = "aborted"
    NOT_STARTED = "not started"


@dataclass(frozen=True)
class FileResult:
    file: FileInfo
    outcome: Outcome
    rows: int = 0
    error: str | None = None


def replicate_file(
    pipeline: Pipeline,
    file: FileInfo,
    sink: Sink,
    store: CheckpointStore,
    events: EventHandler,
    stop: StopToken,
) -> FileResult:
    """Replicate ``file`` synchronously. Blocks until it is committed, failed or aborted.

    The checkpoint store hears of the file only after ``sink.commit`` returned: a crash at any
    point before leaves it unrecorded, so the next run redoes it (the sink's outputs are
    deterministic, so redoing overwrites instead of duplicating).
    """
    if stop.draining:
        return FileResult(file, Outcome.NOT_STARTED)
    started = time.monotonic()
    events(FileStarted(file))
    pusher = SyncPusher(sink)
    finished = False
    try:
        for chunk in read_file(pipeline.source.fs, file, pipeline.reader_options):
            if stop.aborting:
                sink.abort(file)
                return FileResult(file, Outcome.ABORTED)
            finished = pusher.push(chunk)
            events(ChunkWritten(file, chunk.rows, chunk.size, chunk.offset.byte))
        if not finished:
            raise ReplicatorError(f"the reader of {file.key} ended without a last chunk")
        committed = sink.commit(file)
    except FileNotFoundError:
        sink.abort(file)
        events(FileVanished(file))
        return FileResult(file, Outcome.VANISHED)
    except StorageError:
        # The destination or credentials are wrong: every other file would fail the same way.
        sink.abort(file)
        raise
    except Exception as exc:  # one bad file must not stop the others
        sink.abort(file)
        reason = describe(exc)
        store.record_failed(record_for(file, "failed", error=reason))
        events(FileFailed(file, reason))
        return FileResult(file, Outcome.FAILED, error=reason)
    store.record_completed(
        [record_for(file, "completed", rows=committed.rows, outputs=committed.outputs)]
    )
    events(FileCompleted(file, committed.rows, committed.outputs, time.monotonic() - started))
    return FileResult(file, Outcome.COMPLETED, rows=committed.rows)


def record_for(
    file: FileInfo,
    status: str,
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
        status=status,  # type: ignore[arg-type]
        rows=rows,
        outputs=outputs,
        error=error,
        updated_at=time.time(),
    )


def describe(exc: BaseException) -> str:
    if isinstance(exc, ReplicatorError):
        return str(exc)
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
