"""Feeding a watch runner from S3 event notifications on an SQS queue.

A message is deleted only when every file it names is committed (``SqsSource.file_done`` from
the runner's commit callback); a failed file's messages are left for redelivery. A delivered
file already completed at the same version (say, by a ``--backfill`` listing) is not read again:
its message is simply deleted.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import time
from typing import TYPE_CHECKING

from replicator.checkpoint.base import CheckpointStore
from replicator.discovery.filters import too_new
from replicator.discovery.sqs import Delivery, SqsSource
from replicator.errors import ConfigError, TransientError
from replicator.model import FileInfo
from replicator.retry import Backoff
from replicator.runner.events import FilesDiscovered, Notice
from replicator.runner.planning import min_age_for, readable, unknown_format_warning

if TYPE_CHECKING:
    from replicator.runner.watch import WatchRunner

_WAKE = 0.2
_RECEIVES = 2
_RECEIVE_RETRIES = Backoff(attempts=1_000_000, base=1.0, cap=60.0)


def open_queue(runner: WatchRunner) -> SqsSource:
    s = runner.settings
    location = runner.pipeline.source
    if location.protocol not in ("s3", "s3a") or s.sqs is None:
        raise ConfigError(f"--sqs needs an s3:// source (got {s.source}); or drop --sqs to poll")
    bucket, _, prefix = location.root.partition("/")
    return SqsSource(
        s.sqs,
        bucket=bucket,
        prefix=prefix,
        key_filter=runner.pipeline.key_filter,
        region=s.region,
        visibility_timeout=s.visibility_timeout,
        wait_seconds=s.sqs_wait_seconds,
        propagate_deletes=s.propagate_deletes,
        verify_tls=s.verify_tls,
    ).start()


def consume(runner: WatchRunner, source: SqsSource, store: CheckpointStore) -> None:
    """Receive until stopped. Blocks; wakes a few times a second to notice a stop.

    Up to ``_RECEIVES`` long polls run at once while the pipeline has room (files queued and
    bytes in flight below their limits); when it is full, messages stay in the queue.
    """
    receives: set[concurrent.futures.Future[list[Delivery]]] = set()
    failures = 0
    try:
        while not runner.stop.draining and runner.fatal is None:
            while len(receives) < _RECEIVES and runner.has_room():
                receives.add(source.receive_async())
            if not receives:
                runner.stop.wait(_WAKE)
                continue
            done, receives = concurrent.futures.wait(
                receives, timeout=_WAKE, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in done:
                try:
                    deliveries = future.result()
                except concurrent.futures.CancelledError:
                    continue
                except TransientError as exc:
                    # A network blip or throttling: back off, then receive again.
                    failures += 1
                    delay = _RECEIVE_RETRIES.delay(failures)
                    runner.events(
                        Notice(
                            "warning", f"receiving from SQS failed: {exc}; again in {delay:.1f} s"
                        )
                    )
                    runner.stop.wait(delay)
                    continue
                failures = 0
                files = [f for d in deliveries for f in _take(runner, source, store, d)]
                runner.events(FilesDiscovered(len(files), sum(f.size for f in files), 0, via="sqs"))
                runner.submit(files)
    finally:
        for future in receives:
            future.cancel()


def _take(
    runner: WatchRunner, source: SqsSource, store: CheckpointStore, delivery: Delivery
) -> list[FileInfo]:
    for removed in delivery.removed:
        _propagate_delete(runner, store, removed)
        source.file_done(removed)
    todo: list[FileInfo] = []
    records = store.get_many([f.key for f in delivery.files])
    options = runner.pipeline.reader_options
    min_age = min_age_for(runner.settings, polling=False)  # S3 sends events of whole objects
    now = time.time()
    for file in delivery.files:
        record = records.get(file.key)
        if too_new(file.mtime, now, min_age):
            source.file_failed(file)  # its message comes back after the visibility timeout
        elif not readable(file.key, options):
            runner.events(Notice("warning", unknown_format_warning([file])))
            source.file_done(file)  # nothing to replicate: its message may go
        elif record is not None and record.status == "completed" and record.matches(file):
            source.file_done(file)  # already replicated: only the message is left to delete
        elif runner.is_in_work(file.key):
            # Another version of this key is being replicated; this one comes back after the
            # visibility timeout rather than racing it.
            source.file_failed(file)
        else:
            todo.append(file)
    return todo


def _propagate_delete(runner: WatchRunner, store: CheckpointStore, file: FileInfo) -> None:
    record = store.get(file.key)
    if runner.is_in_work(file.key) or (
        record is not None
        and record.mtime is not None
        and file.mtime is not None
        and record.mtime > file.mtime
    ):
        # SQS does not keep order: this delete is older than the version replicated since.
        runner.events(
            Notice("info", f"{file.key}: stale delete event ignored; a newer version exists")
        )
        return
    outputs = record.outputs if record is not None else ()
    fs = runner.pipeline.dest.fs
    for output in outputs:
        with contextlib.suppress(FileNotFoundError):
            fs.rm(output)
    store.forget(file.key)
    runner.events(
        Notice("info", f"{file.key} was deleted at the source; removed {len(outputs)} output(s)")
    )
