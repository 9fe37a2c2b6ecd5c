"""Text that is not UTF-8: bad rows in a CSV column, files in other encodings (--encoding)."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fsspec.implementations.local import LocalFileSystem

from replicator.config import Settings
from replicator.errors import ConfigError, ReadError
from replicator.model import FileInfo
from replicator.readers import BadRow, ReaderOptions, read_file
from tests.cli import run_cli
from tests.corpus import put, rows_of


def _read(file: FileInfo, **options: Any) -> tuple[list[dict[str, Any]], list[BadRow]]:
    bad: list[BadRow] = []
    chunks = list(read_file(LocalFileSystem(), file, ReaderOptions(**options), bad.append))
    assert chunks[-1].completed
    return rows_of(chunks), bad


def _fails(file: FileInfo, **options: Any) -> str:
    with pytest.raises(ReadError) as info:
        list(read_file(LocalFileSystem(), file, ReaderOptions(**options), lambda row: None))
    return str(info.value)


# --- one value that is not UTF-8 in a CSV column (issue 16, item 4) --------------------------


def _latin1_copyright() -> bytes:
    """101 rows; column c holds numbers, but row 51's value is a Latin-1 © (0xa9)."""
    rows = [b"%d,x%d,%d" % (i, i, i % 10) for i in range(101)]
    rows[50] = b"50,x50,\xa9"
    return b"a,b,c\n" + b"\n".join(rows) + b"\n"


def test_one_value_not_utf8_is_a_bad_row_and_the_column_keeps_its_type(tmp_path: Path) -> None:
    rows, bad = _read(put(tmp_path, "c.csv", _latin1_copyright()), system_columns=False)

    assert [row["c"] for row in rows] == [i % 10 for i in range(101) if i != 50]
    assert [row["a"] for row in rows] == [i for i in range(101) if i != 50]
    assert bad == [
        BadRow(reason='column "c": "\ufffd" does not fit int64', raw=b"50,x50,\xa9", row=51)
    ]


def test_one_value_not_utf8_in_a_text_column_is_a_bad_row(tmp_path: Path) -> None:
    data = b"id,name\n1,ann\n2,caf\xe9\n3,\xc3\xa9mile\n"
    rows, bad = _read(put(tmp_path, "t.csv", data), system_columns=False)
    assert rows == [{"id": 1, "name": "ann"}, {"id": 3, "name": "\u00e9mile"}]
    assert bad == [
        BadRow(reason='column "name": "caf\ufffd" is not valid UTF-8', raw=b"2,caf\xe9", row=2)
    ]


def test_a_column_mostly_not_utf8_fails_the_file_with_the_encoding_hint(tmp_path: Path) -> None:
    data = b"id,name\n" + b"".join(b"%d,caf\xe9 %d\n" % (i, i) for i in range(400))
    message = _fails(put(tmp_path, "l.csv", data))
    assert message.startswith("l.csv: cannot read as csv: the text is not valid UTF-8: ")
    assert 'column "name": more than 100 values do not convert to string' in message
    assert "pass --encoding (latin-1, cp1252, utf-16)" in message


@pytest.mark.slow
def test_cli_rescues_the_value_with_its_bytes(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "c.csv").write_bytes(_latin1_copyright())
    result = run_cli(["snapshot", str(src), str(out), "--state", str(tmp_path / "s.db"), "--quiet"])
    assert result.returncode == 0, result.stderr
    table = pq.read_table(out / "c.csv.parquet")
    assert table.schema.field("c").type == pa.int64()
    # The row is kept; its value that is not text is rescued, as its bytes in base64.
    assert table.num_rows == 101
    row = table.slice(50, 1).to_pylist()[0]
    assert (row["a"], row["b"], row["c"]) == (50, "x50", None)
    rescued = json.loads(row["_rescued_data"])
    assert base64.b64decode(rescued["c"]["base64"]) == b"\xa9"
    assert not (out / "_dead_letter").exists()


# --- --encoding ----------------------------------------------------------------------------


TEXT = "id,name\n1,caf\u00e9\n2,\u00a9 2024\n3,na\u00efve \u20ac\n"
ROWS = [
    {"id": 1, "name": "caf\u00e9"},
    {"id": 2, "name": "\u00a9 2024"},
    {"id": 3, "name": "na\u00efve \u20ac"},
]


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        ("utf-16", TEXT.encode("utf-16")),  # with its byte-order mark, little-endian here
        ("utf-16", b"\xfe\xff" + TEXT.encode("utf-16-be")),
        ("utf-16", TEXT.encode("utf-16-le")),  # no mark: little-endian
        ("utf-16-be", TEXT.encode("utf-16-be")),
        ("cp1252", TEXT.encode("cp1252")),
    ],
)
def test_csv_in_another_encoding(tmp_path: Path, encoding: str, data: bytes) -> None:
    rows, bad = _read(put(tmp_path, "e.csv", data), encoding=encoding, system_columns=False)
    assert (rows, bad) == (ROWS, [])


