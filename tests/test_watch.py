"""``replicate watch`` by polling: in process on local folders, and as a subprocess on S3."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import fsspec
import pyarrow.parquet as pq
import pytest
import s3fs

from replicator.checkpoint.sqlite import SqliteCheckpointStore
from replicator.config import Settings
from replicator.discovery import poll
from replicator.discovery.listing import Listing
from replicator.model import Chunk, FileInfo
from replicator.runner import snapshot
from replicator.runner.events import FileCompleted, RunSummary
from replicator.runner.events import FileFailed as FileFailedEvent
from replicator.runner.pipeline import Pipeline
from replicator.runner.snapshot import run_snapshot
from replicator.runner.stop import StopToken
from replicator.runner.watch import run_watch
from replicator.sinks.files import FilesSink
from tests.cli import replicate_cmd
from tests.conftest import S3Bucket
from tests.datasets import (
    Rows,
    assert_rows_equal,
    csv_bytes,
    csv_rows,
    local_put,
    make_files,
    read_parquet_outputs,
)


def _wait_for(condition: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class _Watcher:
    """``run_watch`` in a thread, stopped like Ctrl-C."""

    def __init__(self, settings: Settings) -> None:
        self.stop = StopToken()
        self.summary: RunSummary | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(settings,), daemon=True)
        self.thread.start()

    def _run(self, settings: Settings) -> None:
        try:
            self.summary = run_watch(settings, stop=self.stop)
        except BaseException as exc:
            self.error = exc

    def finish(self) -> RunSummary:
        if not self.stop.draining:
            self.stop.request()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error
        assert self.summary is not None
        return self.summary


def _settings(src: Path, out: Path, tmp_path: Path, **kw: Any) -> Settings:
    given: dict[str, Any] = {
        "source": str(src),
        "dest": str(out),
        "state": str(tmp_path / "state.db"),
        "name": "w",
        "poll_interval": 0.1,
        "max_poll_interval": 0.2,
        "concurrency": 2,
        # The files are written just before: a watch would leave them for a later poll.
        "min_age": 0,
    }
    return Settings(**{**given, **kw})


def _outputs(out: Path) -> Any:
    return read_parquet_outputs(fsspec.filesystem("file"), str(out))


def test_watch_local_folder_over_time(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    put = local_put(src)
    expected: Rows = make_files(put, 4, 20)
    watcher = _Watcher(_settings(src, out, tmp_path))
    _wait_for(lambda: _outputs(out).num_rows == 4 * 20 + 3, what="first files")
    assert_rows_equal(_outputs(out), expected)

    more = make_files(put, 3, 10, prefix="later/")
    expected.update(more)
    _wait_for(lambda: len(list(out.rglob("*.parquet"))) == 7, what="new files")
    _wait_for(lambda: _outputs(out).num_rows == sum(map(len, expected.values())), what="rows")
    assert_rows_equal(_outputs(out), expected)

    # Overwrite one: its output is rewritten in place.
    changed = csv_rows(77, 5)
    put("part 0000/data-ü.csv", csv_bytes(changed))
    os.utime(src / "part 0000" / "data-ü.csv", (time.time(), time.time() + 5))
    expected["part 0000/data-ü.csv"] = changed
    _wait_for(
        lambda: pq.read_table(out / "part 0000" / "data-ü.csv.parquet").num_rows == 5,
        what="rewrite",
    )
    summary = watcher.finish()
    assert summary.files_completed == 8
    assert_rows_equal(_outputs(out), expected)

    # Restarted later: nothing done is read again; what arrived meanwhile is replicated.
    expected.update(make_files(put, 2, 9, prefix="meanwhile/"))
    second = _Watcher(_settings(src, out, tmp_path))
    _wait_for(lambda: len(list(out.rglob("*.parquet"))) == 9, what="files after restart")
    summary = second.finish()
    assert summary.files_completed == 2
    assert_rows_equal(_outputs(out), expected)


def test_once_after_snapshot_hands_over(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    expected = make_files(local_put(src), 5, 10)
    assert run_snapshot(_settings(src, out, tmp_path)).files_completed == 5
    expected.update(make_files(local_put(src), 2, 4, prefix="new/"))
    summary = run_watch(_settings(src, out, tmp_path), once=True)
    assert (summary.files_completed, summary.files_failed) == (2, 0)
    assert_rows_equal(_outputs(out), expected)


class _GatedSink(FilesSink):
    """A files sink whose writes of one file wait for a gate: a slow destination."""

    def __init__(self, *args: Any, slow_key: str, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.slow_key = slow_key
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.committed: list[str] = []

    def write(self, chunk: Chunk) -> None:
        if chunk.file.key == self.slow_key:
            self.entered.set()
            assert self.gate.wait(30)
        super().write(chunk)

    def publish(self, files: Sequence[FileInfo]) -> list[BaseException | None]:
        errors = super().publish(files)
        self.committed.extend(f.key for f, e in zip(files, errors, strict=True) if e is None)
        return errors


_plain_open_sink = Pipeline.open_sink


@pytest.fixture
def gated(monkeypatch: pytest.MonkeyPatch) -> list[_GatedSink]:
    made: list[_GatedSink] = []

    def open_sink(self: Pipeline, *_stale: Any) -> _GatedSink:
        sink = _GatedSink(self.dest, slow_key="big.csv")
        made.append(sink)
        return sink

    monkeypatch.setattr(Pipeline, "open_sink", open_sink)
    return made


def test_stop_drains_and_never_records_an_unacked_file(
    tmp_path: Path, gated: list[_GatedSink], monkeypatch: pytest.MonkeyPatch
) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    expected = make_files(local_put(src), 3, 10)
    # A small in-flight limit keeps the reader of the big file mid-file while the sink is held.
    watcher = _Watcher(
        _settings(src, out, tmp_path, chunk_size=64 * 1024, inflight_limit=256 * 1024)
    )
    _wait_for(lambda: bool(gated) and len(gated[0].committed) == 3, what="small files")
    # Added only now, so no small file waits behind it on the same sink worker.
    big = csv_rows(5, 40_000)
    local_put(src)("big.csv", csv_bytes(big))
    _wait_for(gated[0].entered.is_set, what="the slow file")
    # Stop while the big file's first chunk is held by the sink, then let the sink go on.
    watcher.stop.request()
    time.sleep(0.3)
    gated[0].gate.set()
    summary = watcher.finish()
    assert summary.files_completed == 3
    assert not summary.interrupted
    store = SqliteCheckpointStore(tmp_path / "state.db", "w")
    try:
        big_record = store.get("big.csv")
        assert big_record is not None
        assert big_record.status == "in_progress", "a file not fully acked is never recorded done"
        assert {r.key for r in store.list("completed")} == set(expected)
    finally:
        store.close()
    assert not (out / "big.csv.parquet").exists()
    assert not [p for p in out.rglob(".*")], "the partial output was removed"

    # The next run, with a plain sink, finishes it.
    monkeypatch.setattr(Pipeline, "open_sink", _plain_open_sink)
    summary = run_watch(_settings(src, out, tmp_path, chunk_size=64 * 1024), once=True)
    assert summary.files_completed == 1
    assert pq.read_table(out / "big.csv.parquet").column("id").to_pylist() == [r["id"] for r in big]


# -- as a subprocess against S3 on loopback ----------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_watch_subprocess_on_s3_restart_and_kill(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    out, state = tmp_path / "out", tmp_path / "state.db"
    args = [
        "watch",
        s3_bucket.url("in/"),
        str(out),
        "--state",
        str(state),
        "--name",
        "sw",
        "--min-age",
        "0",
        "--poll-interval",
        "0.2s",
        "--max-poll-interval",
        "0.5s",
    ]

    log = (tmp_path / "watch.log").open("ab")

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            replicate_cmd(*args),
            env=s3_bucket.env(),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )

    def put(key: str, data: bytes) -> None:
        s3_bucket.put(f"in/{key}", data)

    def count() -> int:
        return len(list(out.rglob("*.parquet"))) if out.exists() else 0

    def starts() -> int:
        # A process logs its start once its signal handlers are in place.
        return (tmp_path / "watch.log").read_text(errors="replace").count(" watch s3://")

    expected = make_files(put, 4, 15)
    proc = start()
    _wait_for(lambda: count() == 4, 60, "first files")
    expected.update(make_files(put, 3, 5, prefix="step2/"))
    _wait_for(lambda: count() == 7, 60, "files added while running")
    changed = csv_rows(42, 3)
    put("part 0000/data-ü.csv", csv_bytes(changed))
    expected["part 0000/data-ü.csv"] = changed
    _wait_for(
        lambda: pq.read_table(out / "part 0000" / "data-ü.csv.parquet").num_rows == 3, 60, "rewrite"
    )
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    assert_rows_equal(_outputs(out), expected)

    # Restart; add a large file and kill -9 while it is being read.
    expected.update(make_files(put, 2, 5, prefix="step3/"))
    big = csv_rows(9, 300_000)
    put("big/big.csv", csv_bytes(big))
    proc = start()
    # Killed while the big file is in work (read, or waiting for its batch): not committed.
    _wait_for(lambda: any((out / "big").glob(".big.csv.parquet.*.tmp")), 60, "the big file")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    expected["big/big.csv"] = big

    proc = start()
    try:
        _wait_for(lambda: starts() == 3, 60, "the third start")
        _wait_for(lambda: count() == 10, 90, "the big file after the kill")
        _wait_for(
            lambda: _outputs(out).num_rows == sum(map(len, expected.values())), 60, "all rows"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    assert_rows_equal(_outputs(out), expected)
    fs = s3fs.S3FileSystem(
        client_kwargs={"endpoint_url": s3_bucket.endpoint}, skip_instance_cache=True
    )
    assert len(fs.find(f"{s3_bucket.name}/in")) == 10
    log.close()


class _FailingOnceSink(FilesSink):
    """Fails one write in the middle of one file, once; the reader is slower than the sink."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.writes = 0
        self.failed = False

    def write(self, chunk: Chunk) -> None:
        if chunk.file.key == "mid.csv":
            self.writes += 1
            if self.writes == 3 and not self.failed:
                self.failed = True
                raise ValueError("injected failure on the third chunk")
        super().write(chunk)


