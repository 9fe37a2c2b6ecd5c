"""Replicating one file: read it, push its chunks, commit the output, then record it as done."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

from replicator.checkpoint.base import CheckpointStore, FileRecord
from replicator.deadletter import DeadLetter
from replicator.errors import ReplicatorError, StorageError
from replicator.model import FileInfo
from replicator.pusher.sync import SyncPusher
from replicator.readers import read_file
from replicator.retry import FILE_RETRIES
from replicator.runner.events import (
    ChunkWritten,
    EventHandler,
    FileCompleted,
    FileFailed,
    FileStarted,
    FileVanished,
    Notice,
)
from replicator.runner.pipeline import Pipeline
from replicator.runner.stop import StopToken
from replicator.sinks.base import Sink
from replicator.storage import is_transient, redact

# Without a dead letter, a bad row fails its file.
_STRICT = DeadLetter("fail")


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
    bad_rows: int = 0


def replicate_file(
    pipeline: Pipeline,
    file: FileInfo,
    sink: Sink,
    store: CheckpointStore,
    events: EventHandler,
    stop: StopToken,
    dead_letter: DeadLetter | None = None,
) -> FileResult:
    """Replicate ``file`` synchronously. Blocks until it is committed, failed or aborted.

    The checkpoint store hears of the file only after ``sink.commit`` returned: a crash at any
    point before leaves it unrecorded, so the next run redoes it (the sink's outputs are
    deterministic, so redoing overwrites instead of duplicating). Bad rows go to
    ``dead_letter`` by its policy (without one, a bad row fails the file); its object for this
    file is published just before the file's output.
    """
    if stop.draining:
        return FileResult(file, Outcome.NOT_STARTED)
    started = time.monotonic()
    events(FileStarted(file))
    failures = 0
    while True:
        try:
            return _replicate_once(
                pipeline, file, sink, store, events, stop, started, dead_letter or _STRICT
            )
        except _Retry as retry:
            failures += 1
            if not FILE_RETRIES.retry_after(failures):
                return _failed(file, store, events, retry.error)
            delay = FILE_RETRIES.delay(failures)
            events(
                Notice(
                    "warning",
                    f"{file.key}: {describe(retry.error)}; redoing the file in {delay:.1f} s "
                    f"(try {failures + 1} of {FILE_RETRIES.attempts})",
                )
            )
            if stop.wait(delay):
                return FileResult(file, Outcome.NOT_STARTED)


class _Retry(Exception):
    """One try at a file failed transiently; its partial output was discarded."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def _replicate_once(
    pipeline: Pipeline,
    file: FileInfo,
    sink: Sink,
    store: CheckpointStore,
    events: EventHandler,
    stop: StopToken,
    started: float,
    letters: DeadLetter,
) -> FileResult:
    pusher = SyncPusher(sink)
    finished = False
    on_bad_row = letters.open(file)
    try:
        for chunk in read_file(pipeline.source.fs, file, pipeline.reader_options, on_bad_row):
            if stop.aborting:
                sink.abort(file)
                letters.abort(file)
                return FileResult(file, Outcome.ABORTED)
            finished = pusher.push(chunk)
            letters.flush(file)
            events(ChunkWritten(file, chunk.rows, chunk.size, chunk.offset.byte))
        if not finished:
            raise ReplicatorError(f"the reader of {file.key} ended without a last chunk")
        lettered = letters.commit(file)
        committed = sink.commit(file)
    except FileNotFoundError:
        sink.abort(file)
        letters.abort(file)
        events(FileVanished(file))
        return FileResult(file, Outcome.VANISHED)
    except StorageError:
        # The destination or credentials are wrong: every other file would fail the same way.
        sink.abort(file)
        letters.abort(file)
        raise
    except Exception as exc:  # one bad file must not stop the others
        sink.abort(file)
        letters.abort(file)
        if is_transient(exc):
            raise _Retry(exc) from exc
        return _failed(file, store, events, exc)
    outputs = committed.outputs + lettered.outputs
    store.record_completed([record_for(file, "completed", rows=committed.rows, outputs=outputs)])
    seconds = time.monotonic() - started
    events(FileCompleted(file, committed.rows, outputs, seconds, bad_rows=lettered.count))
    return FileResult(file, Outcome.COMPLETED, rows=committed.rows, bad_rows=lettered.count)


def _failed(
    file: FileInfo, store: CheckpointStore, events: EventHandler, exc: BaseException
) -> FileResult:
    reason = describe(exc)
    store.record_failed(record_for(file, "failed", error=reason))
    events(FileFailed(file, reason))
    return FileResult(file, Outcome.FAILED, error=reason)


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
    """One line for logs and the state store, with credentials and signed URLs redacted."""
    if isinstance(exc, ReplicatorError):
        return redact(str(exc))
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return redact(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)
