"""``replicate watch --sqs``: real S3 event notifications from moto server to an SQS queue."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fsspec
import pytest

from replicator.checkpoint.sqlite import SqliteCheckpointStore
from replicator.config import Settings
from replicator.runner.pipeline import Pipeline
from tests.cli import replicate_cmd
from tests.conftest import S3Bucket
from tests.datasets import (
    assert_rows_equal,
    csv_bytes,
    csv_rows,
    make_files,
    read_parquet_outputs,
)
from tests.sqs_queues import Queue
from tests.test_watch import _GatedSink, _Watcher


def _notify(bucket: S3Bucket, queue: Queue) -> None:
    bucket.client.put_bucket_notification_configuration(
        Bucket=bucket.name,
        NotificationConfiguration={
            "QueueConfigurations": [
                {"QueueArn": queue.arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}
            ]
        },
    )


def _drain_test_event(queue: Queue) -> None:
    # S3 sends an s3:TestEvent when notifications are configured; the watcher deletes it too,
    # but the tests below count messages, so start from an empty queue.
    queue.client.purge_queue(QueueUrl=queue.url)


def _wait_for(check: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _outputs(out: Path) -> Any:
    return read_parquet_outputs(fsspec.filesystem("file"), str(out))


def _count(out: Path) -> int:
    return len(list(out.rglob("*.parquet"))) if out.exists() else 0


def _settings(bucket: S3Bucket, queue: Queue, tmp_path: Path, **kw: Any) -> Settings:
    return Settings(
        source=bucket.url("in/"),
        dest=str(tmp_path / "out"),
        state=str(tmp_path / "state.db"),
        name="q",
        sqs=queue.url,
        sqs_wait_seconds=1,
        concurrency=2,
        **kw,
    )


def test_notifications_are_replicated_and_the_queue_drains(
    s3_bucket: S3Bucket, make_queue: Callable[[int], Queue], tmp_path: Path
) -> None:
    queue = make_queue(30)
    _notify(s3_bucket, queue)
    _drain_test_event(queue)
    s3_bucket.put("elsewhere/not-mine.csv", csv_bytes(csv_rows(1, 2)))
    expected = make_files(lambda k, b: s3_bucket.put(f"in/{k}", b), 6, 12)
    out = tmp_path / "out"
    watcher = _Watcher(_settings(s3_bucket, queue, tmp_path))
    _wait_for(lambda: _count(out) == 6, what="six outputs")
    # Arriving while it runs: replicated within seconds, without listing.
    later = make_files(lambda k, b: s3_bucket.put(f"in/{k}", b), 2, 3, prefix="late ü+/")
    expected.update(later)
    _wait_for(lambda: _count(out) == 8, what="late files")
    _wait_for(lambda: queue.counts() == (0, 0), what="an empty queue")
    summary = watcher.finish()
    assert summary.files_completed == 8
    assert summary.files_failed == 0
    assert_rows_equal(_outputs(out), expected)
    assert not (out / "elsewhere").exists()


def test_backfill_then_queue_without_gap_or_repeat(
    s3_bucket: S3Bucket, make_queue: Callable[[int], Queue], tmp_path: Path
) -> None:
    queue = make_queue(30)
    # Files from before the notification existed are found only by the backfill listing.
    expected = make_files(lambda k, b: s3_bucket.put(f"in/{k}", b), 4, 5)
    _notify(s3_bucket, queue)
    _drain_test_event(queue)
    # These are both listed and notified: replicated once.
    expected.update(make_files(lambda k, b: s3_bucket.put(f"in/{k}", b), 2, 5, prefix="both/"))
    out = tmp_path / "out"
    watcher = _Watcher(_settings(s3_bucket, queue, tmp_path, backfill=True))
    _wait_for(lambda: _count(out) == 6, what="backfilled files")
    expected.update(make_files(lambda k, b: s3_bucket.put(f"in/{k}", b), 1, 5, prefix="after/"))
    _wait_for(lambda: _count(out) == 7, what="a file after the switch")
    _wait_for(lambda: queue.counts() == (0, 0), what="an empty queue")
    summary = watcher.finish()
    assert summary.files_completed == 7, "each file replicated once across the switch"
    assert summary.files_failed == 0
    assert_rows_equal(_outputs(out), expected)


def test_propagate_deletes(
    s3_bucket: S3Bucket, make_queue: Callable[[int], Queue], tmp_path: Path
) -> None:
    queue = make_queue(30)
    _notify(s3_bucket, queue)
    _drain_test_event(queue)
    s3_bucket.put("in/keep.csv", csv_bytes(csv_rows(1, 3)))
    s3_bucket.put("in/gone.csv", csv_bytes(csv_rows(2, 3)))
    out = tmp_path / "out"
    watcher = _Watcher(_settings(s3_bucket, queue, tmp_path, propagate_deletes=True))
    _wait_for(lambda: _count(out) == 2, what="two outputs")
    s3_bucket.client.delete_object(Bucket=s3_bucket.name, Key="in/gone.csv")
    _wait_for(lambda: not (out / "gone.csv.parquet").exists(), what="the output removed")
    _wait_for(lambda: queue.counts() == (0, 0), what="an empty queue")
    watcher.finish()
    assert (out / "keep.csv.parquet").exists()
    store = SqliteCheckpointStore(tmp_path / "state.db", "q")
    try:
        assert store.get("gone.csv") is None
        assert store.get("keep.csv") is not None
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_two_watchers_one_queue_and_a_kill_9(
    s3_bucket: S3Bucket, make_queue: Callable[[int], Queue], tmp_path: Path
) -> None:
    queue = make_queue(4)
    _notify(s3_bucket, queue)
    _drain_test_event(queue)
    out = tmp_path / "out"
    log = (tmp_path / "watchers.log").open("ab")

    def start(name: str) -> subprocess.Popen[bytes]:
        args = [
            "watch",
            s3_bucket.url("in/"),
            str(out),
            "--sqs",
            queue.url,
            "--sqs-wait-seconds",
            "1",
        ]
        # Each watcher keeps its own state, as on separate machines; the queue splits the work.
        args += ["--state", str(tmp_path / f"{name}.db"), "--name", "shared", "--concurrency", "2"]
        return subprocess.Popen(replicate_cmd(*args), env=s3_bucket.env(), stdout=log, stderr=log)

    watchers = [start("a"), start("b")]
    try:
        expected = make_files(lambda k, b: s3_bucket.put(f"in/{k}", b), 200, 20)
        big = csv_rows(7, 400_000)
        s3_bucket.put("in/big/big.csv", csv_bytes(big))
        expected["big/big.csv"] = big
        # Kill one watcher while work is under way; the other takes over its messages once
        # their visibility timeout runs out.
        _wait_for(lambda: _count(out) >= 40, 120, "some progress")
        watchers[0].send_signal(signal.SIGKILL)
        watchers[0].wait(timeout=30)
        _wait_for(lambda: _count(out) == len(expected), 180, "every file")
        _wait_for(lambda: queue.counts() == (0, 0), 60, "an empty queue")
    finally:
        for proc in watchers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=60)
        log.close()
    assert watchers[1].returncode == 0
    assert_rows_equal(_outputs(out), expected)


def test_a_slow_file_is_not_handed_to_a_second_watcher(
    s3_bucket: S3Bucket,
    make_queue: Callable[[int], Queue],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plain = Pipeline.open_sink
    sinks: list[Any] = []

    def open_sink(self: Pipeline, *_stale: Any) -> Any:
        # The first watcher's sink holds slow.csv longer than the visibility timeout.
        sink = _GatedSink(self.dest, slow_key="slow.csv") if not sinks else plain(self)
        sinks.append(sink)
        return sink

    monkeypatch.setattr(Pipeline, "open_sink", open_sink)
    queue = make_queue(2)
    _notify(s3_bucket, queue)
    _drain_test_event(queue)
    first = _Watcher(_settings(s3_bucket, queue, tmp_path))
    _wait_for(lambda: bool(sinks), what="the first watcher")
    rows = csv_rows(3, 50)
    s3_bucket.put("in/slow.csv", csv_bytes(rows))
    _wait_for(sinks[0].entered.is_set, what="the slow write")
    second_dir = tmp_path / "second"
    second_dir.mkdir()
    second = _Watcher(_settings(s3_bucket, queue, second_dir))
    time.sleep(5)  # two and a half visibility timeouts, extended by the first watcher
    sinks[0].gate.set()
    _wait_for((tmp_path / "out" / "slow.csv.parquet").exists, what="the output")
    _wait_for(lambda: queue.counts() == (0, 0), what="an empty queue")
    assert second.finish().files_completed == 0, "the message was never redelivered"
    assert first.finish().files_completed == 1
    assert not (second_dir / "out").exists()
