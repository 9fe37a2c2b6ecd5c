"""The queue pusher: readers push chunks from their own threads, sink workers write them and ack.

Each file is routed to one worker by a hash of its key, and each worker has a FIFO queue, so the
chunks of a file reach the sink in push order while a slow file holds up only the files that share
its worker. Readers are throttled twice, both with ``InflightBudget``: by the bytes in flight
(pushed, not acked) and by the number of chunks queued for the workers.

``on_ack(chunk, done)`` is the only place a file is declared done; the runner commits it there.
"""

from __future__ import annotations

import logging
import queue
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from replicator.errors import ReplicatorError
from replicator.model import Chunk, FileInfo
from replicator.pusher.inflight import Cancelled, InflightBudget
from replicator.pusher.progress import FileProgress, FileState, FileStatistics, ProgressTracker
from replicator.sinks.base import Sink

__all__ = [
    "DEFAULT_INFLIGHT_LIMIT",
    "DEFAULT_QUEUE_SIZE",
    "Cancelled",
    "FileFailed",
    "PusherStatistics",
    "QueuePusher",
    "worker_for",
]

log = logging.getLogger(__name__)

DEFAULT_INFLIGHT_LIMIT = 256 * 1024**2
DEFAULT_QUEUE_SIZE = 64

AckCallback = Callable[[Chunk, bool], None]
ErrorCallback = Callable[[FileInfo, BaseException], None]


@dataclass(frozen=True, slots=True)
class _Abandoned:
    """Queued behind a file's chunks: its worker reports the error after their writes."""

    file: FileInfo
    error: BaseException


_Item = tuple[FileProgress, Chunk] | _Abandoned | None  # None stops a worker


class FileFailed(ReplicatorError):
    """The sink failed on an earlier chunk of this file, so its chunks are no longer taken."""

    def __init__(self, file: FileInfo, error: BaseException | None) -> None:
        super().__init__(
            f"{file.key!r} failed in the sink ({error!r}); stop reading it, it stays uncommitted "
            "and is redone on the next run"
        )
        self.file = file
        self.error = error


@dataclass(frozen=True, slots=True)
class PusherStatistics:
    """A consistent snapshot of the pusher, for progress displays."""

    bytes_in_flight: int
    inflight_limit: int
    peak_bytes_in_flight: int
    chunks_in_flight: int
    chunks_queued: int
    pushers_waiting: int
    files_in_work: int
    files_failed: int
    files: tuple[FileStatistics, ...]


def worker_for(key: str, workers: int) -> int:
    """The sink worker that takes every chunk of the file ``key``: stable across runs."""
    return zlib.crc32(key.encode()) % workers


def _log_error(file: FileInfo, error: BaseException) -> None:
    log.error("sink failed on %r: %r", file.key, error)


