"""CSV nulls (issue 14, item 9) and --no-infer-types: every CSV and JSON column as text."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fsspec.implementations.local import LocalFileSystem

from replicator.model import FileInfo
from replicator.readers import BadRow, CsvOptions, ReaderOptions, read_file
from tests.cli import run_cli
from tests.corpus import put, rows_of, table_of


def _read(file: FileInfo, **options: Any) -> tuple[list[dict[str, Any]], list[BadRow], pa.Schema]:
    bad: list[BadRow] = []
    options.setdefault("system_columns", False)
    chunks = list(read_file(LocalFileSystem(), file, ReaderOptions(**options), bad.append))
    return rows_of(chunks), bad, table_of(chunks).schema


# --- CSV nulls ---------------------------------------------------------------------------------

NULLS = b'n,s\n1,a\n,\n2,""\n3,NULL\n4,"NULL"\nNA,NA\n5," "\n'


def test_unquoted_empty_fields_and_null_spellings_are_null_in_text_columns_too(
    tmp_path: Path,
) -> None:
    rows, bad, schema = _read(put(tmp_path, "n.csv", NULLS))
    assert bad == []
    assert schema == pa.schema([("n", pa.int64()), ("s", pa.string())])
    assert rows == [
        {"n": 1, "s": "a"},
        {"n": None, "s": None},  # empty, unquoted: null
        {"n": 2, "s": ""},  # quoted: an empty string
        {"n": 3, "s": None},  # a null spelling, unquoted: null
        {"n": 4, "s": "NULL"},  # quoted: the text
        {"n": None, "s": None},
        {"n": 5, "s": " "},
    ]


def test_given_null_spellings_replace_the_default_ones(tmp_path: Path) -> None:
    csv = CsvOptions(null_values=("-",))
    data = b'n,s\n1,-\n-,\n2,NULL\n,""\n'
    rows, _, _ = _read(put(tmp_path, "g.csv", data), csv=csv)
    # NULL is no longer one; an empty unquoted field is null whatever the spellings.
    assert rows == [
        {"n": 1, "s": None},
        {"n": None, "s": None},
        {"n": 2, "s": "NULL"},
        {"n": None, "s": ""},
    ]


def test_a_quoted_null_spelling_in_a_typed_column_is_a_bad_row(tmp_path: Path) -> None:
    # Quoted, it is a value, not null, and it does not fit the column.
    data = b"n,s\n" + b"1,a\n" * 50 + b'"NULL",b\n"",d\n,c\n'
    rows, bad, _ = _read(
        put(tmp_path, "q.csv", data), csv=CsvOptions(column_types=(("n", "int64"),))
    )
    assert rows[-1] == {"n": None, "s": "c"}
    assert len(rows) == 51
    assert [(b.row, b.reason) for b in bad] == [
        (51, 'column "n": "NULL" does not fit int64'),
        (52, 'column "n": "" does not fit int64'),
    ]


def test_nulls_are_the_same_after_the_switch_to_reading_as_text(tmp_path: Path) -> None:
    # A misfit late in the file makes the reader read it again as raw text and convert it
    # itself: quoted or not must still decide what is null.
    head = b"n,s\n" + b"1,a\n" * 40_000
    tail = b'oops,x\n,\n2,""\n3,NULL\n4,"NULL"\n'
    rows, bad, _ = _read(put(tmp_path, "late.csv", head + tail), chunk_size=64 << 10)
    assert [b.raw for b in bad] == [b"oops,x"]
    assert rows[-4:] == [
        {"n": None, "s": None},
        {"n": 2, "s": ""},
        {"n": 3, "s": None},
        {"n": 4, "s": "NULL"},
    ]


# --- --no-infer-types: CSV -----------------------------------------------------------------


def test_csv_values_as_written(tmp_path: Path) -> None:
    data = b'zip,amount,flag,day,note\n00001,1.50,true,2024-01-02,\n00002,1e3,0,x,""\n'
    rows, bad, schema = _read(put(tmp_path, "z.csv", data), infer_types=False)
    assert bad == []
    assert schema == pa.schema([(n, pa.string()) for n in ("zip", "amount", "flag", "day", "note")])
    assert rows == [
        {"zip": "00001", "amount": "1.50", "flag": "true", "day": "2024-01-02", "note": None},
        {"zip": "00002", "amount": "1e3", "flag": "0", "day": "x", "note": ""},
    ]


def test_declared_csv_types_still_apply(tmp_path: Path) -> None:
    csv = CsvOptions(column_types=(("amount", "float64"),))
    rows, _, schema = _read(
        put(tmp_path, "d.csv", b"zip,amount\n007,1.5\n"), csv=csv, infer_types=False
    )
    assert schema == pa.schema([("zip", pa.string()), ("amount", pa.float64())])
    assert rows == [{"zip": "007", "amount": 1.5}]


# --- --no-infer-types: JSON ----------------------------------------------------------------


def test_json_values_as_text(tmp_path: Path) -> None:
    lines = [
        {"s": "x", "b": True, "i": 12, "f": 1.50, "t": "2024-01-02T03:04:05"},
        {"s": None, "b": False, "i": -3, "f": 1e3, "o": {"k": 'v"q', "n": None, "l": [1, None]}},
        {"a": [{"z": 1}, None, {}], "e": {}, "big": 2**70},
    ]
    data = "\n".join(json.dumps(line) for line in lines).encode() + b"\n"
    data += b'{"f": NaN, "i": 00}\n'  # not JSON at all: a bad row
    rows, bad, schema = _read(put(tmp_path, "j.jsonl", data), infer_types=False)
    assert {field.type for field in schema} == {pa.string()}
    assert rows == [
        {
            "s": "x",
            "b": "true",
            "i": "12",
            "f": "1.5",
            "t": "2024-01-02T03:04:05",
            "o": None,
            "a": None,
            "e": None,
            "big": None,
        },
        {
            "s": None,
            "b": "false",
            "i": "-3",
            "f": "1000",
            "t": None,
            "o": '{"k":"v\\"q","l":[1,null]}',
            "a": None,
            "e": None,
            "big": None,
        },
        {
            "s": None,
            "b": None,
            "i": None,
            "f": None,
            "t": None,
            "o": None,
            "a": '[{"z":1},null,{}]',
            "e": "{}",
            "big": "1.1805916207174113e+21",
        },
    ]
    assert [b.line for b in bad] == [4]


def test_json_types_that_change_between_blocks_are_no_misfits_as_text(tmp_path: Path) -> None:
    first = b'{"id": 1, "v": 10}\n' * 2000
    later = b'{"id": "A-2", "v": ["x", "y"]}\n{"id": 3.5, "v": {"k": true}}\n'
    data = first + later
    rows, bad, _ = _read(put(tmp_path, "d.jsonl", data), chunk_size=4096)
    assert len(bad) == 2, "typed, the later rows do not fit the first block's types"
    rows, bad, _ = _read(put(tmp_path, "d.jsonl", data), chunk_size=4096, infer_types=False)
    assert bad == []
    assert rows[-2:] == [{"id": "A-2", "v": '["x","y"]'}, {"id": "3.5", "v": '{"k":true}'}]


def test_a_new_json_field_after_the_first_block_is_still_a_bad_row(tmp_path: Path) -> None:
    data = b'{"a": 1}\n' * 1000 + b'{"a": 2, "new": 1}\n{"a": 3, "new": null}\n'
    rows, bad, _ = _read(put(tmp_path, "n.jsonl", data), chunk_size=1024, infer_types=False)
    assert rows[-1] == {"a": "3"}  # a new field whose value is null loses nothing
    assert [(b.line, b.reason) for b in bad] == [
        (1001, "does not fit the file's columns: a field that is not one of its columns: 'new'")
    ]


@pytest.mark.slow
def test_cli_option_and_help(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "z.csv").write_bytes(b"zip,n\n00001,\n")
    (src / "j.jsonl").write_bytes(b'{"n": 1.50, "o": {"a": [1]}}\n')
    result = run_cli(
        [
            "snapshot",
            str(src),
            str(out),
            "--state",
            str(tmp_path / "s.db"),
            "--quiet",
            "--no-infer-types",
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert pq.read_table(out / "z.csv.parquet").select(["zip", "n"]).to_pylist() == [
        {"zip": "00001", "n": None}
    ]
    assert pq.read_table(out / "j.jsonl.parquet").select(["n", "o"]).to_pylist() == [
        {"n": "1.5", "o": '{"a":[1]}'}
    ]
    helped = run_cli(["snapshot", "--help"], env={**os.environ, "COLUMNS": "200"})
    text = " ".join(helped.stdout.replace("\u2502", " ").split())  # without the table's borders
    assert "--no-infer-types" in text
    assert "an integer as its digits" in text
    assert "a quoted one never is" in text
    assert "--encoding" in text
