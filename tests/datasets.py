"""Small deterministic source data sets for end-to-end tests, and a reader of the outputs."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from replicator.checkpoint.sqlite import SqliteCheckpointStore

Rows = dict[str, list[dict[str, Any]]]


def csv_rows(seed: int, n: int) -> list[dict[str, Any]]:
    return [
        {"id": seed * 100_000 + i, "name": f"n{seed}-{i} é", "score": round(i * 0.5 + seed, 2)}
        for i in range(n)
    ]


def csv_bytes(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    out.write("id,name,score\n")
    for r in rows:
        out.write(f"{r['id']},{r['name']},{r['score']}\n")
    return out.getvalue().encode()


def jsonl_gz_bytes(rows: list[dict[str, Any]]) -> bytes:
    text = "".join(json.dumps(r) + "\n" for r in rows)
    return gzip.compress(text.encode())


def make_files(
    put: Callable[[str, bytes], None], count: int, rows_per_file: int, *, prefix: str = ""
) -> Rows:
    """Write ``count`` files (CSV and gzip'd JSON-lines, alternating) through ``put``."""
    expected: Rows = {}
    for i in range(count):
        rows = csv_rows(i, rows_per_file + i % 3)
        if i % 2 == 0:
            key = f"{prefix}part {i:04d}/data-ü.csv"
            put(key, csv_bytes(rows))
        else:
            key = f"{prefix}p{i:04d}.jsonl.gz"
            put(key, jsonl_gz_bytes(rows))
        expected[key] = rows
    return expected


def local_put(root: Path) -> Callable[[str, bytes], None]:
    def put(key: str, data: bytes) -> None:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    return put


def read_parquet_outputs(fs: Any, root: str) -> pa.Table:
    """Every visible Parquet output under ``root`` (dot-files are in-progress temp files)."""
    tables = []
    for path in sorted(fs.find(root)):
        name = path.rsplit("/", 1)[-1]
        if name.startswith(".") or not name.endswith(".parquet"):
            continue
        with fs.open(path, "rb") as f:
            tables.append(pq.read_table(f))
    return pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})


def assert_rows_equal(table: pa.Table, expected: Rows, *, key_prefix: str = "") -> None:
    """The output holds exactly the expected rows, once each, tagged with their file and row."""
    got = sorted(
        (r["_file"], r["_row"], r["id"], r["name"], r["score"])
        for r in table.select(["_file", "_row", "id", "name", "score"]).to_pylist()
    )
    want = sorted(
        (key_prefix + key, i, r["id"], r["name"], r["score"])
        for key, rows in expected.items()
        for i, r in enumerate(rows)
    )
    assert len(got) == len(want), f"{len(got)} rows in the output, {len(want)} in the source"
    assert got == want


def completed_count(state: Path, pipeline: str) -> int:
    """Files recorded as completed in a state file (0 while it does not exist yet)."""
    if not state.exists():
        return 0
    store = SqliteCheckpointStore(state, pipeline)
    try:
        return store.stats()["completed"]
    finally:
        store.close()
