"""``replicate watch``: keep discovering files and replicate them on the queue pusher.

Threads: the caller's thread discovers; ``concurrency`` reader threads parse files and push
their chunks; the pusher's sink workers write them and, on a file's last ack, commit its output
and then record it in the checkpoint store. A stop drains: no new files, readers abandon the
files they are reading (left uncommitted), chunks already pushed reach the sink, and the files
whose every chunk was acked are committed. A second stop cancels at once.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from replicator.checkpoint.base import CheckpointStore
from replicator.config import Settings
from replicator.discovery.listing import SourceNotFound, require_source
from replicator.discovery.poll import PollDiscovery
from replicator.errors import ReadError, ReplicatorError, StateConflict, StorageError
from replicator.model import Chunk, FileInfo
from replicator.pusher.inflight import Cancelled
from replicator.pusher.queue import FileFailed, QueuePusher
from replicator.readers import read_file
from replicator.retry import FILE_RETRIES
from replicator.runner.committer import Committer, Handoff
from replicator.runner.events import (
    ChunkWritten,
    EventHandler,
    FileCompleted,
    FileFinished,
    FileRestarted,
    FilesDiscovered,
    FileStarted,
    FileVanished,
    Notice,
    RunFinished,
    RunStarted,
    RunStatistics,
    RunSummary,
    ignore,
)
from replicator.runner.events import (
    FileFailed as FileFailedEvent,
)
from replicator.runner.pipeline import Pipeline
from replicator.runner.planning import (
    filters_warning,
    min_age_for,
    readable,
    unknown_format_warning,
)
from replicator.runner.schemas import file_options, open_stage, start_stage
from replicator.runner.settle import (
    MAX_REREADS,
    ErrorKind,
    Reread,
    classify,
    describe,
    record_failure,
    record_for,
)
from replicator.runner.shaping import check_settings, remember
from replicator.runner.stop import StopToken
from replicator.runner.tally import RunTally
from replicator.schema.conform import Evolve
from replicator.schema.stage import SchemaStage
from replicator.sinks.base import Sink
from replicator.storage import redact, translate_errors

if TYPE_CHECKING:
    from replicator.discovery.sqs import SqsSource

_READER_POLL = 0.2


class WatchRunner:
    """Continuous replication of one pipeline. ``run()`` blocks until stopped (or one pass)."""

    def __init__(
        self,
        settings: Settings,
        events: EventHandler = ignore,
        stop: StopToken | None = None,
        *,
        once: bool = False,
    ) -> None:
        self.settings = settings
        self.events = events
        self.stop = stop or StopToken()
        self.once = once
        self.pipeline = Pipeline.from_settings(settings)
        self._dead_letter = self.pipeline.open_dead_letter()
        self._lock = threading.Lock()
        self._in_work: dict[str, FileInfo] = {}
        self._started: dict[str, float] = {}
        self._work: queue.Queue[FileInfo] = queue.Queue()
        self._tally = RunTally()
        self.fatal: BaseException | None = None
        self._pusher: QueuePusher | None = None
        self._readers: list[threading.Thread] = []
        self._failures: dict[str, int] = {}  # transient failures of files in work, by key
        self._reading_keys: set[str] = set()  # files a reader is in the middle of
        self._parked: dict[str, BaseException] = {}  # failures waiting for their reader to stop
        self._store: CheckpointStore | None = None
        self._committer: Committer | None = None
        self._discovery: PollDiscovery | None = None
        self._sqs: SqsSource | None = None
        self._sink: Sink | None = None
        self._stage: SchemaStage | None = None
        self._reinfer = False
        self._stage_started = False
        self._rereads: dict[str, int] = {}  # schema-change re-reads of files in work
        self._unknown = 0  # files of unknown format left out
        self._warnings: list[str] = []
        self.on_file_done: Callable[[FileInfo], None] = lambda _f: None
        self.on_file_failed: Callable[[FileInfo], None] = lambda _f: None

    def run(self) -> RunSummary:
        started = time.monotonic()
        p = self.pipeline
        self.events(
            RunStarted(
                "watch",
                redact(self.settings.source),
                redact(self.settings.dest),
                p.name,
                str(p.state_path),
                statistics=self.statistics,
            )
        )
        store = p.open_store()
        try:
            check = check_settings(store, self.settings, command="watch")
            self._check_source()
            remember(store, check)
        except BaseException:
            store.close()
            raise
        self._store = store
        sink = p.open_sink(check.stale)
        self._sink = sink
        self._stage = open_stage(p, store)
        self._reinfer = check.full_refresh
        committer = Committer(sink, store, lambda h, e: self._settled(h, e, sink))
        self._committer = committer
        pusher = QueuePusher(
            sink,
            inflight_limit=self.settings.inflight_limit,
            workers=max(1, min(self.settings.concurrency, 8)),
            on_ack=lambda chunk, done: self._acked(chunk, done, sink),
            on_error=lambda file, error: self._failed(file, error, sink),
        )
        readers = [
            threading.Thread(
                target=self._read_loop, args=(pusher,), name=f"reader-{i}", daemon=True
            )
            for i in range(self.settings.concurrency)
        ]
        self._pusher = pusher
        self._readers = readers
        try:
            pusher.start()
            for thread in readers:
                thread.start()
            try:
                self._discover(store)
            finally:
                self._shutdown()
        finally:
            # A second stop means now: do not wait long for a sink write that hangs.
            wait = 2.0 if self.stop.aborting else 30.0
            if not pusher.close(timeout=wait):
                self.events(Notice("warning", f"a sink write did not return within {wait:.0f} s"))
            try:
                committer.close()  # files read in full are published and recorded
            except Exception as exc:
                with self._lock:
                    self.fatal = self.fatal or exc
            self._dead_letter.close()
            sink.close()
            store.close()
        if self.fatal is not None:
            raise self.fatal
        discovery = self._discovery
        summary = self._tally.summary(
            p.name,
            time.monotonic() - started,
            interrupted=self.stop.aborting,
            unknown_format=self._unknown,
            too_new=discovery.too_new if discovery is not None and self.once else 0,
            warnings=self._warnings,
            schema_changes=self._stage.changes if self._stage is not None else 0,
        )
        self.events(RunFinished(summary))
        return summary

    # -- discovery ---------------------------------------------------------------------------

    def _check_source(self) -> None:
        """The source must exist. One exception: an S3 prefix with nothing under it yet, in a
        bucket that exists, which a continuous watch may wait for (with a warning)."""
        source = self.pipeline.source
        try:
            require_source(source)
        except SourceNotFound:
            if self.once or source.is_local:
                raise
            bucket = source.root.partition("/")[0]
            with translate_errors(source.url, "cannot list"):
                if not source.fs.exists(bucket):
                    raise
            self._warn(
                f"nothing is stored under {redact(self.settings.source)} yet; waiting for "
                "files (check the bucket and prefix if you expected some)"
            )

    def _warn(self, line: str) -> None:
        self._warnings.append(line)
        self.events(Notice("warning", line))

    def _discover(self, store: CheckpointStore) -> None:
        if self.settings.sqs is None:
            self._poll_loop(store)
            return
        # Only --sqs needs aiobotocore; importing it costs 0.2 s at every start otherwise.
        from replicator.runner.queue_feed import consume, open_queue  # noqa: PLC0415

        source = open_queue(self)
        self._sqs = source
        try:
            if self.settings.backfill:
                # Listed files are not the queue's: their completion deletes no message.
                self._poll_loop(store, passes=1)
            self.on_file_done = source.file_done
            self.on_file_failed = source.file_failed
            consume(self, source, store)
        finally:
            # Before the pusher drains: messages of files still in work are left to the queue.
            self._drain_then(source.close)

    def _poll_loop(self, store: CheckpointStore, passes: int | None = None) -> None:
        s = self.settings
        options = self.pipeline.reader_options
        discovery = PollDiscovery(
            self.pipeline.source,
            self.pipeline.key_filter,
            store,
            interval=s.poll_interval,
            max_interval=s.max_poll_interval,
            overlap=s.poll_overlap,
            readable=lambda key: readable(key, options),
            min_age=min_age_for(s, polling=s.sqs is None),
            follow_symlinks=s.follow_symlinks,
        )
        self._discovery = discovery
        warned_filters = False
        while not self.stop.draining and self.fatal is None:
            with self._lock:
                in_work = set(self._in_work)
            try:
                files = discovery.poll(in_work)
            except (StorageError, StateConflict):
                raise
            except (OSError, ReplicatorError) as exc:
                # A listing that fails once (network) is retried at the next poll.
                self.events(
                    Notice("warning", f"listing {redact(s.source)} failed: {describe(exc)}")
                )
                files = []
            if discovery.unknown:
                self._unknown += len(discovery.unknown)
                self._warn(unknown_format_warning(discovery.unknown))
            listing = discovery.listing
            if listing is not None and (listing.seen or self.once) and not warned_filters:
                nothing = filters_warning(listing, self.pipeline.key_filter, redact(s.source))
                if nothing:
                    warned_filters = True  # once: a watch may wait for files a while
                    self._warn(nothing)
            self.events(
                FilesDiscovered(
                    len(files),
                    sum(f.size for f in files),
                    0,
                    via="poll",
                    next_in=discovery.interval,
                )
            )
            self.submit(files)
            if self.once or passes is not None:
                self._wait_idle()
                if discovery.too_new and self.once:
                    self._warn(
                        f"{discovery.too_new:,} files modified in the last "
                        f"{discovery.min_age:g} s left for the next pass (--min-age)"
                    )
                return
            self.stop.wait(discovery.interval)

    def statistics(self) -> RunStatistics:
        """Pressure, discovery times and lag, for progress views and metrics. Does not block."""
        pusher, discovery, sqs = self._pusher, self._discovery, self._sqs
        pushed = pusher.statistics() if pusher is not None else None
        now = time.time()
        with self._lock:
            reading = len(self._reading_keys)
            mtimes = [f.mtime for f in self._in_work.values() if f.mtime is not None]
        last_poll = discovery.last_poll if discovery is not None else None
        return RunStatistics(
            readers=self.settings.concurrency,
            readers_busy=reading,
            files_queued=self._work.qsize(),
            bytes_in_flight=pushed.bytes_in_flight if pushed else None,
            inflight_limit=pushed.inflight_limit if pushed else self.settings.inflight_limit,
            chunks_queued=pushed.chunks_queued if pushed else None,
            last_poll=last_poll,
            next_poll=last_poll + discovery.interval if discovery and last_poll else None,
            # Lag: how long the oldest file not yet done has waited since it was written.
            lag_seconds=max(0.0, now - min(mtimes)) if mtimes else 0.0,
            sqs_messages_in_flight=sqs.statistics().messages_in_flight if sqs else None,
        )

    def files_in_work(self) -> int:
        with self._lock:
            return len(self._in_work)

    def has_room(self) -> bool:
        """Whether discovery may hand out more files: few enough queued, bytes under the limit."""
        pusher = self._pusher
        if pusher is not None:
            stats = pusher.statistics()
            if stats.bytes_in_flight >= stats.inflight_limit:
                return False
        return self.files_in_work() < self.settings.concurrency * 4

    def is_in_work(self, key: str) -> bool:
        with self._lock:
            return key in self._in_work

    def submit(self, files: list[FileInfo]) -> None:
        """Queue files for the readers; keys already in work are left out. The first files
        found start the schema stage (inferred from them, unless one is stored). Called by
        the discovery thread only."""
        if files and self._stage is not None and not self._stage_started:
            assert self._sink is not None
            start_stage(
                self._stage, self.pipeline, files, self._sink, self.events, reinfer=self._reinfer
            )
            self._stage_started = True
        with self._lock:
            for file in files:
                if file.key not in self._in_work:
                    self._in_work[file.key] = file
                    self._work.put(file)

    def _wait_idle(self) -> None:
        while not self.stop.draining and self.fatal is None:
            with self._lock:
                if not self._in_work:
                    return
                queued = not self._work.empty()
            committer = self._committer
            if queued or committer is None or committer.idle():
                self.stop.wait(0.05)
            else:
                # No file left for a reader: the batch being gathered need not wait for more.
                committer.wait_for_progress(0.05)

    # -- readers -----------------------------------------------------------------------------

    def _read_loop(self, pusher: QueuePusher) -> None:
        while not self.stop.draining:
            try:
                file = self._work.get(timeout=_READER_POLL)
            except queue.Empty:
                continue
            self._read_one(file, pusher)

    def _read_one(self, file: FileInfo, pusher: QueuePusher) -> None:
        with self._lock:
            self._started[file.key] = time.monotonic()
            self._reading_keys.add(file.key)
        self.events(FileStarted(file))
        letters = self._dead_letter
        try:
            assert self._store is not None
            self._store.record_started(record_for(file, "in_progress"))
            on_bad_row = letters.open(file)
            stage = self._stage
            conformer = stage.conformer(file.key) if stage is not None else None
            options = file_options(
                self.pipeline.reader_options, conformer.target if conformer else None
            )
            last = False
            for chunk in read_file(self.pipeline.source.fs, file, options, on_bad_row, conformer):
                if self.stop.draining:
                    raise Cancelled(f"stopping: {file.key} is left for the next run")
                pusher.push(chunk)
                letters.flush(file)
                last = chunk.completed
            if not last:
                raise ReplicatorError(f"the reader of {file.key} ended without a last chunk")
        except FileFailed:
            pass  # the sink failed this file; its error waits below
        except Evolve as evolve:
            assert self._stage is not None, "only a conformer asks the schema to change"
            target = self._stage.evolve(evolve.changes, file.key)
            pusher.abandon(file, Reread(f"schema version {target.version}: {evolve}"))
        except Exception as exc:
            pusher.abandon(file, exc)
        finally:
            # A failure reported while this thread was still reading is settled here, once the
            # reader has let go of the file: never while it may still push chunks of it.
            with self._lock:
                self._reading_keys.discard(file.key)
                parked = self._parked.pop(file.key, None)
            if parked is not None:
                self._settle_failure(file, parked)

    # -- sink callbacks (on the pusher's workers) ---------------------------------------------

    def _acked(self, chunk: Chunk, done: bool, sink: Sink) -> None:
        file = chunk.file
        self.events(ChunkWritten(file, chunk.rows, chunk.size, chunk.read_bytes))
        if not done:
            return
        # The file's bad rows are all reported: its reader yielded the last chunk after them.
        # Its dead letter is published now, its output finished; the committer makes the output
        # durable and records the file with others (``_settled``).
        lettered = self._dead_letter.commit(file)
        with self._lock:
            started = self._started.get(file.key, time.monotonic())
        committer = self._committer
        assert committer is not None
        if committer.submit(Handoff(file, sink.finish(file), lettered, started)):
            self.events(FileFinished(file))
            return
        raise Cancelled(f"stopping: {file.key} is left for the next run")

    def _settled(self, handoff: Handoff, error: BaseException | None, sink: Sink) -> None:
        """The committer's callback: ``file`` is durable and recorded, or its publish failed."""
        file = handoff.file
        if error is not None:
            self._failed(file, error, sink)
            return
        settled = handoff.settled()
        with self._lock:
            self._in_work.pop(file.key, None)
            self._failures.pop(file.key, None)
            self._rereads.pop(file.key, None)
            seconds = time.monotonic() - self._started.pop(file.key, handoff.started)
        self._tally.completed(file, settled.rows, settled.bad_rows)
        self.on_file_done(file)
        self.events(
            FileCompleted(file, settled.rows, settled.outputs, seconds, bad_rows=settled.bad_rows)
        )

    def _failed(self, file: FileInfo, error: BaseException, sink: Sink) -> None:
        """The pusher's error callback: drop the file's partial output, then settle it."""
        sink.abort(file)
        self._dead_letter.abort(file)
        with self._lock:
            if file.key in self._reading_keys:
                self._parked[file.key] = error  # its reader settles it when it stops
                return
        self._settle_failure(file, error)

    def _settle_failure(self, file: FileInfo, error: BaseException) -> None:
        """Retry, or record, a file that failed; only once no reader holds it. Runs once."""
        store, pusher = self._store, self._pusher
        assert store is not None
        assert pusher is not None
        pusher.forget(file)
        kind = classify(error)
        if kind is ErrorKind.REDO and not self.stop.draining:
            with self._lock:
                rereads = self._rereads[file.key] = self._rereads.get(file.key, 0) + 1
            if rereads <= MAX_REREADS:
                self._tally.reread()
                self.events(FileRestarted(file, str(error)))
                self._work.put(file)  # still in work: read again at once, under the new schema
                return
            error = ReadError(
                f"{file.key}: read again {MAX_REREADS} times for schema changes; declare its "
                "columns with --schema-hints",
                key=file.key,
            )
            kind = ErrorKind.FAILED
        if kind is ErrorKind.TRANSIENT and self._retry_later(file, error):
            return  # still in work: read again from the start after a backoff
        with self._lock:
            self._in_work.pop(file.key, None)
            self._started.pop(file.key, None)
            self._rereads.pop(file.key, None)
        if kind in (ErrorKind.CANCELLED, ErrorKind.REDO):  # a stop came first: redone next run
            return
        if kind is ErrorKind.VANISHED:
            self._tally.vanished(file)
            self.on_file_done(file)  # nothing left to replicate
            self.events(FileVanished(file))
            return
        if kind is ErrorKind.FATAL:
            with self._lock:
                self.fatal = self.fatal or error
            self.stop.drain()
            return
        reason = record_failure(file, store, error)
        self._tally.failed(file, reason)
        self.on_file_failed(file)
        self.events(FileFailedEvent(file, reason, kind=type(error).__name__))

    def _retry_later(self, file: FileInfo, error: BaseException) -> bool:
        """Queue ``file`` again after a backoff while tries are left. False when stopping."""
        if self.stop.draining:
            return False
        with self._lock:
            failures = self._failures.pop(file.key, 0) + 1
            if not FILE_RETRIES.retry_after(failures):
                return False
            self._failures[file.key] = failures
        delay = FILE_RETRIES.delay(failures)
        self.events(
            Notice(
                "warning",
                f"{file.key}: {describe(error)}; redoing the file in {delay:.1f} s "
                f"(try {failures + 1} of {FILE_RETRIES.attempts})",
            )
        )
        timer = threading.Timer(delay, self._work.put, (file,))
        timer.daemon = True
        timer.start()
        return True

    # -- stopping ----------------------------------------------------------------------------

    def _drain_then(self, close: Callable[[], None]) -> None:
        self._shutdown()
        close()

    def _shutdown(self) -> None:
        """Drain: readers stop, pushed chunks reach the sink, acked files commit. Idempotent."""
        pusher, readers = self._pusher, self._readers
        assert pusher is not None, "the pusher is made before discovery starts"
        self.stop.drain()
        while any(t.is_alive() for t in readers):
            if self.stop.aborting:
                pusher.cancel()
            for thread in readers:
                thread.join(timeout=0.1)
        while not pusher.drain(timeout=0.1):
            if self.stop.aborting:
                pusher.cancel()
                break
        committer = self._committer
        while committer is not None and not committer.idle():
            # Files read in full: made durable and recorded (messages deleted) before going on.
            committer.wait_for_progress(0.1)


def run_watch(
    settings: Settings,
    events: EventHandler = ignore,
    stop: StopToken | None = None,
    *,
    once: bool = False,
) -> RunSummary:
    """Replicate continuously (or one pass with ``once``). Blocks until stopped."""
    return WatchRunner(settings, events, stop, once=once).run()
