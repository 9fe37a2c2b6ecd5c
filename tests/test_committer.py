"""Group commit: finished files published and recorded in batches, off the reading threads."""

from __future__ import annotations

import errno
import io
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from replicator.checkpoint.sqlite import SqliteCheckpointStore
from replicator.cli.logs import LogView
from replicator.config import Settings
from replicator.deadletter import Lettered
from replicator.errors import StorageError
from replicator.model import FileInfo
from replicator.retry import Backoff
from replicator.runner import committer as committer_module
from replicator.runner import snapshot, watch
from replicator.runner.committer import Committer, Handoff
from replicator.runner.events import (
    Event,
    FileCompleted,
    FileFailed,
    FileFinished,
    FilesDiscovered,
    FileStarted,
    Notice,
)
from replicator.runner.snapshot import run_snapshot
from replicator.runner.watch import run_watch
from replicator.sinks import durable, files
from replicator.sinks.base import Committed
from tests.datasets import assert_rows_equal, local_put, make_files, read_parquet_outputs
from tests.test_sinks import info, listing, local_sink, rows_table, write_file


def _settings(src: Path, out: Path, state: Path, **kw: object) -> Settings:
    kw.setdefault("concurrency", 3)
    # min_age 0: the files are written just before a watch, which would leave them for later.
    kw = {"min_age": 0, **kw}
    return Settings(source=str(src), dest=str(out), state=str(state), name="t", **kw)  # type: ignore[arg-type]


def _store(tmp_path: Path) -> SqliteCheckpointStore:
    return SqliteCheckpointStore(tmp_path / "state.db", "t")


def _statuses(state: Path) -> dict[str, str]:
    """Each recorded key's status in the state file."""
    store = SqliteCheckpointStore(state, "t")
    try:
        return {record.key: record.status for record in store.list()}
    finally:
        store.close()


