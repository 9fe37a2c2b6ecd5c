"""``replicate snapshot`` (a subprocess) with CSV column types, values that do not fit their
column, and lines that are not UTF-8: the output, the dead letter, the state and the exit code.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from replicator.checkpoint.sqlite import SqliteCheckpointStore
from tests.cli import run_cli


def _snapshot(tmp_path: Path, *args: str) -> Any:
    src, out = tmp_path / "src", tmp_path / "out"
    state = tmp_path / "state.db"
    return run_cli(["snapshot", str(src), str(out), "--state", str(state), "--name", "t", *args])


def _letters(tmp_path: Path, key: str) -> list[dict[str, Any]]:
    path = tmp_path / "out" / "_dead_letter" / f"{key}.badrows.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def _record(tmp_path: Path, key: str) -> Any:
    store = SqliteCheckpointStore(tmp_path / "state.db", "t")
    try:
        return store.get(key)
    finally:
        store.close()


def _late_misfits(src: Path) -> bytes:
    """``orders.csv``: 60,000 rows (> 1 MiB); rows 40,000 and 55,555 hold values that don't fit
    the types inferred from the first block, row 50,000 a name that is not UTF-8."""
    src.mkdir(parents=True, exist_ok=True)
    rows = [b"%d,%d,item %d,2024-01-%02d" % (i, i % 97, i, i % 28 + 1) for i in range(60_000)]
    rows[40_000] = b"40000,lots,item 40000,2024-01-01"
    rows[50_000] = b"50000,5,caf\xe9,2024-01-01"
    rows[55_555] = b'55555,7,"item, with comma",soon'
    data = b"id,qty,item,day\n" + b"\n".join(rows) + b"\n"
    (src / "orders.csv").write_bytes(data)
    return data


def _rescued(table: pa.Table) -> dict[int, Any]:
    """Row id -> the rescued values of that row (as JSON), for the rows that have some."""
    return {
        row["id"]: json.loads(row["_rescued_data"])
        for row in table.select(["id", "_rescued_data"]).to_pylist()
        if row["_rescued_data"] is not None
    }


def test_misfits_in_late_blocks_are_rescued_and_their_rows_kept(tmp_path: Path) -> None:
    _late_misfits(tmp_path / "src")

    result = _snapshot(tmp_path)

    assert result.returncode == 0, result.stderr
    table = pq.read_table(tmp_path / "out" / "orders.csv.parquet")
    assert table.schema.field("qty").type == pa.int64()
    assert table.schema.field("day").type == pa.date32()
    # Every row is there, in order; a value that does not fit is null in its column...
    assert table.column("id").to_pylist() == list(range(60_000))
    assert table.column("_row").to_pylist() == list(range(60_000))
    assert table.column("qty")[40_000].as_py() is None
    assert table.column("item")[50_000].as_py() is None
    assert table.column("day")[55_555].as_py() is None
    assert table.column("item")[55_555].as_py() == "item, with comma"
    # ... and kept as written in the rescued-data column, with the source key.
    assert _rescued(table) == {
        40_000: {"qty": "lots", "_file": "orders.csv"},
        50_000: {"item": {"base64": base64.b64encode(b"caf\xe9").decode()}, "_file": "orders.csv"},
        55_555: {"day": "soon", "_file": "orders.csv"},
    }
    assert not (tmp_path / "out" / "_dead_letter").exists()
    record = _record(tmp_path, "orders.csv")
    assert (record.status, record.rows) == ("completed", 60_000)


def test_skip_and_fail_are_for_rows_that_cannot_be_parsed(tmp_path: Path) -> None:
    data = _late_misfits(tmp_path / "src")
    lines = data.split(b"\n")
    lines[45_001] = b"45000,1,item 45000,2024-01-01,extra"  # a field too many: not a row
    (tmp_path / "src" / "orders.csv").write_bytes(b"\n".join(lines))

    skipped = _snapshot(tmp_path, "--on-bad-rows", "skip")

    assert skipped.returncode == 0, skipped.stderr
    assert not (tmp_path / "out" / "_dead_letter").exists()
    table = pq.read_table(tmp_path / "out" / "orders.csv.parquet")
    assert table.num_rows == 60_000 - 1
    assert 45_000 not in table.column("id").to_pylist()
    assert set(_rescued(table)) == {40_000, 50_000, 55_555}  # values, not rows: rescued
    assert _record(tmp_path, "orders.csv").status == "completed"

    failed = _snapshot(tmp_path, "--on-bad-rows", "fail", "--full-refresh")

    assert failed.returncode == 1
    record = _record(tmp_path, "orders.csv")
    assert record.status == "failed"
    assert record.error.startswith(
        "orders.csv: cannot read as csv: CSV parse error: Expected 4 columns, got 5: "
        "45000,1,item 45000,2024-01-01,extra"
    )
    assert "orders.csv" in failed.stdout
    assert "Traceback" not in failed.stderr


def test_declared_types_reach_the_output(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "p.csv").write_bytes(
        b"zip,price,at,n\n01234,1.5,2024-05-06T07:08:09.5,1\n00042,abc,2024-05-06,2\n"
        b"98765,20,2024-05-07T00:00:00,3\n"
    )

    result = _snapshot(
        tmp_path, "--csv-column-types", "zip:string, price:decimal128(12,2), at:timestamp[ms]"
    )

    assert result.returncode == 0, result.stderr
    table = pq.read_table(tmp_path / "out" / "p.csv.parquet")
    assert table.schema.field("zip").type == pa.string()
    assert table.schema.field("price").type == pa.decimal128(12, 2)
    assert table.schema.field("at").type == pa.timestamp("ms")
    assert table.schema.field("n").type == pa.int64()  # inferred
    rows = table.to_pylist()
    assert [(r["zip"], None if r["price"] is None else str(r["price"]), r["n"]) for r in rows] == [
        ("01234", "1.50", 1),
        ("00042", None, 2),
        ("98765", "20.00", 3),
    ]
    # Text in a hinted number column is never parsed into it: rescued as written.
    assert json.loads(rows[1]["_rescued_data"]) == {"price": "abc", "_file": "p.csv"}


def test_declared_types_from_a_toml_table(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "c.csv").write_bytes(b"a,b\n1,2\n3,4\n")
    config = tmp_path / "c.toml"
    config.write_text('[csv]\ncolumn-types = { a = "int8", b = "string" }\n')

    result = _snapshot(tmp_path, "--config", str(config))

    assert result.returncode == 0, result.stderr
    table = pq.read_table(tmp_path / "out" / "c.csv.parquet")
    assert table.select(["a", "b"]).to_pylist() == [{"a": 1, "b": "2"}, {"a": 3, "b": "4"}]
    assert (table.schema.field("a").type, table.schema.field("b").type) == (
        pa.int8(),
        pa.string(),
    )


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("cli", "error: command line: csv-column-types: column \"qty\": unknown type 'number'"),
        ("toml", "csv-column-types: cannot read 'qty': expected NAME:TYPE; e.g. id:int64"),
    ],
)
def test_wrong_column_types_give_one_line_and_exit_2(
    tmp_path: Path, where: str, expected: str
) -> None:
    (tmp_path / "src").mkdir()
    if where == "cli":
        result = _snapshot(tmp_path, "--csv-column-types", "id:int64,qty:number")
    else:
        config = tmp_path / "c.toml"
        config.write_text('csv-column-types = "id:int64,qty"\n')
        result = _snapshot(tmp_path, "--config", str(config))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_lines_that_are_not_utf8_are_dead_lettered(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.log").write_bytes(b"started\nuser=caf\xe9\nok\r\n\xff\xfe\xfd\r\ndone\n")

    result = _snapshot(tmp_path)

    assert result.returncode == 0, result.stderr
    table = pq.read_table(tmp_path / "out" / "app.log.parquet")
    assert table.select(["line", "_row"]).to_pylist() == [
        {"line": "started", "_row": 0},
        {"line": "ok", "_row": 1},
        {"line": "done", "_row": 2},
    ]
    letters = _letters(tmp_path, "app.log")
    assert [(r["line"], r["byte"], r["raw"], r["reason"]) for r in letters] == [
        (2, 8, None, "not valid UTF-8"),
        (4, 22, None, "not valid UTF-8"),
    ]
    assert [base64.b64decode(r["raw_base64"]) for r in letters] == [
        b"user=caf\xe9",
        b"\xff\xfe\xfd",
    ]
    assert _record(tmp_path, "app.log").rows == 3
