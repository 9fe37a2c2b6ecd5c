"""``replicate snapshot``: list the source once and replicate every file not yet done."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Sequence

from replicator.checkpoint.base import CheckpointStore
from replicator.config import Settings
from replicator.deadletter import DeadLetter
from replicator.discovery.listing import list_source, require_source
from replicator.model import FileInfo
from replicator.retry import FILE_RETRIES
from replicator.runner.committer import Committer, Handoff
from replicator.runner.events import (
    EventHandler,
    FileCompleted,
    FileFailed,
    FilesDiscovered,
    Notice,
    RunFinished,
    RunStarted,
    RunStatistics,
    RunSummary,
    ignore,
)
from replicator.runner.file_task import Outcome, replicate_file
from replicator.runner.pipeline import Pipeline
from replicator.runner.planning import plan_files
from replicator.runner.schemas import open_stage, start_stage
from replicator.runner.settle import ErrorKind, classify, describe, record_failure
from replicator.runner.shaping import check_settings, forget_stale, remember
from replicator.runner.stop import StopToken
from replicator.runner.tally import RunTally
from replicator.schema.stage import SchemaStage
from replicator.sinks.base import Sink
from replicator.storage import redact


def run_snapshot(
    settings: Settings, events: EventHandler = ignore, stop: StopToken | None = None
) -> RunSummary:
    """Replicate every pending file once. Blocks until done, stopped, or a terminal error.

    Raises ``ConfigError`` or ``StorageError`` (nothing written, no pipeline created in the
    state) when the source does not exist or the output settings changed without
    ``full_refresh``.
    """
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
    try:
        check = check_settings(store, settings)
        listing = list_source(
            pipeline.source, pipeline.key_filter, follow_symlinks=settings.follow_symlinks
        )
        require_source(pipeline.source, listing)
        remember(store, check)
        plan = plan_files(
            listing,
            store,
            settings,
            pipeline.reader_options,
            pipeline.key_filter,
            source=redact(settings.source),
        )
        for line in plan.warnings:
            events(Notice("warning", line))
        events(
            FilesDiscovered(
                len(plan.todo),
                sum(f.size for f in plan.todo),
                len(plan.done) + len(plan.failed_before),
            )
        )
        sink = pipeline.open_sink(check.stale)
        dead_letter = pipeline.open_dead_letter()
        stage = open_stage(pipeline, store) if plan.todo else None
        try:
            if stage is not None:
                start_stage(stage, pipeline, plan.todo, sink, events, reinfer=check.full_refresh)
            workers = _Workers(
                pipeline, plan.todo, sink, store, events, stop, busy, dead_letter, tally, stage
            )
            workers.run()
        finally:
            dead_letter.close()
            sink.close()
        summary = tally.summary(
            pipeline.name,
            time.monotonic() - started,
            skipped=len(plan.done),
            failed_before=((f.key, _skipped_failure(reason)) for f, reason in plan.failed_before),
            unknown_format=len(plan.unknown_format),
            too_new=len(plan.too_new),
            warnings=(*plan.warnings, *_stale_warnings(sink.stale_failures)),
            schema_changes=stage.changes if stage is not None else 0,
        )
        if check.stale and summary.ok and not plan.too_new and not sink.stale_failures:
            forget_stale(store, check)  # every file taken is in the new format now
    finally:
        store.close()
    events(RunFinished(summary))
    return summary


def _stale_warnings(failures: list[str]) -> list[str]:
    if not failures:
        return []
    shown = "; ".join(failures[:3]) + ("; ..." if len(failures) > 3 else "")
    return [
        f"{len(failures):,} outputs of the old output format could not be removed ({shown}); "
        "the next run tries again"
    ]


def _skipped_failure(reason: str) -> str:
    return f"skipped (failed before; --retry-failed to retry): {reason}"


class _Workers:
    """The reading threads of one snapshot, which take the next file as they finish one, and
    the committer they hand finished files to (it publishes and records them in batches).
    ``run`` raises the first unexpected error, after the run was aborted."""

    def __init__(
        self,
        pipeline: Pipeline,
        files: Sequence[FileInfo],
        sink: Sink,
        store: CheckpointStore,
        events: EventHandler,
        stop: StopToken,
        busy: _Busy,
        dead_letter: DeadLetter | None,
        tally: RunTally,
        stage: SchemaStage | None = None,
    ) -> None:
        self.pipeline, self.sink, self.store = pipeline, sink, store
        self.stage = stage
        self.events, self.stop, self.busy, self.tally = events, stop, busy, tally
        self.dead_letter = dead_letter
        self.todo = collections.deque(files)  # append and popleft are atomic: no lock needed
        self.errors: list[BaseException] = []
        self.redone: collections.Counter[str] = collections.Counter()
        self.not_before: dict[str, float] = {}  # files to redo, and when
        self.committer = Committer(sink, store, self._settled)
        self.threads = [
            threading.Thread(target=self._work, name=f"replicate-{i}", daemon=True)
            for i in range(min(pipeline.settings.concurrency, len(files)))
        ]

    def run(self) -> None:
        for thread in self.threads:
            thread.start()
        try:
            for thread in self.threads:
                while thread.is_alive():
                    # Short waits keep the main thread responsive to signals.
                    thread.join(timeout=0.2)
        except BaseException:
            self.stop.abort()
            for thread in self.threads:
                thread.join()
            raise
        finally:
            try:
                self.committer.close()  # what was handed over is finished: publish, record it
            except Exception as exc:
                self.errors.append(exc)
            # Files never taken (the run was aborted) are left for the next run.
            for _ in range(len(self.todo)):
                self.tally.unfinished()
            self.todo.clear()
        if self.errors:
            raise self.errors[0]

    def _work(self) -> None:
        try:
            while (file := self._next_file()) is not None:
                self._replicate(file)
        except BaseException as exc:  # raised in the main thread, after the others stop
            self.errors.append(exc)
            self.stop.abort()

    def _next_file(self) -> FileInfo | None:
        while not self.stop.aborting:
            try:
                file = self.todo.popleft()
            except IndexError:
                if not self.committer.idle():
                    self.committer.wait_for_progress(0.1)
                    continue
                # A settled file may have been put back for a redo just before.
                try:
                    file = self.todo.popleft()
                except IndexError:
                    return None
            wait = self.not_before.pop(file.key, 0.0) - time.monotonic()
            if wait > 0 and self.stop.wait(wait):
                self.todo.append(file)  # stopping: counted as unfinished by ``run``
                return None
            return file
        return None

    def _replicate(self, file: FileInfo) -> None:
        with self.busy:
            result = replicate_file(
                self.pipeline,
                file,
                self.sink,
                self.store,
                self.events,
                self.stop,
                self.committer,
                self.dead_letter,
                self.stage,
            )
        if result.rereads:
            self.tally.reread(result.rereads)
        match result.outcome:
            case Outcome.FAILED:
                self.tally.failed(file, result.error or "")
            case Outcome.VANISHED:
                self.tally.vanished(file)
            case Outcome.ABORTED | Outcome.NOT_STARTED:
                self.tally.unfinished()
            case Outcome.HANDED_OFF:
                pass  # counted by ``_settled``

    def _settled(self, handoff: Handoff, error: BaseException | None) -> None:
        """The committer's callback, on its thread."""
        try:
            self._settle(handoff, error)
        except Exception as exc:  # the state store, most likely: stop rather than go on blind
            self.errors.append(exc)
            self.stop.abort()
            self.tally.unfinished()

    def _settle(self, handoff: Handoff, error: BaseException | None) -> None:
        file = handoff.file
        if error is None:
            done = handoff.settled()
            seconds = time.monotonic() - handoff.started
            self.events(
                FileCompleted(file, done.rows, done.outputs, seconds, bad_rows=done.bad_rows)
            )
            self.tally.completed(file, done.rows, done.bad_rows)
            return
        kind = classify(error)
        if kind is ErrorKind.FATAL:
            self.errors.append(error)
            self.stop.abort()
            self.tally.unfinished()
        elif kind is ErrorKind.TRANSIENT and FILE_RETRIES.retry_after(self.redone[file.key] + 1):
            # Publishing failed after the file was read: read it again, after a backoff.
            self.redone[file.key] += 1
            delay = FILE_RETRIES.delay(self.redone[file.key])
            self.events(
                Notice(
                    "warning", f"{file.key}: {describe(error)}; redoing the file in {delay:.1f} s"
                )
            )
            self.not_before[file.key] = time.monotonic() + delay
            self.todo.append(file)
        else:
            reason = record_failure(file, self.store, error)
            self.events(FileFailed(file, reason, kind=type(error).__name__))
            self.tally.failed(file, reason)


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
