"""``replicate snapshot``: list the source once and replicate every file not yet done."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait

from replicator.checkpoint.base import CheckpointStore
from replicator.checkpoint.ledger import Ledger
from replicator.config import Settings
from replicator.discovery.listing import list_files
from replicator.model import FileInfo
from replicator.runner.events import (
    EventHandler,
    FilesDiscovered,
    RunFinished,
    RunStarted,
    RunSummary,
    ignore,
)
from replicator.runner.file_task import FileResult, Outcome, replicate_file
from replicator.runner.pipeline import Pipeline
from replicator.runner.stop import StopToken
from replicator.sinks.base import Sink


def run_snapshot(
    settings: Settings, events: EventHandler = ignore, stop: StopToken | None = None
) -> RunSummary:
    """Replicate every pending file once. Blocks until done, stopped, or a terminal error."""
    stop = stop or StopToken()
    started = time.monotonic()
    pipeline = Pipeline.from_settings(settings)
    events(
        RunStarted(
            "snapshot", settings.source, settings.dest, pipeline.name, str(pipeline.state_path)
        )
    )
    store = pipeline.open_store()
    sink = pipeline.open_sink()
    try:
        files = list_files(pipeline.source, pipeline.key_filter)
        todo, skipped = Ledger(store, settings.poll_overlap).split(
            files, full_refresh=settings.full_refresh
        )
        events(FilesDiscovered(len(todo), sum(f.size for f in todo), len(skipped)))
        results = _replicate_all(pipeline, todo, sink, store, events, stop)
    finally:
        sink.close()
        store.close()
    summary = summarize(pipeline.name, results, len(skipped), time.monotonic() - started)
    events(RunFinished(summary))
    return summary


def _replicate_all(
    pipeline: Pipeline,
    files: Sequence[FileInfo],
    sink: Sink,
    store: CheckpointStore,
    events: EventHandler,
    stop: StopToken,
) -> list[FileResult]:
    lock = threading.Lock()
    results: list[FileResult] = []

    def task(file: FileInfo) -> None:
        result = replicate_file(pipeline, file, sink, store, events, stop)
        with lock:
            results.append(result)

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
                if stop_pending:
                    future.cancel()
    return results


def summarize(
    pipeline: str, results: Sequence[FileResult], skipped: int, seconds: float
) -> RunSummary:
    by = {o: [r for r in results if r.outcome is o] for o in Outcome}
    completed = by[Outcome.COMPLETED]
    failed = by[Outcome.FAILED]
    return RunSummary(
        pipeline=pipeline,
        files_completed=len(completed),
        files_skipped=skipped,
        files_failed=len(failed),
        files_vanished=len(by[Outcome.VANISHED]),
        rows=sum(r.rows for r in completed),
        bytes=sum(r.file.size for r in completed),
        seconds=seconds,
        interrupted=bool(by[Outcome.ABORTED] or by[Outcome.NOT_STARTED]),
        failures=tuple((r.file.key, r.error or "") for r in failed),
    )
