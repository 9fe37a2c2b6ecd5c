"""Replicating one file: read it, push its chunks, finish its output, hand it to the committer."""

from __future__ import annotations

import dataclasses
import enum
import time
from dataclasses import dataclass

from replicator.checkpoint.base import CheckpointStore
from replicator.deadletter import DeadLetter
from replicator.errors import ReadError, ReplicatorError
from replicator.model import FileInfo
from replicator.pusher.sync import SyncPusher
from replicator.readers import read_file
from replicator.retry import FILE_RETRIES
from replicator.runner.committer import Committer, Handoff
from replicator.runner.events import (
    ChunkWritten,
    EventHandler,
    FileFailed,
    FileFinished,
    FileRestarted,
    FileStarted,
    FileVanished,
    Notice,
)
from replicator.runner.pipeline import Pipeline
from replicator.runner.schemas import file_options
from replicator.runner.settle import (
    MAX_REREADS,
    ErrorKind,
    Reread,
    classify,
    describe,
    record_failure,
    record_for,
)
from replicator.runner.stop import StopToken
from replicator.schema.conform import Evolve
from replicator.schema.stage import SchemaStage
from replicator.sinks.base import Sink

# Without a dead letter, a bad row fails its file.
_STRICT = DeadLetter("fail")


class Outcome(enum.Enum):
    FAILED = "failed"
    VANISHED = "vanished"
    ABORTED = "aborted"
    NOT_STARTED = "not started"
    HANDED_OFF = "handed off"  # finished and handed to the committer, which settles it later


@dataclass(frozen=True)
class FileResult:
    file: FileInfo
    outcome: Outcome
    error: str | None = None
    rereads: int = 0  # times it was read again because the schema changed


def replicate_file(
    pipeline: Pipeline,
    file: FileInfo,
    sink: Sink,
    store: CheckpointStore,
    events: EventHandler,
    stop: StopToken,
    committer: Committer,
    dead_letter: DeadLetter | None = None,
    stage: SchemaStage | None = None,
) -> FileResult:
    """Read ``file`` and write its chunks, then finish its output and hand it to ``committer``
    (``HANDED_OFF``), which makes it durable, records it and reports how it settled. Blocks
    until handed over, failed or aborted.

    The checkpoint store hears of the file only after its output is durable: a crash at any
    point before leaves it unrecorded, so the next run redoes it (the sink's outputs are
    deterministic, so redoing overwrites instead of duplicating). Bad rows go to
    ``dead_letter`` by its policy (without one, a bad row fails the file); its object for this
    file is published before the file is handed over. With ``stage``, rows are conformed to
    the pipeline schema; a file that needs it to change changes it and is read again.
    """
    if stop.draining:
        return FileResult(file, Outcome.NOT_STARTED)
    started = time.monotonic()
    events(FileStarted(file))
    # Visible to `replicate state list --in-progress`; a crash leaves it so, and a rerun redoes it.
    store.record_started(record_for(file, "in_progress"))
    failures = rereads = 0
    while True:
        try:
            result = _replicate_once(
                pipeline,
                file,
                sink,
                store,
                events,
                stop,
                started,
                dead_letter or _STRICT,
                committer,
                stage,
            )
            return dataclasses.replace(result, rereads=rereads)
        except Reread as reread:
            rereads += 1
            if rereads > MAX_REREADS:
                failure = ReadError(
                    f"{file.key}: read again {MAX_REREADS} times for schema changes; declare "
                    "its columns with --schema-hints",
                    key=file.key,
                )
                return dataclasses.replace(_failed(file, store, events, failure), rereads=rereads)
            events(FileRestarted(file, str(reread)))
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
    committer: Committer,
    stage: SchemaStage | None,
) -> FileResult:
    pusher = SyncPusher(sink)
    finished = False
    on_bad_row = letters.open(file)
    conformer = stage.conformer(file.key) if stage is not None else None
    options = file_options(pipeline.reader_options, conformer.target if conformer else None)
    try:
        for chunk in read_file(pipeline.source.fs, file, options, on_bad_row, conformer):
            # A stop leaves a file in the middle for the next run (it is redone whole), so the
            # first Ctrl-C is prompt even on a file of many gigabytes.
            if stop.draining:
                sink.abort(file)
                letters.abort(file)
                return FileResult(file, Outcome.ABORTED)
            finished = pusher.push(chunk)
            letters.flush(file)
            events(ChunkWritten(file, chunk.rows, chunk.size, chunk.read_bytes))
        if not finished:
            raise ReplicatorError(f"the reader of {file.key} ended without a last chunk")
        # The dead letter is published first; the output is finished here, where the CPU work
        # of encoding it is spread over the reading threads.
        lettered = letters.commit(file)
        if committer.submit(Handoff(file, sink.finish(file), lettered, started)):
            events(FileFinished(file))
            return FileResult(file, Outcome.HANDED_OFF)
        sink.abort(file)  # the run is being stopped: left for the next one
        return FileResult(file, Outcome.ABORTED)
    except Evolve as evolve:
        sink.abort(file)
        letters.abort(file)
        assert stage is not None, "only a conformer asks the schema to change"
        target = stage.evolve(evolve.changes, file.key)
        raise Reread(f"schema version {target.version}: {evolve}") from None
    except Exception as exc:  # one bad file must not stop the others
        sink.abort(file)
        letters.abort(file)
        kind = classify(exc)
        if kind is ErrorKind.VANISHED:
            events(FileVanished(file))
            return FileResult(file, Outcome.VANISHED)
        if kind is ErrorKind.FATAL:
            raise
        if kind is ErrorKind.TRANSIENT:
            raise _Retry(exc) from exc
        return _failed(file, store, events, exc)


def _failed(
    file: FileInfo, store: CheckpointStore, events: EventHandler, exc: BaseException
) -> FileResult:
    reason = record_failure(file, store, exc)
    events(FileFailed(file, reason, kind=type(exc).__name__))
    return FileResult(file, Outcome.FAILED, error=reason)