class QueuePusher:
    """Moves chunks from reader threads to a sink through bounded queues, and reports acks.

    Lifecycle: ``start()``, ``push()`` from any number of reader threads (the chunks of one file
    from one thread, in order), then ``drain()`` to finish the work, and ``close()``; or
    ``cancel()`` to stop at once. A sink ``write`` that raises fails its file: its chunks are
    dropped and their bytes released, ``on_error(file, error)`` is called, and it is never done.
    An exception from ``on_ack`` (say, a failed commit) is reported the same way. Callbacks run on
    the sink worker of their file, one at a time per file, in chunk order.
    """

    def __init__(
        self,
        sink: Sink,
        *,
        inflight_limit: int = DEFAULT_INFLIGHT_LIMIT,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        workers: int = 4,
        on_ack: AckCallback | None = None,
        on_error: ErrorCallback | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"a queue pusher needs at least one worker (got {workers})")
        self._sink = sink
        self._budget = InflightBudget(inflight_limit)
        self._slots = InflightBudget(queue_size)  # counts chunks queued, one unit each
        self._on_ack = on_ack
        self._on_error = on_error or _log_error
        self._lock = threading.Condition()
        self._tracker = ProgressTracker()
        self._reporting = 0  # callbacks running; drain waits for them too
        self._accepting = True
        self._cancelled = False
        self._queues: list[queue.SimpleQueue[_Item]] = [queue.SimpleQueue() for _ in range(workers)]
        self._threads = [
            threading.Thread(target=self._work, args=(q,), name=f"replicator-sink-{i}", daemon=True)
            for i, q in enumerate(self._queues)
        ]
        self._started = False

    def __enter__(self) -> QueuePusher:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        """Start the sink workers. Does not block. Chunks pushed before wait in the queues."""
        with self._lock:
            if self._started:
                return
            self._started = True
        for thread in self._threads:
            thread.start()

    def push(self, chunk: Chunk) -> bool:
        """Queue ``chunk`` for the sink. Blocks while the in-flight bytes or the queue are full.

        Returns False: a file is declared done only through ``on_ack``. Raises ``Cancelled`` once
        the pusher is draining or cancelled, ``FileFailed`` if the sink failed on this file, and
        ``PusherError`` for a chunk out of order or after its file's last chunk.
        """
        self._check_accepting(chunk.file)
        self._budget.acquire(chunk.size)
        try:
            self._slots.acquire(1)
        except BaseException:
            self._budget.release(chunk.size)
            raise
        with self._lock:
            try:
                self._check_accepting(chunk.file)
                progress = self._tracker.push(chunk)
            except BaseException:
                self._slots.release(1)
                self._budget.release(chunk.size)
                raise
            # Enqueued under the lock, so cancel() never misses a registered chunk.
            self._queues[worker_for(chunk.file.key, len(self._queues))].put((progress, chunk))
        return False

    def ack(self, chunk: Chunk) -> bool:
        """Record that the sink holds ``chunk``, release its bytes, and call ``on_ack``.

        The sink workers call this; it is public for callers that write themselves. Blocks only
        for ``on_ack``. True exactly when the file is now done. Raises ``PusherError`` for a chunk
        acked twice or never pushed.
        """
        with self._lock:
            done = self._tracker.ack(chunk)
            self._budget.release(chunk.size)
            self._reporting += 1
        return self._report_ack(chunk, done)

    def drain(self, timeout: float | None = None) -> bool:
        """Stop taking chunks, and wait until every pushed chunk is acked or failed. Blocks.

        Returns False if ``timeout`` seconds passed first. Pushers still blocked raise ``Cancelled``
        once they get in.
        """
        with self._lock:
            self._accepting = False
            return self._lock.wait_for(
                lambda: self._tracker.chunks_in_flight == 0 and self._reporting == 0, timeout
            )

    def cancel(self) -> None:
        """Stop now: wake blocked pushers (they raise ``Cancelled``), drop every queued chunk and
        release its bytes. Does not block. Files with chunks in flight become dropped and are never
        reported done; a sink write already running is not interrupted, and its chunk is not acked.
        """
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
            self._accepting = False
            self._budget.release(self._tracker.drop_all())
            self._lock.notify_all()
        self._budget.close()
        self._slots.close()
        for q in self._queues:
            self._discard_queued(q)
            q.put(None)

    def close(self, timeout: float | None = None) -> bool:
        """``cancel()``, then wait for the workers to stop (a running sink write to return). Blocks.

        Returns False if a worker was still running after ``timeout`` seconds.
        """
        self.cancel()
        with self._lock:
            started = self._started
        if started:
            for thread in self._threads:
                thread.join(timeout)
        return not any(thread.is_alive() for thread in self._threads)

    def abandon(self, file: FileInfo, error: BaseException) -> None:
        """The reader gave up on ``file`` (a read error, or a stop): drop its chunks in flight and
        report ``on_error(file, error)``. Does not block.

        The report comes from the file's worker, after any write of the file already running, so
        ``on_error`` can safely abort the file's output in the sink. The file is never done.
        """
        with self._lock:
            progress = self._tracker.get(file)
            queued = progress is not None and progress.state is FileState.IN_WORK
            if queued and not self._cancelled:
                self._budget.release(self._tracker.fail(file, error))
                self._reporting += 1
                self._queues[worker_for(file.key, len(self._queues))].put(_Abandoned(file, error))
                return
            self._reporting += 1
        # Nothing of it is queued: report at once.
        self._report_error(file, error)

    def forget(self, file: FileInfo) -> None:
        """Drop the record of a failed file, so it may be pushed again. Does not block."""
        with self._lock:
            self._tracker.forget(file)

    def statistics(self) -> PusherStatistics:
        """A snapshot of the bytes, chunks and files in work. Does not block."""
        with self._lock:
            files = tuple(progress.statistics() for progress in self._tracker)
            return PusherStatistics(
                bytes_in_flight=self._budget.in_flight,
                inflight_limit=self._budget.limit,
                peak_bytes_in_flight=self._budget.peak,
                chunks_in_flight=sum(f.chunks_in_flight for f in files),
                chunks_queued=self._slots.in_flight,
                pushers_waiting=self._budget.waiting + self._slots.waiting,
                files_in_work=sum(f.state is FileState.IN_WORK for f in files),
                files_failed=sum(f.state is FileState.FAILED for f in files),
                files=files,
            )

    def _discard_queued(self, q: queue.SimpleQueue[_Item]) -> None:
        # Frees the chunks' memory now rather than when a busy worker reaches them.
        while True:
            try:
                item = q.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Abandoned):
                self._reported()
            elif item is not None:
                self._slots.release(1)

    def _check_accepting(self, file: FileInfo) -> None:
        with self._lock:
            if not self._accepting:
                state = "cancelled" if self._cancelled else "draining"
                raise Cancelled(f"the pusher is {state}; {file.key!r} stays uncommitted")
            progress = self._tracker.get(file)
            if progress is not None and progress.state is FileState.FAILED:
                raise FileFailed(file, progress.error)

    def _work(self, q: queue.SimpleQueue[_Item]) -> None:
        while (item := q.get()) is not None:
            if isinstance(item, _Abandoned):
                self._report_error(item.file, item.error)
                continue
            progress, chunk = item
            self._slots.release(1)
            with self._lock:
                live = self._live(progress, chunk)
            if not live:
                continue  # its file failed or the pusher was cancelled: bytes already released
            try:
                self._sink.write(chunk)
                self._ack_if_live(progress, chunk)
            except Exception as error:
                self._fail(progress, error)

    def _live(self, progress: FileProgress, chunk: Chunk) -> bool:
        # Called under the lock. A dropped or failed file's chunks are no longer held.
        return (
            not self._cancelled
            and self._tracker.get(chunk.file) is progress
            and progress.holds(chunk)
        )

    def _ack_if_live(self, progress: FileProgress, chunk: Chunk) -> None:
        # Checked and acked in one critical section, so a cancel() in between cannot slip in.
        with self._lock:
            if not self._live(progress, chunk):
                return  # cancelled or failed during the write: dropped, bytes already released
            done = self._tracker.ack(chunk)
            self._budget.release(chunk.size)
            self._reporting += 1
        self._report_ack(chunk, done)

    def _report_ack(self, chunk: Chunk, done: bool) -> bool:
        try:
            if self._on_ack is not None:
                self._on_ack(chunk, done)
        finally:
            self._reported()
        return done

    def _fail(self, progress: FileProgress, error: Exception) -> None:
        with self._lock:
            if self._cancelled:
                return
            if self._tracker.get(progress.file) is progress:
                self._budget.release(self._tracker.fail(progress.file, error))
            self._reporting += 1
        self._report_error(progress.file, error)

    def _report_error(self, file: FileInfo, error: BaseException) -> None:
        try:
            self._on_error(file, error)
        except Exception:
            log.exception("on_error raised for %r", file.key)
        finally:
            self._reported()

    def _reported(self) -> None:
        with self._lock:
            self._reporting -= 1
            self._lock.notify_all()