def test_sink_failure_mid_file_never_commits_a_partial_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sinks: list[_FailingOnceSink] = []

    def open_sink(self: Pipeline, *_stale: Any) -> _FailingOnceSink:
        sinks.append(_FailingOnceSink(self.dest))
        return sinks[-1]

    monkeypatch.setattr(Pipeline, "open_sink", open_sink)
    src, out = tmp_path / "src", tmp_path / "out"
    rows = csv_rows(4, 3000)
    local_put(src)("mid.csv", csv_bytes(rows))
    events: list[Any] = []
    settings = _settings(src, out, tmp_path, chunk_size=1024, concurrency=1)
    stop = StopToken()
    thread = threading.Thread(target=lambda: run_watch(settings, events.append, stop), daemon=True)
    thread.start()
    try:
        _wait_for(lambda: any(isinstance(e, FileCompleted) for e in events), 60, "completion")
    finally:
        stop.request()
        thread.join(timeout=30)
    assert sinks[0].failed
    failures = [e for e in events if isinstance(e, FileFailedEvent)]
    assert len(failures) == 1, "the failure is reported once"
    completed = [e for e in events if isinstance(e, FileCompleted)]
    assert [e.rows for e in completed] == [len(rows)], "only a whole file is ever committed"
    table = pq.read_table(out / "mid.csv.parquet")
    assert table.column("_row").to_pylist() == list(range(len(rows)))
    assert table.column("id").to_pylist() == [r["id"] for r in rows]