def test_a_batch_is_synced_then_renamed_then_synced_then_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The order that keeps the rule: data durable, then visible, renames durable, recorded."""
    out = tmp_path / "out"
    log: list[tuple[str, Any]] = []
    real_sync, real_replace = files.sync_files, os.replace

    def sync_files(fds: Sequence[int]) -> None:
        log.append(("sync data", sorted(os.readlink(f"/proc/self/fd/{fd}") for fd in fds)))
        real_sync(fds)

    def replace(src: str, dst: str) -> None:
        log.append(("rename", dst))
        real_replace(src, dst)

    def sync_filesystems_of(folders: Sequence[str]) -> None:
        log.append(("sync renames", sorted(folders)))

    monkeypatch.setattr(files, "sync_files", sync_files)
    monkeypatch.setattr(files.os, "replace", replace)
    monkeypatch.setattr(files, "shares_syncs", lambda fd: True)
    monkeypatch.setattr(files, "sync_filesystems_of", sync_filesystems_of)
    keys = [f"d{i % 2}/f{i}.csv" for i in range(5)]
    tables = {key: rows_table(key, n=7) for key in keys}
    store = _store(tmp_path)
    settled: list[tuple[str, BaseException | None]] = []
    real_record = store.record_completed

    def record_completed(records: Any) -> None:
        log.append(("record", sorted(r.key for r in records)))
        # Everything recorded is visible and complete at its final path by now.
        for record in records:
            assert (out / f"{record.key}.parquet").exists()
        real_record(records)

    monkeypatch.setattr(store, "record_completed", record_completed)
    with local_sink(tmp_path) as sink:
        committer = Committer(sink, store, lambda h, e: settled.append((h.file.key, e)))
        for key in keys:
            write_file(sink, key, tables[key])
            committed = sink.finish(info(key))
            assert not (out / f"{key}.parquet").exists(), "invisible until published"
            committer.submit(Handoff(info(key), committed, Lettered(), time.monotonic()))
        committer.close()
    store.close()

    assert settled == [(key, None) for key in keys]
    temps = log[0][1]
    assert log[0][0] == "sync data"
    assert len(temps) == 5
    assert all(os.path.basename(t).startswith(".f") and t.endswith(".tmp") for t in temps)
    assert [entry[0] for entry in log] == ["sync data", *["rename"] * 5, "sync renames", "record"]
    assert log[-2][1] == sorted({str(out / "d0"), str(out / "d1")})
    assert log[-1][1] == sorted(keys)
    for key in keys:
        assert pq.read_table(out / f"{key}.parquet").equals(tables[key])
    assert not [p for p in listing(out) if p.endswith(".tmp")]


def test_sync_files_uses_one_syncfs_per_filesystem_through_the_first_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    fsyncs: list[int] = []

    def syncfs(fd: int) -> int:
        calls.append(fd)
        return 0

    monkeypatch.setattr(durable, "_SYNCFS", syncfs)
    monkeypatch.setattr(durable.os, "fsync", fsyncs.append)
    handles = [open(tmp_path / f"f{i}", "wb") for i in range(3)]  # noqa: SIM115
    try:
        fds = [h.fileno() for h in handles]
        durable.sync_files(fds)
        assert (calls, fsyncs) == ([fds[0]], [])
        durable.sync_files(fds[1:2])  # one file: its own fsync
        assert (calls, fsyncs) == ([fds[0]], [fds[1]])
        # A sandbox that refuses syncfs: every file is fsynced, and syncfs is not tried again.
        monkeypatch.setattr(durable, "_SYNCFS", lambda fd: calls.append(fd) or -1)
        monkeypatch.setattr(durable.ctypes, "get_errno", lambda: errno.ENOSYS)
        durable.sync_files(fds)
        assert fsyncs == [fds[1], *fds]
        assert durable._SYNCFS is None
        assert not durable.shares_syncs(fds[0])
    finally:
        for handle in handles:
            handle.close()


def test_syncfs_is_used_only_on_filesystems_known_to_report_its_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    device = os.stat(tmp_path).st_dev
    kind = durable._filesystem_type(device)
    assert isinstance(kind, str)
    assert kind, "the folder's filesystem is found in /proc/self/mountinfo"
    monkeypatch.setattr(durable, "_SYNCFS", lambda fd: 0)
    with open(tmp_path / "f", "wb") as handle:
        for kind, shares in (("ext4", True), ("fuse.sshfs", False), ("overlay", False)):
            monkeypatch.setattr(durable, "_shares_by_device", {})
            monkeypatch.setattr(durable, "_filesystem_type", lambda device, kind=kind: kind)
            assert durable.shares_syncs(handle.fileno()) is shares, kind


@pytest.mark.parametrize(
    ("release", "version"),
    [("6.18.44-fc-v669", (6, 18)), ("5.8.0", (5, 8)), ("4.19.0-generic", (4, 19)), ("x", (0, 0))],
)
def test_kernel_version_is_read_from_the_release(
    monkeypatch: pytest.MonkeyPatch, release: str, version: tuple[int, int]
) -> None:
    monkeypatch.setattr(durable.platform, "release", lambda: release)
    assert durable._kernel_version() == version


def test_a_full_backlog_blocks_hand_overs_until_a_batch_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(committer_module, "LINGER_SECONDS", 0.0)
    release = threading.Event()
    published: list[list[str]] = []

    class SlowSink:
        def publish(self, batch: Sequence[FileInfo]) -> list[BaseException | None]:
            published.append([f.key for f in batch])
            release.wait(10)
            return [None] * len(batch)

    store = _store(tmp_path)
    settled: list[str] = []
    committer = Committer(SlowSink(), store, lambda h, e: settled.append(h.file.key), capacity=2)  # type: ignore[arg-type]

    def handoff(key: str) -> Handoff:
        return Handoff(info(key), Committed(("x",), 1), Lettered(), time.monotonic())

    committer.submit(handoff("a"))
    deadline = time.monotonic() + 5
    while not published and time.monotonic() < deadline:
        time.sleep(0.01)
    committer.submit(handoff("b"))
    committer.submit(handoff("c"))  # the backlog is now full: the committer is busy with "a"
    fourth = threading.Thread(target=committer.submit, args=(handoff("d"),))
    fourth.start()
    time.sleep(0.3)
    assert fourth.is_alive(), "the fourth hand-over waits for room"
    assert not committer.idle()
    release.set()
    fourth.join(5)
    assert not fourth.is_alive()
    committer.close()
    store.close()
    assert sorted(settled) == ["a", "b", "c", "d"]
    assert published[0] == ["a"]
    assert sorted(k for batch in published for k in batch) == ["a", "b", "c", "d"]
    assert committer.idle()


def test_a_batch_lingers_for_more_files_unless_someone_waits_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(committer_module, "LINGER_SECONDS", 3.0)
    published: list[tuple[float, list[str]]] = []

    class Sink:
        def publish(self, batch: Sequence[FileInfo]) -> list[BaseException | None]:
            published.append((time.monotonic(), [f.key for f in batch]))
            return [None] * len(batch)

    store = _store(tmp_path)
    committer = Committer(Sink(), store, lambda h, e: None)  # type: ignore[arg-type]
    try:
        for key in "ab":
            committer.submit(Handoff(info(key), Committed(("x",), 1), Lettered(), time.monotonic()))
        time.sleep(0.3)
        assert published == [], "the batch stays open for more files"
        waited = time.monotonic()
        while not committer.idle() and time.monotonic() < waited + 10:
            committer.wait_for_progress(0.1)  # as a reading thread with nothing left to read
        assert committer.idle()
        assert [keys for _, keys in published] == [["a", "b"]]
        assert published[0][0] - waited < 1.0, "a waiter closes the batch without lingering"
    finally:
        committer.close()
        store.close()


def test_threads_waiting_for_a_slow_batch_sleep_instead_of_waking_each_other(
    tmp_path: Path,
) -> None:
    class SlowSink:
        def publish(self, batch: Sequence[FileInfo]) -> list[BaseException | None]:
            time.sleep(0.5)
            return [None] * len(batch)

    store = _store(tmp_path)
    committer = Committer(SlowSink(), store, lambda h, e: None)  # type: ignore[arg-type]
    calls = [0, 0, 0]

    def wait(index: int) -> None:  # as the reading threads with nothing left to read
        deadline = time.monotonic() + 10
        while not committer.idle() and time.monotonic() < deadline:
            committer.wait_for_progress(0.1)
            calls[index] += 1

    try:
        committer.submit(Handoff(info("a"), Committed(("x",), 1), Lettered(), time.monotonic()))
        waiters = [threading.Thread(target=wait, args=(i,)) for i in range(3)]
        for thread in waiters:
            thread.start()
        for thread in waiters:
            thread.join(15)
        assert committer.idle()
        # About one call per 0.1 s timeout while the 0.5 s sync runs, not thousands.
        assert max(calls) < 30, calls
    finally:
        committer.close()
        store.close()


def test_close_reports_every_file_and_raises_the_first_callback_error(tmp_path: Path) -> None:
    class Sink:
        def publish(self, batch: Sequence[FileInfo]) -> list[BaseException | None]:
            return [None] * len(batch)

    seen: list[str] = []

    def on_settled(handoff: Handoff, error: BaseException | None) -> None:
        seen.append(handoff.file.key)
        if handoff.file.key == "b":
            raise RuntimeError("boom")

    store = _store(tmp_path)
    committer = Committer(Sink(), store, on_settled)  # type: ignore[arg-type]
    for key in "abc":
        committer.submit(Handoff(info(key), Committed((), 0), Lettered(), time.monotonic()))
    with pytest.raises(RuntimeError, match="boom"):
        committer.close()
    store.close()
    assert seen == ["a", "b", "c"]


def test_a_failed_sync_redoes_the_batch_and_every_row_arrives_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, out, state = tmp_path / "src", tmp_path / "out", tmp_path / "state.db"
    expected = make_files(local_put(src), 12, 30)
    real_sync = files.sync_files
    failures = [0]

    def flaky(fds: Sequence[int]) -> None:
        if failures[0] < 2:
            failures[0] += 1
            raise OSError(errno.EIO, "Input/output error")
        real_sync(fds)

    monkeypatch.setattr(files, "sync_files", flaky)
    monkeypatch.setattr(files, "shares_syncs", lambda fd: True)
    monkeypatch.setattr(snapshot, "FILE_RETRIES", Backoff(base=0.01))
    events: list[Event] = []
    summary = run_snapshot(_settings(src, out, state), events.append)

    assert summary.ok, summary.failures
    assert summary.files_completed == 12
    assert failures[0] == 2
    assert any(isinstance(e, Notice) and "redoing the file" in e.message for e in events)
    assert len([e for e in events if isinstance(e, FileCompleted)]) == 12
    assert_rows_equal(read_parquet_outputs(fsspec.filesystem("file"), str(out)), expected)
    assert not [p for p in listing(out) if p.endswith(".tmp")]


def test_a_sync_that_keeps_failing_records_the_files_failed_and_shows_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, out, state = tmp_path / "src", tmp_path / "out", tmp_path / "state.db"
    make_files(local_put(src), 4, 10)
    calls = [0]

    def broken(fds: Sequence[int]) -> None:
        calls[0] += 1
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(files, "sync_files", broken)
    monkeypatch.setattr(files, "shares_syncs", lambda fd: True)
    monkeypatch.setattr(snapshot, "FILE_RETRIES", Backoff(base=0.01))
    events: list[Event] = []
    summary = run_snapshot(_settings(src, out, state), events.append)

    assert (summary.files_completed, summary.files_failed) == (0, 4)
    assert all("Input/output error" in reason for _, reason in summary.failures)
    assert len([e for e in events if isinstance(e, FileFailed)]) == 4
    assert 3 <= calls[0] <= 12, "each file is read and published three times in all"
    # The pipeline's schema is published at the start; no output and no temp file is left.
    assert listing(out) == ["_common_metadata"]
    assert set(_statuses(state).values()) == {"failed"}


def test_a_full_disk_stops_the_run_with_nothing_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, out, state = tmp_path / "src", tmp_path / "out", tmp_path / "state.db"
    make_files(local_put(src), 4, 10)

    def full(fds: Sequence[int]) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files, "sync_files", full)
    monkeypatch.setattr(files, "shares_syncs", lambda fd: True)
    with pytest.raises(StorageError, match="No space left"):
        run_snapshot(_settings(src, out, state))
    assert listing(out) == ["_common_metadata"]
    assert "completed" not in _statuses(state).values()


def test_a_refused_rename_stops_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src, out, state = tmp_path / "src", tmp_path / "out", tmp_path / "state.db"
    make_files(local_put(src), 6, 10)

    def refuse(src_path: str, dst: str) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", dst)

    monkeypatch.setattr(files.os, "replace", refuse)
    with pytest.raises(StorageError, match="access denied"):
        run_snapshot(_settings(src, out, state))
    assert "completed" not in _statuses(state).values()
    assert not [p for p in listing(out) if p.endswith(".parquet")]


def test_a_state_store_that_refuses_writes_stops_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, out, state = tmp_path / "src", tmp_path / "out", tmp_path / "state.db"
    make_files(local_put(src), 40, 200)

    def refuse(self: SqliteCheckpointStore, records: Any) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(SqliteCheckpointStore, "record_completed", refuse)
    monkeypatch.setattr(SqliteCheckpointStore, "record_failed", refuse)
    # Batches without lingering: the first one fails long before 40 small files are read.
    monkeypatch.setattr(committer_module, "LINGER_SECONDS", 0.0)
    events: list[Event] = []
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        run_snapshot(_settings(src, out, state, concurrency=2), events.append)
    started = [e for e in events if isinstance(e, FileStarted)]
    assert len(started) < 40, "the run stopped instead of reading every file"


def test_an_abort_waits_for_a_publish_in_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    real_sync = files.sync_files

    def slow(fds: Sequence[int]) -> None:
        entered.set()
        release.wait(10)
        real_sync(fds)

    monkeypatch.setattr(files, "sync_files", slow)
    monkeypatch.setattr(files, "shares_syncs", lambda fd: True)
    table = rows_table("a.csv", n=5)
    sink = local_sink(tmp_path)
    write_file(sink, "a.csv", table)
    sink.finish(info("a.csv"))
    results: list[BaseException | None] = []
    publisher = threading.Thread(target=lambda: results.extend(sink.publish([info("a.csv")])))
    publisher.start()
    assert entered.wait(5)
    closer = threading.Thread(target=sink.close)
    closer.start()
    time.sleep(0.2)
    assert closer.is_alive(), "close waits for the publish"
    release.set()
    publisher.join(5)
    closer.join(5)
    assert results == [None]
    assert pq.read_table(tmp_path / "out" / "a.csv.parquet").equals(table)
    assert listing(tmp_path / "out") == ["a.csv.parquet"]


def test_finished_outputs_waiting_to_be_published_hold_no_write_buffers(tmp_path: Path) -> None:
    table = rows_table("a.csv", n=5)
    with local_sink(tmp_path) as sink:
        before = pa.total_allocated_bytes()
        for i in range(16):
            write_file(sink, f"f{i}.csv", table)
            sink.finish(info(f"f{i}.csv"))
        held = pa.total_allocated_bytes() - before
        assert held < 4 * 1024 * 1024, f"{held} bytes held by 16 finished outputs"
        assert sink.publish([info(f"f{i}.csv") for i in range(16)]) == [None] * 16


def test_watch_commits_in_batches_and_redoes_a_file_whose_publish_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, out, state = tmp_path / "src", tmp_path / "out", tmp_path / "state.db"
    expected = make_files(local_put(src), 10, 30)
    real_sync = files.sync_files
    calls: list[int] = []

    def flaky(fds: Sequence[int]) -> None:
        calls.append(len(fds))
        if len(calls) == 1:
            raise OSError(errno.EIO, "Input/output error")
        real_sync(fds)

    monkeypatch.setattr(files, "sync_files", flaky)
    monkeypatch.setattr(files, "shares_syncs", lambda fd: True)
    monkeypatch.setattr(watch, "FILE_RETRIES", Backoff(base=0.01))
    events: list[Event] = []
    summary = run_watch(_settings(src, out, state), events.append, once=True)

    assert (summary.files_completed, summary.files_failed) == (10, 0)
    assert any(isinstance(e, Notice) and "redoing the file" in e.message for e in events)
    assert max(calls) > 1, "files were published in batches"
    assert_rows_equal(read_parquet_outputs(fsspec.filesystem("file"), str(out)), expected)
    assert _statuses(state) == dict.fromkeys(expected, "completed")


@pytest.mark.parametrize("command", ["snapshot", "watch --once"])
def test_the_last_files_of_a_run_do_not_wait_for_a_lingering_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    src, out, state = tmp_path / "src", tmp_path / "out", tmp_path / "state.db"
    expected = make_files(local_put(src), 6, 20)
    monkeypatch.setattr(committer_module, "LINGER_SECONDS", 5.0)
    waits = 0
    wait_for_progress = Committer.wait_for_progress

    def counted(self: Committer, timeout: float) -> None:
        nonlocal waits
        waits += 1
        wait_for_progress(self, timeout)

    monkeypatch.setattr(Committer, "wait_for_progress", counted)
    started = time.monotonic()
    if command == "snapshot":
        summary = run_snapshot(_settings(src, out, state))
    else:
        summary = run_watch(_settings(src, out, state), once=True)
    assert summary.files_completed == 6
    assert time.monotonic() - started < 4.0, "the run's last batch lingered"
    assert 0 < waits < 200, f"{waits} waits: the idle threads should sleep, not spin"
    assert_rows_equal(read_parquet_outputs(fsspec.filesystem("file"), str(out)), expected)
    assert _statuses(state) == dict.fromkeys(expected, "completed")


def test_views_count_files_waiting_for_their_batch_as_committing() -> None:
    stream = io.StringIO()
    view = LogView(stream)
    file = info("a.csv")
    view(FilesDiscovered(3, 300, 0))
    view(FileStarted(file))
    view(FileFinished(file))
    tally = view.tally
    assert (len(tally.in_work), len(tally.committing), tally.waiting) == (0, 1, 2)
    assert "0 in work, 1 committing, 2 waiting" in view._progress()
    view(FileCompleted(file, 10, ("out",), 0.1))
    assert (tally.completed, len(tally.committing), tally.waiting) == (1, 0, 2)
    assert "0 in work, 2 waiting" in view._progress()
