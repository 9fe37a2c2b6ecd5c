"""Readers: bad input becomes a ReadError naming the key, after the good rows; storage errors pass."""

from __future__ import annotations

import gzip
import lzma
from pathlib import Path
from typing import Any

import pytest
from fsspec.implementations.local import LocalFileSystem

from replicator.errors import ReadError
from replicator.model import Chunk, FileInfo
from replicator.readers import ReaderOptions, read_file
from tests.corpus import put, read


def _read_until_error(file: FileInfo, **options: Any) -> tuple[list[Chunk], ReadError]:
    """The chunks handed over before the reader failed, and its error."""
    chunks: list[Chunk] = []

    def consume() -> None:
        for chunk in read_file(LocalFileSystem(), file, ReaderOptions(**options)):
            chunks.append(chunk)

    with pytest.raises(ReadError) as info:
        consume()
    return chunks, info.value


def test_unknown_extension_asks_for_format(tmp_path: Path) -> None:
    file = put(tmp_path, "data/blob.bin", b"x")
    with pytest.raises(
        ReadError, match=r"cannot infer the format of data/blob\.bin.*pass --format$"
    ) as info:
        read(file)
    assert info.value.key == "data/blob.bin"
    assert info.value.rows == 0


def test_bad_csv_row_fails_after_the_good_rows(tmp_path: Path) -> None:
    data = b"a,b\n" + b"1,2\n" * 100 + b"1,2,3\n" + b"4,5\n"
    chunks, error = _read_until_error(put(tmp_path, "bad.csv", data), chunk_size=64)
    good = [r["a"] for c in chunks for r in c.items.to_pylist()]
    assert good == [1] * len(good)
    assert 0 < len(good) <= 100
    assert not any(c.completed for c in chunks)
    assert error.key == "bad.csv"
    assert error.rows == len(good)
    message = str(error)
    assert message.startswith(
        "bad.csv: cannot read as csv: CSV parse error: Expected 2 columns, got 3"
    )
    assert f"(after {len(good)} rows)" in message
    assert message.endswith("or pass --format and --compression")


def test_bad_json_names_the_key_and_reason(tmp_path: Path) -> None:
    chunks, error = _read_until_error(put(tmp_path, "b.jsonl", b'{"a":1}\n{"a":\n'))
    assert chunks == []
    assert error.key == "b.jsonl"
    assert str(error).startswith("b.jsonl: cannot read as jsonl: line 2: not valid JSON: ")
    assert str(error).endswith("pass --on-bad-rows dead-letter to set such lines aside")


def test_type_drift_names_the_column_the_value_and_the_row(tmp_path: Path) -> None:
    data = b"a\n" + b"1\n" * 100 + b"x\n"
    chunks, error = _read_until_error(put(tmp_path, "drift.csv", data), chunk_size=64)
    assert sum(c.rows for c in chunks) == error.rows
    message = str(error)
    assert message.startswith(
        'drift.csv: cannot read as csv: data row 101: column "a": "x" does not fit int64 '
    )
    assert "declare it, e.g. --csv-column-types a:string" in message


def test_corrupt_gzip_is_a_read_error(tmp_path: Path) -> None:
    _, error = _read_until_error(put(tmp_path, "c.csv.gz", b"this is not gzip at all"))
    assert "cannot decompress" in str(error)
    assert str(error).endswith("whether the file is truncated or corrupt")


def test_truncated_gzip_is_a_read_error(tmp_path: Path) -> None:
    stored = gzip.compress(b"".join(f"{i}\n".encode() for i in range(5000)))
    _, error = _read_until_error(put(tmp_path, "t.txt.gz", stored[: len(stored) // 2]))
    assert "cannot decompress" in str(error)
    assert error.key == "t.txt.gz"


def test_truncated_xz_is_a_read_error(tmp_path: Path) -> None:
    stored = lzma.compress(b"x\n" * 1000)
    _, error = _read_until_error(put(tmp_path, "t.txt.xz", stored[:-20]))
    assert "cannot decompress" in str(error)


def test_lines_that_are_not_utf8(tmp_path: Path) -> None:
    _, error = _read_until_error(put(tmp_path, "l.txt", b"ok\n\xff\xfe\n"))
    assert "line 2 is not valid UTF-8" in str(error)
    assert str(error).endswith("--format raw to copy its bytes as they are")


def test_not_parquet(tmp_path: Path) -> None:
    _, error = _read_until_error(put(tmp_path, "p.parquet", b"not parquet"))
    assert error.key == "p.parquet"
    assert "cannot read as parquet" in str(error)


def test_unclosed_quote_runs_to_the_end_like_pyarrow(tmp_path: Path) -> None:
    # Arrow (read_csv too) ends an unclosed quoted value at the end of the file; the reader
    # grows its blocks to hold it instead of failing or looping.
    data = b'a,b\n0,ok\n1,"never closed\n' + b"2,x\n" * 200
    chunks = read(put(tmp_path, "q.csv", data), chunk_size=16, system_columns=False)
    rows = [r for c in chunks for r in c.items.to_pylist()]
    assert rows == [{"a": 0, "b": "ok"}, {"a": 1, "b": "never closed\n" + "2,x\n" * 200}]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet", "lines", "raw"])
def test_vanished_file_raises_file_not_found(tmp_path: Path, fmt: str) -> None:
    file = FileInfo(path=str(tmp_path / "gone"), key="gone", size=3)
    with pytest.raises(FileNotFoundError):
        read(file, format=fmt)


def test_json_type_drift_names_the_limit(tmp_path: Path) -> None:
    data = b'{"a":null}\n' * 20 + b'{"a":"late"}\n'
    chunks, error = _read_until_error(put(tmp_path, "d.jsonl", data), chunk_size=64)
    assert sum(c.rows for c in chunks) == error.rows
    assert "changed from null to string" in str(error)
    assert "column types are inferred from the first 64 bytes" in str(error)
