"""``replicate snapshot`` (a subprocess) of `.json` files: arrays, objects, JSON lines, files
that are not JSON objects, ``--format``, and the peak memory of streaming a 200 MB array."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from replicator.checkpoint.base import FileRecord
from replicator.checkpoint.sqlite import SqliteCheckpointStore
from tests.benchmarks.jsonarray import MIB, read_peak
from tests.cli import run_cli
from tests.jsondocs import dumps, element, write_array

# The size of the streamed array; CI may lower it (the README's numbers are for 200).
_BIG_MB = float(os.environ.get("REPLICATOR_TEST_JSON_MB", "200"))


def _snapshot(tmp_path: Path, *args: str) -> Any:
    src, out = tmp_path / "src", tmp_path / "out"
    state = tmp_path / "state.db"
    return run_cli(["snapshot", str(src), str(out), "--state", str(state), "--name", "t", *args])


def _record(tmp_path: Path, key: str) -> FileRecord:
    store = SqliteCheckpointStore(tmp_path / "state.db", "t")
    try:
        record = store.get(key)
    finally:
        store.close()
    assert record is not None
    return record


def _output(tmp_path: Path, key: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = pq.read_table(tmp_path / "out" / f"{key}.parquet").to_pylist()
    return [
        {k: v for k, v in r.items() if k not in ("_file", "_row", "_rescued_data")} for r in rows
    ]


def test_snapshot_replicates_arrays_objects_and_json_lines(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    files = {
        "pretty.json": dumps([element(i) for i in range(300)], 2),
        "one.json": dumps(element(5), 4),
        "lines.json": b"".join(dumps(element(i), None) + b"\n" for i in range(50)),
        "packed.json.gz": gzip.compress(dumps([element(i) for i in range(20)], None)),
    }
    for key, data in files.items():
        (src / key).write_bytes(data)

    result = _snapshot(tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    expected = {
        "pretty.json": json.loads(files["pretty.json"]),
        "one.json": [json.loads(files["one.json"])],
        "lines.json": [json.loads(line) for line in files["lines.json"].splitlines()],
        "packed.json.gz": json.loads(gzip.decompress(files["packed.json.gz"])),
    }
    for key, values in expected.items():
        assert _output(tmp_path, key) == values, key
        record = _record(tmp_path, key)
        assert (record.status, record.rows) == ("completed", len(values)), key
    assert not (tmp_path / "out" / "_dead_letter").exists()


def test_files_that_are_not_json_objects_fail_with_the_reason(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    pretty = dumps([element(i) for i in range(10)], 2)
    (src / "table.json").write_bytes(b"id,name\n1,ann\n")
    (src / "numbers.json").write_bytes(b"[1, 2, 3]\n")
    (src / "cut.json").write_bytes(pretty[: len(pretty) // 2])
    (src / "ok.json").write_bytes(pretty)

    result = _snapshot(tmp_path)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    reasons = {
        "table.json": "table.json: not JSON objects: at byte 0, where a JSON array ('[') or "
        "object ('{') should start, it holds 'id,name'",
        "numbers.json": "numbers.json: no rows: none of its 3 values could be read as a row "
        "(line 1, byte 1: not a JSON object but a number)",
        "cut.json": f"cut.json: not valid JSON: at byte {len(pretty) // 2}: the file ends inside "
        "the value at byte ",
    }
    for key, reason in reasons.items():
        record = _record(tmp_path, key)
        assert record.status == "failed", key
        assert record.error is not None
        assert record.error.startswith(reason), record.error
        assert not (tmp_path / "out" / f"{key}.parquet").exists()
        assert key in result.stdout
    assert _output(tmp_path, "ok.json") == json.loads(pretty)
    # The bad values of a failed file are not published either.
    assert not (tmp_path / "out" / "_dead_letter").exists()


def test_bad_values_of_an_array_are_dead_lettered_with_line_and_byte(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    data = b'[\n  {"id": 1},\n  42,\n  {"id": 2}\n]\n'
    (src / "mixed.json").write_bytes(data)

    result = _snapshot(tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert _output(tmp_path, "mixed.json") == [{"id": 1}, {"id": 2}]
    letters = (tmp_path / "out" / "_dead_letter" / "mixed.json.badrows.jsonl").read_text()
    assert [
        (r["line"], r["byte"], r["raw"], r["reason"]) for r in map(json.loads, letters.splitlines())
    ] == [(3, data.index(b"42"), "42", "not a JSON object but a number")]
    assert _record(tmp_path, "mixed.json").rows == 2


def test_format_json_detects_and_format_jsonl_forces_lines(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    data = dumps([element(i) for i in range(5)], 2)
    (src / "dump.txt").write_bytes(data)

    detected = _snapshot(tmp_path, "--format", "json")

    assert detected.returncode == 0, detected.stdout + detected.stderr
    assert _output(tmp_path, "dump.txt") == json.loads(data)

    other = tmp_path / "forced"
    (other / "src").mkdir(parents=True)
    (other / "src" / "a.json").write_bytes(data)
    forced = _snapshot(other, "--format", "jsonl", "--on-bad-rows", "fail")

    assert forced.returncode == 1
    record = _record(other, "a.json")
    assert record.error is not None
    assert record.error.startswith("a.json: cannot read as jsonl: line 1: not valid JSON")


@pytest.mark.slow
def test_a_200_mb_array_streams_in_memory_bounded_by_the_chunk_size(tmp_path: Path) -> None:
    # The reader alone, in a child process of its own: peak RSS on the big array against the
    # same child on a one-object file (what the imports take). Measured: about +15 MB with
    # 1 MiB chunks (and +110 MB with 8 MiB chunks, as much as the same rows as JSON lines).
    big, tiny = tmp_path / "big.json", tmp_path / "tiny.json"
    try:
        count = write_array(big, int(_BIG_MB * 1e6))
        write_array(tiny, 1)
        base, _ = read_peak(tiny, MIB, timeout=60)
        run, rows = read_peak(big, MIB, timeout=110)
    finally:
        big.unlink(missing_ok=True)
    assert rows == count
    grown = run.peak_rss - base.peak_rss
    # A third of the 200 MB file, four times what was measured.
    assert grown < 64 * MIB, f"{grown / MIB:.0f} MiB more than on a one-object file"
