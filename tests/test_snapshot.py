"""Snapshots end to end, in process, on local folders."""

from __future__ import annotations

import os
from pathlib import Path

import fsspec
import pyarrow.parquet as pq

from replicator.checkpoint.sqlite import SqliteCheckpointStore
from replicator.config import Settings
from replicator.runner.events import Event, FileCompleted
from replicator.runner.snapshot import run_snapshot
from tests.datasets import (
    assert_rows_equal,
    csv_bytes,
    csv_rows,
    local_put,
    make_files,
    read_parquet_outputs,
)


def _settings(src: Path, out: Path, state: Path, **kw: object) -> Settings:
    return Settings(source=str(src), dest=str(out), state=str(state), name="t", concurrency=3, **kw)  # type: ignore[arg-type]


def test_snapshot_copies_every_row_once_and_reruns_skip(tmp_path: Path) -> None:
    src, out, state = tmp_path / "src", tmp_path / "out", tmp_path / "state.db"
    expected = make_files(local_put(src), 12, 50)
    (src / "empty.csv").write_bytes(b"")

    summary = run_snapshot(_settings(src, out, state))

    assert summary.ok
    assert summary.files_completed == 12
    assert summary.rows == sum(len(r) for r in expected.values())
    fs = fsspec.filesystem("file")
    assert_rows_equal(read_parquet_outputs(fs, str(out)), expected)
    assert (out / "part 0000" / "data-ü.csv.parquet").exists()
    assert not [p for p in out.rglob(".*")], "no temp files are left behind"

    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.parquet")}
    again = run_snapshot(_settings(src, out, state))
    assert (again.files_completed, again.files_skipped) == (0, 12)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.parquet")} == mtimes

    # A changed file is redone, in place; the others stay skipped.
    changed = csv_rows(99, 7)
    local_put(src)("part 0000/data-ü.csv", csv_bytes(changed))
    os.utime(src / "part 0000" / "data-ü.csv", (1, 2_000_000_000))
    expected["part 0000/data-ü.csv"] = changed
    third = run_snapshot(_settings(src, out, state))
    assert (third.files_completed, third.files_skipped) == (1, 11)
    assert_rows_equal(read_parquet_outputs(fs, str(out)), expected)

    refresh = run_snapshot(_settings(src, out, state, full_refresh=True))
    assert refresh.files_completed == 12
    assert_rows_equal(read_parquet_outputs(fs, str(out)), expected)

    store = SqliteCheckpointStore(state, "t")
    try:
        record = store.get("p0001.jsonl.gz")
        assert record is not None
        assert record.status == "completed"
        assert record.rows == len(expected["p0001.jsonl.gz"])
        assert record.outputs == (str(out / "p0001.jsonl.gz.parquet"),)
    finally:
        store.close()


def test_failed_file_is_reported_and_others_complete(tmp_path: Path) -> None:
    src, out, state = tmp_path / "src", tmp_path / "out", tmp_path / "state.db"
    expected = make_files(local_put(src), 4, 10)
    (src / "broken.jsonl.gz").write_bytes(b"\x1f\x8b\x08\x00not really gzip at all")
    events: list[Event] = []

    summary = run_snapshot(_settings(src, out, state), events.append)

    assert summary.files_failed == 1
    assert not summary.ok
    assert summary.failures[0][0] == "broken.jsonl.gz"
    assert "broken.jsonl.gz" in summary.failures[0][1]
    assert_rows_equal(read_parquet_outputs(fsspec.filesystem("file"), str(out)), expected)
    assert not (out / "broken.jsonl.gz.parquet").exists()
    done = {e.file.key for e in events if isinstance(e, FileCompleted)}
    assert done == set(expected)
    store = SqliteCheckpointStore(state, "t")
    try:
        record = store.get("broken.jsonl.gz")
        assert record is not None
        assert record.status == "failed"
    finally:
        store.close()
    # The next run skips the failed file (same version) and reports it; the run is not ok.
    second = run_snapshot(_settings(src, out, state))
    assert (second.files_failed, second.files_failed_before, second.files_skipped) == (0, 1, 4)
    assert not second.ok
    assert second.failures[0][0] == "broken.jsonl.gz"
    assert second.failures[0][1].startswith("skipped (failed before; --retry-failed to retry)")
    # --retry-failed tries it again (and it fails again); the completed ones stay skipped.
    third = run_snapshot(_settings(src, out, state, retry_failed=True))
    assert (third.files_failed, third.files_failed_before, third.files_skipped) == (1, 0, 4)


def test_all_formats_of_the_demo(tmp_path: Path) -> None:
    demo = Path(__file__).parent.parent / "configs" / "demo" / "data"
    out = tmp_path / "out"
    summary = run_snapshot(_settings(demo, out, tmp_path / "s.db"))
    assert summary.ok, summary.failures
    outputs = sorted(str(p.relative_to(out)) for p in out.rglob("*.parquet"))
    assert outputs == [
        "events/2026-11-01.jsonl.gz.parquet",
        "events/2026-11-02.jsonl.gz.parquet",
        "events/2026-11-03.jsonl.gz.parquet",
        "logs/app.log.zst.parquet",
        "metrics.parquet.parquet",
        "orders/catalog.tsv.bz2.parquet",
        "orders/orders-2026-11.csv.parquet",
    ]
    orders = pq.read_table(out / "orders/orders-2026-11.csv.parquet")
    source_lines = (demo / "orders/orders-2026-11.csv").read_text().splitlines()
    assert orders.num_rows == len(source_lines) - 1
    assert orders.column("order_id").to_pylist() == [
        int(line.split(",")[0]) for line in source_lines[1:]
    ]
    assert "New York, NY" in orders.column("city").to_pylist()
    events = pq.read_table(out / "events/2026-11-01.jsonl.gz.parquet")
    assert events.schema.field("device").type.num_fields == 2
    logs = pq.read_table(out / "logs/app.log.zst.parquet")
    assert (
        logs.column("line").to_pylist()[3] == "2026-11-01T00:00:03Z INFO worker-3 handled request 3"
    )
    metrics = pq.read_table(out / "metrics.parquet.parquet")
    original = pq.read_table(demo / "metrics.parquet")
    assert metrics.select(original.column_names).equals(original)
