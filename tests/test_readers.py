"""Readers: every format's rows, chunking, offsets and system columns, on local files."""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from replicator.model import Offset
from replicator.readers import CsvOptions, Reader, infer_format, read_file
from tests.corpus import put, read, rows_of, table_of

FORMAT_KEYS = {
    "csv": "e.csv",
    "tsv": "e.tsv",
    "jsonl": "e.jsonl",
    "parquet": "e.parquet",
    "lines": "e.txt",
    "raw": "e.bin",
}


def test_csv_rows_types_and_system_columns(tmp_path: Path) -> None:
    file = put(tmp_path, "a.csv", b"id,name,score\n1,ann,0.5\n2,bob,1.5\n")
    chunks = read(file)
    assert len(chunks) == 1
    assert chunks[0].completed
    assert chunks[0].offset == Offset(rows=2, byte=None)
    assert chunks[0].items.schema == pa.schema(
        [
            ("id", pa.int64()),
            ("name", pa.string()),
            ("score", pa.float64()),
            ("_file", pa.string()),
            ("_row", pa.int64()),
        ]
    )
    assert rows_of(chunks) == [
        {"id": 1, "name": "ann", "score": 0.5, "_file": "a.csv", "_row": 0},
        {"id": 2, "name": "bob", "score": 1.5, "_file": "a.csv", "_row": 1},
    ]


@pytest.mark.parametrize("fmt", list(FORMAT_KEYS))
def test_empty_file_gives_one_completed_empty_chunk(tmp_path: Path, fmt: str) -> None:
    file = put(tmp_path, FORMAT_KEYS[fmt], b"")
    chunks = read(file, format=fmt)
    assert len(chunks) == 1
    assert chunks[0].completed
    assert chunks[0].rows == 0
    assert chunks[0].offset.rows == 0
    expected = {"lines": ["line", "_file", "_row"], "raw": ["data"]}.get(fmt, ["_file", "_row"])
    assert chunks[0].items.schema.names == expected


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "lines"])
def test_blank_lines_only_is_empty(tmp_path: Path, fmt: str) -> None:
    chunks = read(put(tmp_path, "blank", b"\n\n"), format=fmt)
    expected = (
        [{"line": "", "_file": "blank", "_row": i} for i in range(2)] if fmt == "lines" else []
    )
    assert rows_of(chunks) == expected
    assert chunks[-1].completed


def test_header_only_csv_has_columns_and_no_rows(tmp_path: Path) -> None:
    chunks = read(put(tmp_path, "h.csv", b"a,b\n"))
    assert len(chunks) == 1
    assert chunks[0].completed
    assert chunks[0].rows == 0
    assert chunks[0].items.schema.names == ["a", "b", "_file", "_row"]
    # Columns without values are text, not Arrow's null type (which no later value would fit).
    assert chunks[0].items.schema.field("a").type == pa.string()


def test_empty_csv_with_given_names_has_those_columns(tmp_path: Path) -> None:
    chunks = read(put(tmp_path, "e.csv", b""), csv=CsvOptions(column_names=("x", "y")))
    assert chunks[0].items.schema.names == ["x", "y", "_file", "_row"]
    assert chunks[0].rows == 0


@pytest.mark.parametrize(
    ("key", "data", "expected"),
    [
        ("n.csv", b"a,b\n1,x\n2,y", [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]),
        ("n.jsonl", b'{"a":1}\n{"a":2}', [{"a": 1}, {"a": 2}]),
        ("n.txt", b"one\ntwo", [{"line": "one"}, {"line": "two"}]),
    ],
)
def test_last_line_without_newline(
    tmp_path: Path, key: str, data: bytes, expected: list[dict[str, object]]
) -> None:
    assert rows_of(read(put(tmp_path, key, data), system_columns=False)) == expected


@pytest.mark.parametrize(
    ("key", "data", "expected"),
    [
        (
            "c.csv",
            b'a,b\r\n1,"x\r\ny"\r\n2,z\r\n',
            [{"a": 1, "b": "x\r\ny"}, {"a": 2, "b": "z"}],
        ),
        ("c.jsonl", b'{"a":"x"}\r\n{"a":"y"}\r\n', [{"a": "x"}, {"a": "y"}]),
        ("c.txt", b"one\r\ntwo\r\n\r\nlast\r", [{"line": s} for s in ("one", "two", "", "last")]),
    ],
)
def test_crlf_line_endings(
    tmp_path: Path, key: str, data: bytes, expected: list[dict[str, object]]
) -> None:
    for chunk_size in (4, 1 << 20):
        chunks = read(put(tmp_path, key, data), system_columns=False, chunk_size=chunk_size)
        assert rows_of(chunks) == expected


