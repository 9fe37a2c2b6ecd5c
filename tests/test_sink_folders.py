"""Local output folders: parquet encodings, stale temp files swept, folder fsyncs shared."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from replicator.sinks import folders
from replicator.sinks.folders import LocalFolders, is_stale_temp, sweep, temp_path
from tests.test_sinks import info, local_sink, rows_table, write_file


def test_dictionaries_only_for_text_and_row_numbers_delta_encoded(tmp_path: Path) -> None:
    table = rows_table("a.csv", n=50)
    with local_sink(tmp_path) as sink:
        write_file(sink, "a.csv", table)
        sink.commit(info("a.csv"))
    path = tmp_path / "out" / "a.csv.parquet"
    assert pq.read_table(path).equals(table)
    group = pq.ParquetFile(path).metadata.row_group(0)
    encodings = {
        group.column(i).path_in_schema: set(group.column(i).encodings)
        for i in range(group.num_columns)
    }
    dictionary = {"RLE_DICTIONARY", "PLAIN_DICTIONARY"}
    for text in ("name", "where.city", "_file"):
        assert encodings[text] & dictionary, text
    for other in ("id", "score", "at", "where.tags.list.element"):
        assert not encodings[other] & dictionary, other
    assert "DELTA_BINARY_PACKED" in encodings["_row"]


def dead_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(child.stdout)


def test_temp_names_tell_stale_from_live(tmp_path: Path) -> None:
    now = time.time()
    ours = os.path.basename(temp_path(str(tmp_path / "a.parquet")))
    assert ours.startswith(".a.parquet.")
    assert ours.endswith(".tmp")
    assert not is_stale_temp(ours, now, now=now)  # this process is alive
    host = ours.split(".")[-2].split("-")[0]
    dead = f".a.parquet.{host}-{dead_pid()}-0123abcd.tmp"
    assert is_stale_temp(dead, now, now=now)
    other_host = f".a.parquet.{'0' * 6 if host != '0' * 6 else '1' * 6}-{dead_pid()}-0123abcd.tmp"
    assert not is_stale_temp(other_host, now - 3600, now=now)
    assert is_stale_temp(other_host, now - folders.STALE_AFTER_SECONDS - 1, now=now)
    assert not is_stale_temp(".a.parquet.tmp", 0.0, now=now)  # not one of ours: never touched


def test_first_write_into_a_folder_removes_stale_temps_only(tmp_path: Path) -> None:
    out = tmp_path / "out" / "in"
    out.mkdir(parents=True)
    ours = os.path.basename(temp_path(str(out / "x.parquet")))
    host = ours.split(".")[-2].split("-")[0]
    stale = out / f".b.csv.parquet.{host}-{dead_pid()}-0123abcd.tmp"
    live = out / f".c.csv.parquet.{host}-{os.getppid()}-0123abcd.tmp"
    foreign = out / ".notes.tmp"
    deeper = out / "sub" / f".d.csv.parquet.{host}-{dead_pid()}-0123abcd.tmp"
    deeper.parent.mkdir()
    for path in (stale, live, foreign, deeper):
        path.write_bytes(b"partial")
    table = rows_table("in/a.csv", n=5)
    with local_sink(tmp_path) as sink:
        write_file(sink, "in/a.csv", table)
        sink.commit(info("in/a.csv"))
    left = sorted(p.name for p in out.iterdir() if p.is_file())
    assert left == sorted([live.name, foreign.name, "a.csv.parquet"])
    assert deeper.exists()  # only the folders written into are swept
    assert sweep(str(out / "sub")) == 1
    assert not deeper.exists()


def test_concurrent_folder_syncs_share_fsyncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[float] = []
    first_started = threading.Event()
    release = threading.Event()

    def slow_fsync(folder: str) -> None:
        calls.append(time.monotonic())
        first_started.set()
        release.wait(5)

    monkeypatch.setattr(folders, "fsync_folder", slow_fsync)
    local = LocalFolders()
    done: list[int] = []
    first = threading.Thread(target=lambda: (local.sync(str(tmp_path)), done.append(0)))
    first.start()
    assert first_started.wait(5)
    # These arrive while the first fsync runs: it may not cover their renames, one more must.
    others = [
        threading.Thread(target=lambda i=i: (local.sync(str(tmp_path)), done.append(i)))
        for i in range(1, 8)
    ]
    for thread in others:
        thread.start()
    time.sleep(0.2)
    assert len(calls) == 1
    assert not done
    release.set()
    for thread in (first, *others):
        thread.join(5)
    assert sorted(done) == list(range(8))
    assert len(calls) == 2


def test_a_failed_folder_fsync_fails_its_caller_and_the_next_caller_tries_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcomes = [OSError(5, "Input/output error"), None]

    def flaky(folder: str) -> None:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome

    monkeypatch.setattr(folders, "fsync_folder", flaky)
    local = LocalFolders()
    with pytest.raises(OSError, match="Input/output"):
        local.sync(str(tmp_path))
    local.sync(str(tmp_path))
    assert outcomes == []


def test_a_temp_file_whose_writer_holds_its_lock_is_kept(tmp_path: Path) -> None:
    ours = os.path.basename(temp_path(str(tmp_path / "x.parquet")))
    host = ours.split(".")[-2].split("-")[0]
    # Tagged with a pid that is not alive here (another pid namespace, say), but locked.
    held = tmp_path / f".b.parquet.{host}-{dead_pid()}-0123abcd.tmp"
    held.write_bytes(b"partial")
    fd = os.open(held, os.O_RDONLY)
    try:
        folders.lock_temp(fd)
        assert sweep(str(tmp_path)) == 0
        assert held.exists()
    finally:
        os.close(fd)
    assert sweep(str(tmp_path)) == 1
    assert not held.exists()


def test_a_failed_folder_fsync_fails_every_caller_it_covered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def failing(folder: str) -> None:
        calls.append(folder)
        started.set()
        release.wait(5)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(folders, "fsync_folder", failing)
    local = LocalFolders()
    errors: list[BaseException] = []

    def sync() -> None:
        try:
            local.sync(str(tmp_path))
        except OSError as exc:
            errors.append(exc)

    first = threading.Thread(target=sync)
    first.start()
    assert started.wait(5)
    waiting = [threading.Thread(target=sync) for _ in range(3)]
    for thread in waiting:
        thread.start()
    time.sleep(0.2)
    release.set()
    for thread in (first, *waiting):
        thread.join(5)
    # The first fsync was to cover only the first caller; the second (for the three that
    # waited) failed too. Nobody was told "durable", and nobody tried a third time.
    assert len(errors) == 4
    assert len(calls) == 2


def test_new_folders_are_made_durable_in_their_parents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    monkeypatch.setattr(folders, "fsync_folder", synced.append)
    (tmp_path / "a").mkdir()
    LocalFolders().prepare(str(tmp_path / "a" / "b" / "c"))
    assert (tmp_path / "a" / "b" / "c").is_dir()
    assert synced == [str(tmp_path / "a"), str(tmp_path / "a" / "b")]


def test_a_source_text_column_named_row_is_written_like_any_other(tmp_path: Path) -> None:
    # With --no-system-columns a source's own "_row" may be text: no integer encoding for it.
    table = pa.table({"_row": ["a", "b", "a"], "n": [1, 2, 3]})
    with local_sink(tmp_path) as sink:
        write_file(sink, "t.csv", table)
        sink.commit(info("t.csv"))
    path = tmp_path / "out" / "t.csv.parquet"
    assert pq.read_table(path).equals(table)
    encodings = set(pq.ParquetFile(path).metadata.row_group(0).column(0).encodings)
    assert "DELTA_BINARY_PACKED" not in encodings
    assert encodings & {"RLE_DICTIONARY", "PLAIN_DICTIONARY"}
