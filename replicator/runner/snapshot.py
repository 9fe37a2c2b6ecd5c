"""``replicate snapshot``: list the source once and replicate every file not yet done."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait

from replicator.checkpoint.base import CheckpointStore
from replicator.checkpoint.ledger import Ledger
from replicator.config import Settings
from replicator.deadletter import DeadLetter
from replicator.discovery.listing import list_files
from replicator.model import FileInfo
from replicator.runner.events import (
    EventHandler,
    FilesDiscovered,
    RunFinished,
    RunStarted,
    RunStatistics,
    RunSummary,
    ignore,
)
from replicator.runner.file_task import FileResult, Outcome, replicate_file
from replicator.runner.pipeline import Pipeline
from replicator.runner.stop import StopToken
from replicator.runner.tally import RunTally
from replicator.sinks.base import Sink
from replicator.storage import redact


def run_snapshot(
    settings: Settings, events: EventHandler = ignore, stop: StopToken | None = None
) -> RunSummary:
    """Replicate every pending file once. Blocks until done, stopped, or a terminal error."""
    stop = stop or StopToken()
    started = time.monotonic()
    pipeline = Pipeline.from_settings(settings)
    busy = _Busy(settings.concurrency)
    events(
        RunStarted(
            "snapshot",
            redact(settings.source),
            redact(settings.dest),
            pipeline.name,
            str(pipeline.state_path),
            statistics=busy.statistics,
        )
    )
    tally = RunTally()
    store = pipeline.open_store()
    sink = pipeline.open_sink()
    dead_letter = pipeline.open_dead_letter()
    try:
        files = list_files(pipeline.source, pipeline.key_filter)
        todo, skipped = Ledger(store, settings.poll_overlap).split(
            files, full_refresh=settings.full_refresh
        )
        failed_before: list[FileResult] = []
        if not (settings.retry_failed or settings.full_refresh):
            todo, failed_before = _leave_failed(store, todo)
        skipped_count = len(skipped) + len(failed_before)
        events(FilesDiscovered(len(todo), sum(f.size for f in todo), skipped_count))
        _replicate_all(pipeline, todo, sink, store, events, stop, busy, dead_letter, tally)
    finally:
        dead_letter.close()
        sink.close()
        store.close()
    summary = tally.summary(
        pipeline.name,
        time.monotonic() - started,
        skipped=len(skipped),
        failed_before=((r.file.key, r.error or "") for r in failed_before),
    )
    events(RunFinished(summary))
    return summary


def _replicate_all(
    pipeline: Pipeline,
    files: Sequence[FileInfo],
    sink: Sink,
    store: CheckpointStore,
    events: EventHandler,
    stop: StopToken,
    busy: _Busy,
    dead_letter: DeadLetter | None,
    tally: RunTally,
) -> None:
    def task(file: FileInfo) -> None:
        with busy:
            result = replicate_file(pipeline, file, sink, store, events, stop, dead_letter)
        match result.outcome:
            case Outcome.COMPLETED:
                tally.completed(file, result.rows, result.bad_rows)
            case Outcome.FAILED:
                tally.failed(file, result.error or "")
            case Outcome.VANISHED:
                tally.vanished()
            case Outcome.ABORTED | Outcome.NOT_STARTED:
                tally.unfinished()

    with ThreadPoolExecutor(
        max_workers=pipeline.settings.concurrency, thread_name_prefix="replicate"
    ) as pool:
        futures: list[Future[None]] = [pool.submit(task, f) for f in files]
        pending = set(futures)
        try:
            while pending:
                # Short waits keep the main thread responsive to signals.
                finished, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
                for future in finished:
                    if future.exception() is not None:
                        stop.abort()
                        raise future.exception()  # type: ignore[misc]
        finally:
            stop_pending = stop.aborting
            for future in futures:
                if stop_pending and future.cancel():
                    tally.unfinished()


class _Busy:
    """Counts the worker threads in the middle of a file, for ``RunStatistics``."""

    def __init__(self, readers: int) -> None:
        self.readers = readers
        self.busy = 0
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            self.busy += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.busy -= 1

    def statistics(self) -> RunStatistics:
        return RunStatistics(readers=self.readers, readers_busy=self.busy)


def _leave_failed(
    store: CheckpointStore, todo: list[FileInfo]
) -> tuple[list[FileInfo], list[FileResult]]:
    """(to do, failed before) of ``todo``: files that failed at this same version are left out
    (retrying them is ``--retry-failed``'s job); a changed file is always tried again."""
    records = store.get_many([f.key for f in todo])
    keep: list[FileInfo] = []
    left: list[FileResult] = []
    for file in todo:
        record = records.get(file.key)
        if record is not None and record.status == "failed" and record.matches(file):
            reason = f"skipped (failed before; --retry-failed to retry): {record.error or ''}"
            left.append(FileResult(file, Outcome.NOT_STARTED, error=reason))
        else:
            keep.append(file)
    return keep, left