def test_lines_strip_only_one_trailing_cr(tmp_path: Path) -> None:
    chunks = read(put(tmp_path, "r.txt", b"a\r\r\nb\rc\n"), system_columns=False)
    assert rows_of(chunks) == [{"line": "a\r"}, {"line": "b\rc"}]


LONG = "y" * 5000


@pytest.mark.parametrize(
    ("key", "data", "expected"),
    [
        (
            "long.csv",
            ("a,b\n1,x\n2," + LONG + "\n3,z\n" + "4,w\n" * 50).encode(),
            [{"a": 1, "b": "x"}, {"a": 2, "b": LONG}, {"a": 3, "b": "z"}]
            + [{"a": 4, "b": "w"}] * 50,
        ),
        (
            "long.jsonl",
            ('{"a":1,"b":"x"}\n{"a":2,"b":"' + LONG + '"}\n' + '{"a":3,"b":null}\n' * 50).encode(),
            [{"a": 1, "b": "x"}, {"a": 2, "b": LONG}] + [{"a": 3, "b": None}] * 50,
        ),
        (
            "long.txt",
            ("x\n" + LONG + "\n" + "z\n" * 50).encode(),
            [{"line": "x"}, {"line": LONG}] + [{"line": "z"}] * 50,
        ),
    ],
)
def test_record_longer_than_chunk_size(
    tmp_path: Path, key: str, data: bytes, expected: list[dict[str, object]]
) -> None:
    chunks = read(put(tmp_path, key, data), chunk_size=64)
    # Small pieces are joined up to the chunk size; the long record makes its chunk larger.
    assert max(c.items.nbytes for c in chunks) > 64
    rows = rows_of(chunks)
    assert [r.pop("_row") for r in rows] == list(range(len(expected)))
    assert [r.pop("_file") for r in rows] == [key] * len(expected)
    assert rows == expected
    # One schema for the whole file, before and after the re-read with larger blocks.
    assert len({c.items.schema for c in chunks}) == 1
    assert [c.offset.rows for c in chunks] == list(itertools.accumulate(c.rows for c in chunks))


def test_long_record_first_in_file(tmp_path: Path) -> None:
    data = ('{"a":"' + LONG + '"}\n{"a":"b"}\n').encode()
    chunks = read(put(tmp_path, "first.jsonl", data), chunk_size=16, system_columns=False)
    assert rows_of(chunks) == [{"a": LONG}, {"a": "b"}]


