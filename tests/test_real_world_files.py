"""Files from public test corpora that readers got wrong (issue 16): each case as it was found.

A crash must never stop a run, and a file must never be recorded as completed with its output
wrong: each case is a bad row with a reason, a failed file with a reason, or correct rows.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fsspec.implementations.local import LocalFileSystem

from replicator.checkpoint.sqlite import SqliteCheckpointStore
from replicator.errors import ReadError
from replicator.model import FileInfo
from replicator.readers import BadRow, ReaderOptions, read_file
from tests.cli import run_cli
from tests.corpus import put, rows_of
from tests.readerproc import ReaderProcess


def _read(file: FileInfo, **options: Any) -> tuple[list[dict[str, Any]], list[BadRow]]:
    bad: list[BadRow] = []
    chunks = list(read_file(LocalFileSystem(), file, ReaderOptions(**options), bad.append))
    assert chunks[-1].completed
    return rows_of(chunks), bad


def _strict(file: FileInfo, **options: Any) -> ReadError:
    with pytest.raises(ReadError) as info:
        list(read_file(LocalFileSystem(), file, ReaderOptions(**options)))
    return info.value


def _record(state: Path, key: str) -> Any:
    store = SqliteCheckpointStore(state, "t")
    try:
        return store.get(key)
    finally:
        store.close()


# 1. A JSON-lines file whose first line is null crashed pyarrow (SIGSEGV) and with it the run.


@pytest.mark.slow
def test_a_null_first_line_neither_crashes_the_run_nor_stops_the_other_files(
    tmp_path: Path,
) -> None:
    src, out, state = tmp_path / "src", tmp_path / "out", tmp_path / "state.db"
    src.mkdir()
    (src / "x.jsonl").write_bytes(b'null\n{"a":1}\n')
    (src / "y.jsonl").write_bytes(b'{"a":2}\n')
    (src / "z.csv").write_bytes(b"a\n3\n")

    result = run_cli(
        ["snapshot", str(src), str(out), "--state", str(state), "--name", "t", "--quiet"]
    )

    assert result.returncode == 0, (result.returncode, result.stderr)
    for key, value in (("x.jsonl", 1), ("y.jsonl", 2), ("z.csv", 3)):
        assert _record(state, key).status == "completed"
        assert pq.read_table(out / f"{key}.parquet").column("a").to_pylist() == [value]
    letters = (out / "_dead_letter" / "x.jsonl.badrows.jsonl").read_text().splitlines()
    assert [json.loads(line)["reason"] for line in letters] == ["not a JSON object but null"]


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReaderProcess]:
    """Reads in a child process: a crash fails the test instead of killing pytest."""
    process = ReaderProcess(tmp_path_factory.mktemp("reader"))
    yield process
    process.close()


def _read_apart(
    reader: ReaderProcess, file: FileInfo, **options: Any
) -> tuple[list[dict[str, Any]], list[BadRow]]:
    outcome = reader.read(file, options, tolerant=True)
    assert outcome.status == "completed", outcome
    assert outcome.table is not None
    return outcome.table.to_pylist(), outcome.bad


@pytest.mark.parametrize(
    "data",
    [
        b'null\n{"a":1}\n',
        b'\n  \nnull\n{"a":1}\n',  # blank lines before it
        b'nulll\n{"a":1}\n',  # a line that only starts with null
        b'\xef\xbb\xbfnull\n{"a":1}\n',  # after a byte-order mark
    ],
)
def test_a_null_first_line_is_a_bad_row(reader: ReaderProcess, tmp_path: Path, data: bytes) -> None:
    rows, bad = _read_apart(reader, put(tmp_path, "x.jsonl", data))
    assert rows == [{"a": 1}]
    assert len(bad) == 1
    assert bad[0].raw in (b"null", b"nulll")


def test_null_lines_at_every_block_boundary_do_not_crash(
    reader: ReaderProcess, tmp_path: Path
) -> None:
    # A null line straddling an Arrow block boundary crashed pyarrow like a first line does;
    # here null lines fall at every position around the 1 MiB pieces the parser cuts.
    line = b'{"a":1,"pad":"' + b"x" * 1000 + b'"}\n'
    lines = [line] * 3000
    nulls = list(range(1, 3000, 7))
    for index in nulls:
        lines[index] = b"null\n"
    file = put(tmp_path, "n.jsonl", b"".join(lines))
    rows, bad = _read_apart(reader, file, chunk_size=2 << 20)
    assert len(rows) == 3000 - len(nulls)
    assert {row["a"] for row in rows} == {1}
    assert [b.line for b in bad] == [i + 1 for i in nulls]


def test_a_type_change_on_a_line_across_a_block_boundary_does_not_crash(
    reader: ReaderProcess, tmp_path: Path
) -> None:
    # Arrow crashed inferring types over 1 MiB blocks when the line across a boundary changed
    # a column's type. Lines never straddle a boundary now, and the line is a bad row.
    line = b'{"b": "x"}\n'
    count = (1 << 20) // len(line) - 5
    data = line * count + b'{"b": [' + b" " * 3000 + b"]}\n" + b'{"c": 1}\n'
    rows, bad = _read_apart(reader, put(tmp_path, "t.jsonl", data))
    assert rows == [{"b": "x", "c": None}] * count + [{"b": None, "c": 1}]
    assert [(b.line, b.reason) for b in bad] == [
        (
            count + 1,
            "does not fit the file's columns: JSON parse error: Column(/b) changed from "
            "string to array",
        )
    ]


# 2. A null line in the middle became a row of nulls.


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (b"null", "null"),
        (b"  null\r", "null"),
        (b"7", "a number"),
        (b'"text"', "a string"),
        (b"[1]", "an array"),
        (b"true", "a boolean"),
    ],
)
def test_a_line_that_is_not_an_object_is_a_bad_row(tmp_path: Path, line: bytes, kind: str) -> None:
    data = b'{"a":1}\n' + line + b'\n{"a":2}\n'
    rows, bad = _read(put(tmp_path, "m.jsonl", data), system_columns=False)
    assert rows == [{"a": 1}, {"a": 2}]
    assert bad == [
        BadRow(
            reason=f"not a JSON object but {kind}",
            raw=line.rstrip(b"\r"),
            line=2,
            byte=8,
        )
    ]


def test_without_dead_letters_a_null_line_fails_the_file(tmp_path: Path) -> None:
    error = _strict(put(tmp_path, "m.jsonl", b'{"a":1}\nnull\n{"a":2}\n'))
    assert str(error) == (
        "m.jsonl: cannot read as jsonl: line 2: not a JSON object but null (after 0 rows); "
        "check that it is valid jsonl, or pass --on-bad-rows dead-letter to set such lines "
        "aside"
    )


def test_rows_that_are_null_in_every_column_are_kept(tmp_path: Path) -> None:
    # What the null-line check must not take for a null line.
    data = b'{"a":1,"b":"x"}\n{"a":null,"b":null}\n{}\n  {}\n{"a":2}\n'
    rows, bad = _read(put(tmp_path, "k.jsonl", data), system_columns=False)
    assert rows == [
        {"a": 1, "b": "x"},
        {"a": None, "b": None},
        {"a": None, "b": None},
        {"a": None, "b": None},
        {"a": 2, "b": None},
    ]
    assert bad == []


# 5. Duplicate keys (valid JSON) were dead-lettered.


def test_a_key_given_twice_takes_its_last_value(tmp_path: Path) -> None:
    data = b'{"a":"b","a":"c"}\n{"a":"d","n":{"x":1,"x":2}}\n{"a":"e","n":{"x":3}}\n'
    rows, bad = _read(put(tmp_path, "d.jsonl", data), system_columns=False)
    assert bad == []
    assert rows == [
        {"a": "c", "n": None},
        {"a": "d", "n": {"x": 2}},
        {"a": "e", "n": {"x": 3}},
    ]


# 6. A broken byte-order mark vanished with the bytes after it.


def test_a_broken_byte_order_mark_is_a_bad_first_line(tmp_path: Path) -> None:
    rows, bad = _read(put(tmp_path, "b.jsonl", b'\xef\xbb{"a":1}\n{"a":2}\n'))
    assert [row["a"] for row in rows] == [2]
    assert len(bad) == 1
    assert (bad[0].line, bad[0].byte, bad[0].raw) == (1, 0, b'\xef\xbb{"a":1}')
    assert bad[0].reason.startswith("not valid JSON")


def test_a_whole_byte_order_mark_is_not_data(tmp_path: Path) -> None:
    rows, bad = _read(put(tmp_path, "b.jsonl", b'\xef\xbb\xbf{"a":1}\n{"a":2}\n'))
    assert [row["a"] for row in rows] == [1, 2]
    assert bad == []


# 3. A Parquet row group that yields fewer rows than it holds passed as completed.


def _parquet_with_an_empty_column_chunk() -> bytes:
    """Row group 0 holds 3 rows, but the data page of column b in it says 0 values."""
    table = pa.table({"a": [1, 2, 3, 4, 5], "b": [10, 20, 30, 40, 50]})
    buffer = io.BytesIO()
    pq.write_table(
        table,
        buffer,
        row_group_size=3,
        compression="none",
        use_dictionary=False,
        write_statistics=False,
    )
    data = bytearray(buffer.getvalue())
    chunk = pq.ParquetFile(io.BytesIO(bytes(data))).metadata.row_group(0).column(1)
    # The page header (Thrift compact): type, sizes, then the data page header, whose first
    # field is num_values (3, zigzag-encoded as 6).
    at = chunk.data_page_offset + 7
    assert data[at : at + 2] == b"\x15\x06"
    data[at + 1] = 0
    return bytes(data)


def test_a_row_group_that_yields_fewer_rows_than_it_holds_fails_the_file(
    tmp_path: Path,
) -> None:
    data = _parquet_with_an_empty_column_chunk()
    with pytest.raises(pa.ArrowInvalid, match="expected length 3 but got length 0"):
        pq.read_table(io.BytesIO(data))  # the reference reader refuses it too

    error = _strict(put(tmp_path, "c.parquet", data))

    assert str(error) == (
        "c.parquet: cannot read as parquet: row group 0 holds 3 rows by its metadata but 0 "
        "could be read (after 0 rows); the file is corrupt: write it again, or copy its bytes "
        "as they are with --format raw"
    )
    assert error.rows == 0


def test_row_groups_are_counted_each_not_by_the_file_total(tmp_path: Path) -> None:
    table = pa.table({"a": list(range(12))})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=6)
    rows, _ = _read(put(tmp_path, "g.parquet", buffer.getvalue()), system_columns=False)
    assert rows == [{"a": i} for i in range(12)]


# 7. Failure hints that did not fit the format.


@pytest.mark.parametrize("codec", ["zstd", "snappy", "gzip"])
def test_a_corrupt_parquet_page_gets_a_parquet_hint(tmp_path: Path, codec: str) -> None:
    table = pa.table({"a": list(range(1000)), "s": [f"value {i}" for i in range(1000)]})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression=codec, use_dictionary=False)
    data = bytearray(buffer.getvalue())
    chunk = pq.ParquetFile(io.BytesIO(bytes(data))).metadata.row_group(0).column(0)
    start = chunk.data_page_offset + 30
    data[start : chunk.data_page_offset + chunk.total_compressed_size - 5] = bytes(
        chunk.total_compressed_size - 35
    )

    error = _strict(put(tmp_path, "z.parquet", bytes(data)))

    message = str(error)
    assert message.startswith("z.parquet: cannot read as parquet: ")
    assert "--compression does not apply" in message
    assert "check --compression" not in message
    assert message.endswith("write it again, or copy its bytes as they are with --format raw")


def test_a_truncated_parquet_file_gets_a_parquet_hint(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    pq.write_table(pa.table({"a": list(range(100))}), buffer)
    error = _strict(put(tmp_path, "t.parquet", buffer.getvalue()[:-30]))
    assert str(error).startswith("t.parquet: cannot read as parquet: ")
    assert "pass --format and --compression" not in str(error)
    assert str(error).endswith("copy its bytes as they are with --format raw")
