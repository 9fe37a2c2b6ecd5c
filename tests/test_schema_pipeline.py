"""One pipeline, one schema: end to end, the outputs of a pipeline read back as one table, with
every value as in the source, whatever the files' own types."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from replicator.checkpoint import SqliteCheckpointStore
from replicator.config import Settings
from replicator.runner.events import Event, SchemaChanged
from replicator.runner.snapshot import run_snapshot
from replicator.runner.watch import run_watch
from tests.cli import replicate_cmd, run_cli
from tests.datasets import completed_count


def _settings(src: Path, out: Path, **kw: Any) -> Settings:
    return Settings(
        source=str(src), dest=str(out), state=str(out.parent / "state.db"), name="p", **kw
    )


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))


def _one_table(out: Path) -> pa.Table:
    """Every output of ``out`` as one table, through the published schema, by ``_file, _row``."""
    schema = pq.read_schema(out / "_common_metadata")
    table = ds.dataset(out, format="parquet", schema=schema).to_table()
    return table.sort_by([("_file", "ascending"), ("_row", "ascending")])


def _duckdb(out: Path, columns: str) -> list[tuple[Any, ...]]:
    query = (
        f"SELECT {columns} FROM read_parquet('{out}/**/*.parquet', union_by_name=true) "
        "ORDER BY _file, _row"
    )
    rows: list[tuple[Any, ...]] = duckdb.sql(query).fetchall()
    return rows


def test_outputs_of_files_of_different_types_read_as_one_table(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    _jsonl(src / "a.jsonl", [{"id": 1, "qty": 2, "tag": None}, {"id": 2, "qty": 3, "tag": None}])
    _jsonl(src / "b.jsonl", [{"id": 3, "qty": 2.5, "tag": "x"}])
    pq.write_table(
        pa.table({"id": pa.array([4], pa.int32()), "qty": pa.array([7], pa.int64())}),
        src / "c.parquet",
    )
    pq.write_table(pa.table({"id": [5], "qty": [1.25]}), src / "d.parquet")
    events: list[Event] = []
    # Inferred from the first file only, the schema has to change for the second one.
    settings = _settings(src, out, schema_sample_files=1, concurrency=1)
    summary = run_snapshot(settings, events.append)
    assert (summary.files_completed, summary.files_failed) == (4, 0)
    assert summary.schema_changes == 1
    assert summary.files_reread == 1
    changed = [e for e in events if isinstance(e, SchemaChanged) and e.cause is not None]
    assert [(e.version, e.changes, e.cause) for e in changed] == [
        (2, ("column qty: int64 -> double", "column tag: null -> string"), "b.jsonl")
    ]
    # The first output keeps its narrower type, which the published schema widens on reading.
    assert pq.read_schema(out / "a.jsonl.parquet").field("qty").type == pa.int64()
    assert "tag" not in pq.read_schema(out / "a.jsonl.parquet").names
    want = [
        ("a.jsonl", 1, 2.0, None),
        ("a.jsonl", 2, 3.0, None),
        ("b.jsonl", 3, 2.5, "x"),
        ("c.parquet", 4, 7.0, None),
        ("d.parquet", 5, 1.25, None),
    ]
    table = _one_table(out)
    assert table.schema.field("qty").type == pa.float64()
    got = [(r["_file"], r["id"], r["qty"], r["tag"]) for r in table.to_pylist()]
    assert got == want
    assert _duckdb(out, "_file, id, qty, tag") == want
    described = duckdb.sql(
        f"DESCRIBE SELECT * FROM read_parquet('{out}/*.parquet', union_by_name=true)"
    ).fetchall()
    types = {row[0]: row[1] for row in described}
    assert types["qty"] == "DOUBLE"
    assert types["id"] == "BIGINT"
    # No output has Parquet's null type.
    for path in out.glob("*.parquet"):
        assert not any(pa.types.is_null(f.type) for f in pq.read_schema(path))


@pytest.mark.parametrize(
    ("mode", "qty", "rescued"),
    [
        ("add-columns", [2.0, 1.5], [None, None]),
        ("rescue", [2, None], [None, {"qty": 1.5, "new": "n", "_file": "b.parquet"}]),
        ("none", [2, None], [None, {"qty": 1.5, "_file": "b.parquet"}]),
    ],
)
def test_each_evolution_mode(tmp_path: Path, mode: str, qty: list[Any], rescued: list[Any]) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    pq.write_table(pa.table({"qty": [1]}), src / "a.parquet")
    pq.write_table(pa.table({"qty": [2.0, 1.5], "new": [None, "n"]}), src / "b.parquet")
    settings = _settings(src, out, schema_sample_files=1, schema_evolution=mode)
    summary = run_snapshot(settings)
    assert (summary.files_completed, summary.files_failed) == (2, 0)
    b = pq.read_table(out / "b.parquet.parquet")
    assert b.column("qty").to_pylist() == qty
    texts = b.column("_rescued_data").to_pylist()
    assert [None if t is None else json.loads(t) for t in texts] == rescued
    if mode == "add-columns":
        assert b.column("new").to_pylist() == [None, "n"]
    else:
        assert "new" not in b.schema.names


def test_fail_mode_fails_the_file_naming_column_types_and_row(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    pq.write_table(pa.table({"qty": [1]}), src / "a.parquet")
    pq.write_table(pa.table({"qty": [2.0, 1.5]}), src / "b.parquet")
    summary = run_snapshot(_settings(src, out, schema_sample_files=1, schema_evolution="fail"))
    assert summary.files_completed == 1
    assert summary.failures == (
        (
            "b.parquet",
            "b.parquet: row 1: column qty needs double instead of int64, and --schema-evolution "
            "is fail; declare the column with --schema-hints, or pass --schema-evolution "
            "add-columns (or rescue)",
        ),
    )


def test_hints_fix_types_of_nested_fields_and_rescue_what_does_not_fit(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    pq.write_table(
        pa.table(
            {
                "payload": [{"user": {"id": 5, "name": "a"}}, {"user": {"id": 6, "name": "b"}}],
                "price": ["1.50", "abc"],
            }
        ),
        src / "a.parquet",
    )
    settings = _settings(src, out, schema_hints="payload.user.id:string, price:decimal128(6,2)")
    assert run_snapshot(settings).files_completed == 1
    table = pq.read_table(out / "a.parquet.parquet")
    assert table.schema.field("payload").type == pa.struct(
        [("user", pa.struct([("id", pa.string()), ("name", pa.string())]))]
    )
    assert [r["user"]["id"] for r in table.column("payload").to_pylist()] == ["5", "6"]
    # Text is never parsed into a hinted number: both are rescued, as written.
    assert table.column("price").to_pylist() == [None, None]
    rescued = [json.loads(t)["price"] for t in table.column("_rescued_data").to_pylist()]
    assert rescued == ["1.50", "abc"]


def test_state_schema_shows_the_current_version_and_the_history(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    pq.write_table(pa.table({"qty": [1]}), src / "a.parquet")
    pq.write_table(pa.table({"qty": [1.5]}), src / "b.parquet")
    run_snapshot(_settings(src, out, schema_sample_files=1, concurrency=1))
    result = run_cli(["state", "schema", "--state", str(tmp_path / "state.db"), "--json"])
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["version"] == 2
    assert got["columns"] == [{"name": "qty", "type": "double"}]
    assert [(h["version"], h["changes"], h["cause"]) for h in got["history"]] == [
        (1, ["inferred from the first blocks of 1 file"], None),
        (2, ["column qty: int64 -> double"], "b.parquet"),
    ]
    table = run_cli(["state", "schema", "--state", str(tmp_path / "state.db")])
    assert "schema version 2" in table.stdout
    assert "column qty: int64 -> double" in table.stdout


def test_watch_evolves_the_schema_as_new_files_arrive(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    _jsonl(src / "a.jsonl", [{"id": 1}])
    settings = _settings(src, out, min_age=0)
    assert run_watch(settings, once=True).files_completed == 1
    _jsonl(src / "b.jsonl", [{"id": 2.5, "extra": {"k": [1, 2]}}])
    second = run_watch(settings, once=True)
    assert (second.files_completed, second.schema_changes, second.files_reread) == (1, 1, 1)
    table = _one_table(out)
    assert table.column("id").to_pylist() == [1.0, 2.5]
    assert table.column("extra").to_pylist() == [None, {"k": [1, 2]}]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_kill_9_while_the_schema_evolves_then_rerun(tmp_path: Path) -> None:
    src, out, state = tmp_path / "src", tmp_path / "out", tmp_path / "state.db"
    expected: dict[str, list[dict[str, Any]]] = {}
    for i in range(240):
        # Each tenth file brings a new column, and every other such column widens later.
        column = f"c{i // 10}"
        rows = [{"id": i * 10_000 + j, column: j + 0.5 if i % 20 == 10 else j} for j in range(2000)]
        expected[f"f{i:03d}.jsonl"] = rows
        _jsonl(src / f"f{i:03d}.jsonl", rows)
    args = [
        "snapshot", str(src), str(out), "--state", str(state), "--name", "k", "--quiet",
        "--schema-sample-files", "1", "--concurrency", "2",
    ]  # fmt: skip
    killed_midway = 0
    for _ in range(3):
        before = completed_count(state, "k")
        process = subprocess.Popen(replicate_cmd(*args), stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        # Kill once a few more files are recorded: in the middle of the run, schema changing.
        while process.poll() is None and time.monotonic() < deadline:
            if completed_count(state, "k") >= before + 20:
                break
            time.sleep(0.01)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed_midway += 1
        process.wait()
    assert killed_midway >= 2
    final = subprocess.run(
        replicate_cmd(*args), capture_output=True, text=True, timeout=180, check=False
    )
    assert final.returncode == 0, final.stderr
    table = _one_table(out)
    with SqliteCheckpointStore(state, "k") as store:
        stored = pa.ipc.read_schema(pa.py_buffer(store.schema_versions()[-1].schema))
    published = pq.read_schema(out / "_common_metadata")
    assert [f.name for f in published][: len(stored)] == stored.names
    for path in out.glob("*.parquet"):
        for field in pq.read_schema(path):
            if field.name in stored.names:
                # Every output's type casts to the stored one without loss.
                assert pa.array([], field.type).cast(stored.field(field.name).type) is not None
    got: dict[str, list[dict[str, Any]]] = {}
    for row in table.to_pylist():
        values = {k: v for k, v in row.items() if v is not None and not k.startswith("_")}
        got.setdefault(row["_file"], []).append(values)
    assert got == expected  # every row once, every value as written


def test_ints_then_a_float_widen_the_column_in_json_and_csv(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    rows = [{"id": i, "score": i} for i in range(50_000)]
    rows.append({"id": 50_000, "score": 1.5, "later": "new key"})
    _jsonl(src / "a.jsonl", rows)
    csv = "id,qty\n" + "".join(f"{i},{i}\n" for i in range(200_000)) + "200000,12.75\n"
    (src / "b.csv").write_text(csv)
    summary = run_snapshot(_settings(src, out))
    assert (summary.files_completed, summary.bad_rows, summary.files_failed) == (2, 0, 0)
    a = pq.read_table(out / "a.jsonl.parquet")
    assert a.schema.field("score").type == pa.float64()
    assert a.column("score").to_pylist() == [float(i) for i in range(50_000)] + [1.5]
    assert a.column("later").to_pylist() == [None] * 50_000 + ["new key"]
    b = pq.read_table(out / "b.csv.parquet")
    assert b.schema.field("qty").type == pa.float64()
    assert b.column("qty").to_pylist()[-2:] == [199_999.0, 12.75]
    assert b.column("_rescued_data").null_count == b.num_rows


def test_a_json_document_array_replicates_every_object(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    objects = [{"id": i, "tags": [f"t{i}"], "at": {"x": i / 2}} for i in range(201)]
    (src / "doc.json").write_text(json.dumps(objects, indent=2))
    summary = run_snapshot(_settings(src, out))
    assert (summary.files_completed, summary.rows, summary.bad_rows) == (1, 201, 0)
    table = pq.read_table(out / "doc.json.parquet")
    got = table.select(["id", "tags", "at"]).to_pylist()
    assert got == [{**o, "at": {"x": float(o["at"]["x"])}} for o in objects]