def test_latin1_reads_any_byte(tmp_path: Path) -> None:
    data = "id,name\n1,caf\u00e9\n2,\u00a9\n".encode("latin-1")
    rows, _ = _read(put(tmp_path, "l.csv", data), encoding="latin-1", system_columns=False)
    assert rows == [{"id": 1, "name": "caf\u00e9"}, {"id": 2, "name": "\u00a9"}]


def test_a_utf16_csv_read_as_utf8_names_the_remedy(tmp_path: Path) -> None:
    message = _fails(put(tmp_path, "u.csv", TEXT.encode("utf-16")))
    assert message.startswith("u.csv: cannot read as csv: the header is not valid UTF-8")
    assert "starts with a UTF-16 byte-order mark: pass --encoding utf-16" in message


@pytest.mark.parametrize("fmt", ["jsonl", "lines"])
def test_a_utf16_text_file_read_as_utf8_names_the_remedy(tmp_path: Path, fmt: str) -> None:
    key = "u.jsonl" if fmt == "jsonl" else "u.txt"
    message = _fails(put(tmp_path, key, '{"a":"\u00e9"}\n'.encode("utf-16")))
    assert message == (
        f"{key}: cannot read as {fmt}: the text is not UTF-8: it starts with a UTF-16 "
        "byte-order mark (ff fe) (after 0 rows); pass --encoding utf-16"
    )


def test_jsonl_and_lines_in_another_encoding_compressed(tmp_path: Path) -> None:
    text = '{"a":"caf\u00e9"}\n{"a":"\u20ac"}\n'
    file = put(tmp_path, "j.jsonl.gz", gzip.compress(text.encode("utf-16")))
    rows, _ = _read(file, encoding="utf-16", system_columns=False)
    assert rows == [{"a": "caf\u00e9"}, {"a": "\u20ac"}]
    lines = put(tmp_path, "l.txt", "caf\u00e9\n\u00a9\n".encode("cp1252"))
    rows, _ = _read(lines, encoding="cp1252", system_columns=False)
    assert rows == [{"line": "caf\u00e9"}, {"line": "\u00a9"}]


def test_bytes_that_are_not_the_encoding_fail_the_file(tmp_path: Path) -> None:
    # 0x81 is not a cp1252 character.
    message = _fails(put(tmp_path, "b.csv", b"a\nok\nx\x81y\n"), encoding="cp1252")
    assert message == (
        "b.csv: cannot read as csv: bytes 81 at offset 6 (of the decompressed file) are not "
        "cp1252 text (after 0 rows); check --encoding (latin-1 takes any bytes)"
    )


def test_a_large_file_is_decoded_block_by_block(tmp_path: Path) -> None:
    lines = [f"{i},\u00e9t\u00e9 {i}\n" for i in range(60_000)]
    data = ("id,name\n" + "".join(lines)).encode("utf-16")
    rows, bad = _read(put(tmp_path, "big.csv", data), encoding="utf-16", chunk_size=64 << 10)
    assert bad == []
    assert len(rows) == 60_000
    assert rows[-1]["name"] == "\u00e9t\u00e9 59999"
    assert [r["_row"] for r in rows] == list(range(60_000))


def test_a_whole_utf8_byte_order_mark_is_dropped_in_every_text_format(tmp_path: Path) -> None:
    bom = b"\xef\xbb\xbf"
    assert _read(put(tmp_path, "b.txt", bom + b"x\ny\n"), system_columns=False)[0] == [
        {"line": "x"},
        {"line": "y"},
    ]
    assert _read(put(tmp_path, "b.csv", bom + b"a\n1\n"), system_columns=False)[0] == [{"a": 1}]


def test_a_broken_byte_order_mark_is_a_bad_first_line_of_lines(tmp_path: Path) -> None:
    rows, bad = _read(put(tmp_path, "p.txt", b"\xef\xbbhello\nworld\n"), system_columns=False)
    assert rows == [{"line": "world"}]
    assert [(b.line, b.raw) for b in bad] == [(1, b"\xef\xbbhello")]


def test_the_setting_is_checked() -> None:
    assert Settings(source="a", dest="b", encoding="utf-16").encoding == "utf-16"
    with pytest.raises(ConfigError, match="encoding: 'ebcdic' is not one of utf-8, latin-1"):
        Settings(source="a", dest="b", encoding="ebcdic")


@pytest.mark.slow
def test_cli_reads_a_utf16_csv_with_the_option(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "u.csv").write_bytes(TEXT.encode("utf-16"))
    state = str(tmp_path / "s.db")
    failed = run_cli(["snapshot", str(src), str(out), "--state", state, "--quiet"])
    assert failed.returncode == 1
    assert "pass --encoding utf-16" in failed.stdout + failed.stderr
    result = run_cli(
        [
            "snapshot",
            str(src),
            str(out),
            "--state",
            state,
            "--quiet",
            "--retry-failed",
            "--encoding",
            "utf-16",
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    table = pq.read_table(out / "u.csv.parquet").drop_columns(["_file", "_row", "_rescued_data"])
    assert table.to_pylist() == ROWS