def _with_a_ghost(real: Callable[..., list[FileInfo]]) -> Callable[..., list[FileInfo]]:
    """A listing that also names a file deleted right after it was listed."""

    def listing(location: Any, *args: Any, **kw: Any) -> list[FileInfo]:
        ghost = FileInfo(path=location.path("ghost.csv"), key="ghost.csv", size=10, mtime=1.0)
        return [ghost, *real(location, *args, **kw)]

    return listing


def _source_with_a_ghost(real: Callable[..., Listing]) -> Callable[..., Listing]:
    def listing(location: Any, *args: Any, **kw: Any) -> Listing:
        found = real(location, *args, **kw)
        ghost = FileInfo(path=location.path("ghost.csv"), key="ghost.csv", size=10, mtime=1.0)
        return Listing([ghost, *found.files], found.seen + 1, found.hidden)

    return listing


def test_a_file_deleted_after_listing_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(poll, "list_source", _source_with_a_ghost(poll.list_source))
    monkeypatch.setattr(snapshot, "list_source", _source_with_a_ghost(snapshot.list_source))
    src, out = tmp_path / "src", tmp_path / "out"
    expected = make_files(local_put(src), 3, 5)
    summary = run_watch(_settings(src, out, tmp_path), once=True)
    assert (summary.files_vanished, summary.files_completed, summary.files_failed) == (1, 3, 0)
    assert_rows_equal(_outputs(out), expected)
    again = run_snapshot(_settings(src, out, tmp_path, full_refresh=True))
    assert (again.files_vanished, again.files_completed, again.files_failed) == (1, 3, 0)


def test_second_stop_aborts_at_once_and_records_nothing_unfinished(
    tmp_path: Path, gated: list[_GatedSink]
) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    expected = make_files(local_put(src), 2, 10)
    watcher = _Watcher(
        _settings(src, out, tmp_path, chunk_size=64 * 1024, inflight_limit=256 * 1024)
    )
    _wait_for(lambda: bool(gated) and len(gated[0].committed) == 2, what="small files")
    local_put(src)("big.csv", csv_bytes(csv_rows(5, 40_000)))
    _wait_for(gated[0].entered.is_set, what="the slow file")
    watcher.stop.request()
    watcher.stop.request()  # the second Ctrl-C: do not wait for the sink
    watcher.thread.join(timeout=10)
    assert not watcher.thread.is_alive(), "an abort does not wait for a stuck sink write"
    gated[0].gate.set()
    assert watcher.summary is not None
    assert watcher.summary.interrupted
    store = SqliteCheckpointStore(tmp_path / "state.db", "w")
    try:
        assert {r.key for r in store.list("completed")} == set(expected)
        assert [r.key for r in store.list("in_progress")] == ["big.csv"]
    finally:
        store.close()
    assert not (out / "big.csv.parquet").exists()