TEXT = ["héllo wörld", "日本語のテキスト", "emoji 😀🎉", "ascii", "ÆØÅ æøå"]


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 5, 7, 13])
def test_utf8_characters_split_across_blocks(tmp_path: Path, chunk_size: int) -> None:
    csv_data = ("n,text\n" + "".join(f"{i},{t}\n" for i, t in enumerate(TEXT))).encode()
    jsonl_data = "".join(
        json.dumps({"n": i, "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(TEXT)
    )
    lines_data = "\n".join(TEXT).encode()
    expected = [{"n": i, "text": t} for i, t in enumerate(TEXT)]
    assert (
        rows_of(read(put(tmp_path, "u.csv", csv_data), chunk_size=chunk_size, system_columns=False))
        == expected
    )
    assert (
        rows_of(
            read(
                put(tmp_path, "u.jsonl", jsonl_data.encode()),
                chunk_size=chunk_size,
                system_columns=False,
            )
        )
        == expected
    )
    assert rows_of(
        read(put(tmp_path, "u.txt", lines_data), chunk_size=chunk_size, system_columns=False)
    ) == [{"line": t} for t in TEXT]


def test_keys_with_spaces_and_non_ascii(tmp_path: Path) -> None:
    key = "dir with space/ünïcødé 数据 (1).csv"
    chunks = read(put(tmp_path, key, b"a\n1\n2\n"))
    assert rows_of(chunks) == [{"a": 1, "_file": key, "_row": 0}, {"a": 2, "_file": key, "_row": 1}]


def test_tsv(tmp_path: Path) -> None:
    chunks = read(put(tmp_path, "t.tsv", b"a\tb\n1\tx,y\n2\tz\n"), system_columns=False)
    assert rows_of(chunks) == [{"a": 1, "b": "x,y"}, {"a": 2, "b": "z"}]


def test_tab_extension_is_tsv(tmp_path: Path) -> None:
    chunks = read(put(tmp_path, "t.tab", b"a\tb\n1\t2\n"), system_columns=False)
    assert rows_of(chunks) == [{"a": 1, "b": 2}]


def test_custom_delimiter(tmp_path: Path) -> None:
    chunks = read(
        put(tmp_path, "s.csv", b"a;b\n1;x,y\n"), csv=CsvOptions(delimiter=";"), system_columns=False
    )
    assert rows_of(chunks) == [{"a": 1, "b": "x,y"}]


def test_quoted_fields_with_delimiter_newline_and_quote(tmp_path: Path) -> None:
    data = b'a,b\n1,"x,y"\n2,"two\nlines"\n3,"say ""hi"""\n'
    expected = [{"a": 1, "b": "x,y"}, {"a": 2, "b": "two\nlines"}, {"a": 3, "b": 'say "hi"'}]
    for chunk_size in (8, 1 << 20):
        chunks = read(put(tmp_path, "q.csv", data), chunk_size=chunk_size, system_columns=False)
        assert rows_of(chunks) == expected


def test_quoting_off(tmp_path: Path) -> None:
    chunks = read(
        put(tmp_path, "q.csv", b'a,b\n1,"x"\n'),
        csv=CsvOptions(quote_char=None),
        system_columns=False,
    )
    assert rows_of(chunks) == [{"a": 1, "b": '"x"'}]


def test_explicit_column_names_replace_header(tmp_path: Path) -> None:
    chunks = read(
        put(tmp_path, "n.csv", b"a,b\n1,2\n"),
        csv=CsvOptions(column_names=("x", "y")),
        system_columns=False,
    )
    assert rows_of(chunks) == [{"x": 1, "y": 2}]


def test_explicit_column_names_without_header(tmp_path: Path) -> None:
    chunks = read(
        put(tmp_path, "n.csv", b"1,2\n3,4\n"),
        csv=CsvOptions(header=False, column_names=("x", "y")),
        system_columns=False,
    )
    assert rows_of(chunks) == [{"x": 1, "y": 2}, {"x": 3, "y": 4}]


def test_no_header_generates_names(tmp_path: Path) -> None:
    chunks = read(
        put(tmp_path, "n.csv", b"1,a\n"), csv=CsvOptions(header=False), system_columns=False
    )
    assert rows_of(chunks) == [{"f0": 1, "f1": "a"}]


def test_null_values(tmp_path: Path) -> None:
    data = b"a,b\n1,NA\nNA,x\n-,\n"
    chunks = read(
        put(tmp_path, "n.csv", data), csv=CsvOptions(null_values=("NA", "-")), system_columns=False
    )
    # Given null spellings apply to text columns too, and an empty field is null still.
    assert rows_of(chunks) == [{"a": 1, "b": None}, {"a": None, "b": "x"}, {"a": None, "b": None}]


def test_default_null_values(tmp_path: Path) -> None:
    # As in DuckDB and Spark: an unquoted empty field or null spelling is null in text columns
    # too; a quoted value never is.
    data = b'a,b\n1,x\n,\n2,""\nNULL,NULL\n3,"NULL"\n'
    chunks = read(put(tmp_path, "n.csv", data), system_columns=False)
    assert rows_of(chunks) == [
        {"a": 1, "b": "x"},
        {"a": None, "b": None},
        {"a": 2, "b": ""},
        {"a": None, "b": None},
        {"a": 3, "b": "NULL"},
    ]


def test_column_empty_in_first_block_is_read_as_text(tmp_path: Path) -> None:
    data = b"a,b\n" + b"1,\n" * 40 + b"2,late value\n"
    chunks = read(put(tmp_path, "late.csv", data), chunk_size=64, system_columns=False)
    rows = rows_of(chunks)
    assert rows == [{"a": 1, "b": None}] * 40 + [{"a": 2, "b": "late value"}]
    assert {c.items.schema.field("b").type for c in chunks} == {pa.string()}


def test_nested_json_becomes_struct_and_list_columns(tmp_path: Path) -> None:
    data = b'{"id":1,"user":{"name":"ann","tags":["a","b"]}}\n{"id":2,"user":{"name":"bob","tags":[]}}\n'
    chunks = read(put(tmp_path, "n.ndjson", data), system_columns=False)
    schema = chunks[0].items.schema
    assert pa.types.is_struct(schema.field("user").type)
    assert schema.field("user").type.field("tags").type == pa.list_(pa.string())
    assert rows_of(chunks) == [
        {"id": 1, "user": {"name": "ann", "tags": ["a", "b"]}},
        {"id": 2, "user": {"name": "bob", "tags": []}},
    ]


def _write_parquet(path: Path, rows: int, row_group_size: int) -> pa.Table:
    table = pa.table({"id": pa.array(range(rows), pa.int64()), "s": [f"v{i}" for i in range(rows)]})
    pq.write_table(table, path, row_group_size=row_group_size)
    return table


def test_parquet_one_chunk_per_row_group(tmp_path: Path) -> None:
    table = _write_parquet(tmp_path / "p.parquet", 10, 3)
    file = put(tmp_path, "p.parquet", (tmp_path / "p.parquet").read_bytes())
    chunks = read(file)
    assert [c.rows for c in chunks] == [3, 3, 3, 1]
    assert [c.offset for c in chunks] == [Offset(3), Offset(6), Offset(9), Offset(10)]
    assert [c.completed for c in chunks] == [False, False, False, True]
    out = table_of(chunks)
    assert out.select(["id", "s"]).equals(table)
    assert out.column("_row").to_pylist() == list(range(10))


def test_parquet_large_row_group_split_by_chunk_size(tmp_path: Path) -> None:
    table = _write_parquet(tmp_path / "big.parquet", 1000, 1000)
    file = put(tmp_path, "big.parquet", (tmp_path / "big.parquet").read_bytes())
    chunks = read(file, chunk_size=1000, system_columns=False)
    assert len(chunks) > 1
    assert table_of(chunks).equals(table)


def test_parquet_without_rows_keeps_schema(tmp_path: Path) -> None:
    pq.write_table(pa.table({"a": pa.array([], pa.int32())}), tmp_path / "z.pq")
    file = put(tmp_path, "z.pq", (tmp_path / "z.pq").read_bytes())
    chunks = read(file)
    assert len(chunks) == 1
    assert chunks[0].completed
    assert chunks[0].items.schema == pa.schema(
        [("a", pa.int32()), ("_file", pa.string()), ("_row", pa.int64())]
    )


def test_row_numbers_continue_across_chunks(tmp_path: Path) -> None:
    data = b"a\n" + b"".join(f"{i}\n".encode() for i in range(500))
    chunks = read(put(tmp_path, "r.csv", data), chunk_size=128)
    assert len(chunks) > 5
    assert rows_of(chunks) == [{"a": i, "_file": "r.csv", "_row": i} for i in range(500)]
    total = 0
    for chunk in chunks:
        total += chunk.rows
        assert chunk.offset.rows == total
    assert [c.completed for c in chunks] == [False] * (len(chunks) - 1) + [True]


def test_system_columns_off(tmp_path: Path) -> None:
    for key, data in (("o.csv", b"a\n1\n"), ("o.jsonl", b'{"a":1}\n'), ("o.txt", b"1\n")):
        chunks = read(put(tmp_path, key, data), system_columns=False)
        assert chunks[0].items.schema.names == (["line"] if key.endswith(".txt") else ["a"])


def test_existing_system_columns_are_replaced(tmp_path: Path) -> None:
    # A replicator output read again: _file and _row name the file being read now.
    data = b"_file,a,_row\nold.csv,x,7\nold.csv,y,8\n"
    chunks = read(put(tmp_path, "again.csv", data))
    assert rows_of(chunks) == [
        {"a": "x", "_file": "again.csv", "_row": 0},
        {"a": "y", "_file": "again.csv", "_row": 1},
    ]
    kept = read(put(tmp_path, "again.csv", data), system_columns=False)
    assert rows_of(kept)[0] == {"_file": "old.csv", "a": "x", "_row": 7}


def test_lines_offsets_are_stored_byte_positions(tmp_path: Path) -> None:
    data = b"alpha\nbeta\ngamma\ndelta"
    chunks = read(put(tmp_path, "b.log", data), chunk_size=8, system_columns=False)
    ends = [c.offset.byte or 0 for c in chunks]
    assert ends[-1] == len(data)
    assert ends == sorted(ends)
    # Every position is just after a newline: resuming there starts a fresh line.
    assert all(data[e - 1 : e] == b"\n" for e in ends[:-1])
    assert [r["line"] for r in rows_of(chunks)] == ["alpha", "beta", "gamma", "delta"]


def test_raw_yields_stored_bytes_in_blocks(tmp_path: Path) -> None:
    stored = gzip.compress(b"a,b\n1,2\n" * 100)
    chunks = read(put(tmp_path, "x.csv.gz", stored), format="raw", chunk_size=100)
    assert b"".join(r["data"] for r in rows_of(chunks)) == stored
    assert chunks[0].items.schema.names == ["data"]
    assert [c.offset.byte for c in chunks] == [
        min(100 * (i + 1), len(stored)) for i in range(len(chunks))
    ]
    assert [c.offset.rows for c in chunks] == list(range(1, len(chunks) + 1))
    assert chunks[-1].completed


@pytest.mark.parametrize(
    ("key", "fmt"),
    [
        ("a.csv", "csv"),
        ("A.CSV", "csv"),
        ("a.csv.gz", "csv"),
        ("a.tsv.zst", "tsv"),
        ("d/a.tab", "tsv"),
        ("a.jsonl.bz2", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("a.json.xz", "json"),
        ("a.parquet", "parquet"),
        ("a.pq", "parquet"),
        ("a.txt.gzip", "lines"),
        ("a.log", "lines"),
        ("a.bin", None),
        ("a.gz", None),
        ("csv", None),
        ("dir.csv/file", None),
    ],
)
def test_infer_format(key: str, fmt: str | None) -> None:
    assert infer_format(key) == fmt


def test_read_file_is_a_reader() -> None:
    reader: Reader = read_file
    assert callable(reader)
