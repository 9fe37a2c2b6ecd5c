"""The json format: a JSON array, one or more pretty-printed objects, or JSON lines, in a `.json`
file. Rows are compared with what Python's ``json`` reads from the same bytes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fsspec.implementations.local import LocalFileSystem

from replicator.errors import ReadError
from replicator.model import Chunk, FileInfo
from replicator.readers import BadRow, ReaderOptions, read_file
from tests.corpus import CODECS, EXTENSION, compress, put, rows_of, table_of
from tests.jsondocs import dumps, element

OBJECTS = [element(i) for i in range(40)]


def _read(
    file: FileInfo, *, tolerant: bool = True, **options: Any
) -> tuple[list[Chunk], list[BadRow]]:
    bad: list[BadRow] = []
    reader = read_file(
        LocalFileSystem(), file, ReaderOptions(**options), bad.append if tolerant else None
    )
    return list(reader), bad


def _values(chunks: list[Chunk]) -> list[dict[str, Any]]:
    """The rows without the system columns."""
    return [{k: v for k, v in r.items() if k not in ("_file", "_row")} for r in rows_of(chunks)]


def _error(file: FileInfo, *, tolerant: bool = False, **options: Any) -> tuple[int, ReadError]:
    """The rows handed over before the reader failed, and its error."""
    chunks: list[Chunk] = []
    bad: list[BadRow] = []

    def consume() -> None:
        options_ = ReaderOptions(**options)
        for chunk in read_file(LocalFileSystem(), file, options_, bad.append if tolerant else None):
            chunks.append(chunk)

    with pytest.raises(ReadError) as info:
        consume()
    assert not any(c.completed for c in chunks)
    return sum(c.rows for c in chunks), info.value


@pytest.mark.parametrize("indent", [2, "\t", None])
@pytest.mark.parametrize("chunk_size", [64, 5000, 8 << 20])
@pytest.mark.parametrize("tolerant", [True, False])
def test_pretty_printed_array_gives_what_python_reads(
    tmp_path: Path, indent: int | str | None, chunk_size: int, tolerant: bool
) -> None:
    data = dumps(OBJECTS, indent)
    chunks, bad = _read(put(tmp_path, "a.json", data), tolerant=tolerant, chunk_size=chunk_size)

    assert _values(chunks) == json.loads(data)
    assert bad == []
    assert [r["_row"] for r in rows_of(chunks)] == list(range(len(OBJECTS)))
    assert [c.completed for c in chunks] == [False] * (len(chunks) - 1) + [True]
    # Rows of an array cannot be resumed at a byte position: the offsets count rows only.
    ends = [sum(c.rows for c in chunks[: i + 1]) for i in range(len(chunks))]
    assert [c.offset.rows for c in chunks] == ends
    assert {c.offset.byte for c in chunks} == {None}
    if chunk_size == 64:
        assert len(chunks) > 10


def test_array_reads_as_the_same_table_as_json_lines(tmp_path: Path) -> None:
    array = put(tmp_path, "a.json", dumps(OBJECTS, 2))
    lines = put(tmp_path, "a.jsonl", b"\n".join(dumps(o, None) for o in OBJECTS) + b"\n")
    for tolerant in (True, False):
        from_array = table_of(_read(array, tolerant=tolerant)[0]).drop(["_file"])
        from_lines = table_of(_read(lines, tolerant=tolerant)[0]).drop(["_file"])
        assert from_array.equals(from_lines)
    assert from_array.schema.field("user").type.num_fields == 3  # nested objects: structs


def test_single_pretty_printed_object_is_one_row(tmp_path: Path) -> None:
    data = dumps(element(7), 4)
    chunks, bad = _read(put(tmp_path, "one.json", data))
    assert _values(chunks) == [json.loads(data)]
    assert bad == []
    assert chunks[-1].completed


def test_pretty_printed_objects_one_after_another(tmp_path: Path) -> None:
    # As jq prints them: whitespace between objects, or none at all.
    data = b"\n".join(dumps(o, 2) for o in OBJECTS[:5]) + b"{}" + dumps(OBJECTS[5], 2) + b"\n"
    chunks, bad = _read(put(tmp_path, "many.json", data), chunk_size=100)
    assert _values(chunks)[:5] == OBJECTS[:5]
    assert _values(chunks)[6] == OBJECTS[5]
    assert len(_values(chunks)) == 7
    assert bad == []


def test_json_lines_in_a_json_file_read_exactly_as_jsonl(tmp_path: Path) -> None:
    data = (
        b"".join(dumps(o, None) + b"\n" for o in OBJECTS[:20]) + b"[1]\n" + dumps(OBJECTS[20], None)
    )
    as_json, bad_json = _read(put(tmp_path, "l.json", data), chunk_size=2000)
    as_jsonl, bad_jsonl = _read(put(tmp_path, "l.jsonl", data), chunk_size=2000)
    assert _values(as_json) == [*OBJECTS[:21]]
    assert [(c.offset, c.completed, c.rows) for c in as_json] == [
        (c.offset, c.completed, c.rows) for c in as_jsonl
    ]
    assert as_json[0].offset.byte is not None  # JSON lines resume at a byte position
    assert bad_json == bad_jsonl
    assert [(b.line, b.reason) for b in bad_json] == [(21, "not a JSON object but an array")]


def test_format_json_detects_for_any_extension(tmp_path: Path) -> None:
    data = dumps(OBJECTS[:3], 2)
    chunks, _ = _read(put(tmp_path, "dump.txt", data), format="json")
    assert _values(chunks) == OBJECTS[:3]


def test_format_jsonl_forces_lines(tmp_path: Path) -> None:
    data = dumps(OBJECTS[:2], 2)
    file = put(tmp_path, "a.json", data)
    chunks, bad = _read(file, format="jsonl")
    assert rows_of(chunks) == []
    assert len(bad) == data.count(b"\n") + 1  # every line is a bad JSON line
    _, error = _error(file, format="jsonl")
    assert "cannot read as jsonl" in str(error)


@pytest.mark.parametrize("codec", CODECS)
def test_compressed_arrays(tmp_path: Path, codec: str) -> None:
    data = dumps(OBJECTS, 2)
    for key in (f"a.json{EXTENSION[codec]}", "by-magic.json"):
        chunks, bad = _read(put(tmp_path, key, compress(data, codec)), chunk_size=1000)
        assert _values(chunks) == OBJECTS
        assert bad == []
        assert {c.offset.byte for c in chunks} == {None}


def test_values_that_are_not_objects_are_bad_rows(tmp_path: Path) -> None:
    data = (
        b'[\n  {"id": 1},\n  2,\n  "two",\n  null,\n  [1,\n   2],\n  {"id": 3},\n'
        b'  {\n    "id": "four"\n  },\n  true\n]\n'
    )
    file = put(tmp_path, "mixed.json", data)
    chunks, bad = _read(file)

    assert _values(chunks) == [{"id": 1}, {"id": 3}]

    def at(text: bytes) -> tuple[int, int]:
        byte = data.index(text)
        return data.count(b"\n", 0, byte) + 1, byte

    # Where each starts in the file; its text with line breaks made spaces.
    assert sorted((b.line, b.byte, b.raw, b.reason) for b in bad) == [
        (*at(b"2,"), b"2", "not a JSON object but a number"),
        (*at(b'"two"'), b'"two"', "not a JSON object but a string"),
        (*at(b"null"), b"null", "not a JSON object but null"),
        (*at(b"[1,"), b"[1,    2]", "not a JSON object but an array"),
        (
            *at(b'{\n    "id": "four"'),
            b'{     "id": "four"   }',
            "does not fit the file's columns: JSON parse error: "
            "Column(/id) changed from number to string",
        ),
        (*at(b"true"), b"true", "not a JSON object but a boolean"),
    ]
    rows, error = _error(file)
    assert rows == 0
    assert str(error) == (
        "mixed.json: cannot read as json: line 3, byte 17: not a JSON object but a number "
        "(after 0 rows); fix the file, or pass --on-bad-rows dead-letter to set such rows aside"
    )
    assert (error.key, error.rows) == ("mixed.json", 0)


def test_bad_rows_are_placed_across_blocks(tmp_path: Path) -> None:
    # Non-objects every seventh value, in a file read in blocks smaller than most values.
    values: list[Any] = [element(i) if i % 7 else i for i in range(60)]
    data = dumps(values, 2)
    chunks, bad = _read(put(tmp_path, "spread.json", data), chunk_size=300)
    assert _values(chunks) == [v for v in values if isinstance(v, dict)]
    assert len(chunks) > 5
    starts = [data.index(b"\n  %d" % i) + 3 for i in range(0, 60, 7)]
    assert [(b.byte, b.line, b.raw) for b in bad] == [
        (s, data.count(b"\n", 0, s) + 1, b"%d" % i)
        for s, i in zip(starts, range(0, 60, 7), strict=True)
    ]


@pytest.mark.parametrize("chunk_size", [4, 8 << 20])
@pytest.mark.parametrize(
    ("data", "byte", "message", "rows"),
    [
        (b'[{"a": 1}, {"a": 2}\n', 20, "the file ends inside the array at byte 0", 2),
        (b'[{"a": 1}]\n  x', 13, "found 'x' after the end of the array", 1),
        (b'[{"a": 1}]\n[{"a": 2}]', 11, "found '[{\"a\": 2}]' after the end of the array", 1),
        (b'[{"a": 1} {"a": 2}]', 10, "expected ',' or ']' after a value, found '{\"a\": 2}]'", 1),
        (b'[{"a": 1},\n]', 11, "expected a value, found ']'", 1),
        (b"[,]", 1, "expected a value, found ',]'", 0),
        (b'[{"a": 1}, {"a": "tr', 20, "the file ends inside the value at byte 11", 1),
        (b'{"a": 1,\n "b": [2\n', 18, "the file ends inside the value at byte 0", 0),
    ],
)
def test_invalid_json_fails_naming_the_byte(
    tmp_path: Path, chunk_size: int, data: bytes, byte: int, message: str, rows: int
) -> None:
    for tolerant in (False, True):
        handed_over, error = _error(
            put(tmp_path, "bad.json", data), tolerant=tolerant, chunk_size=chunk_size
        )
        if chunk_size > 4:  # with small blocks, what is found depends on where they end
            assert str(error) == (
                f"bad.json: not valid JSON: at byte {byte}: {message} (after {rows} rows); "
                "check whether the file is truncated or corrupt"
            )
        assert str(error).startswith(f"bad.json: not valid JSON: at byte {byte}: ")
        assert (error.key, error.rows, handed_over) == ("bad.json", rows, rows)


@pytest.mark.parametrize(
    ("data", "shown"),
    [
        (
            b"id,name\n1,ann\n",
            "at byte 0, where a JSON array ('[') or object ('{') should start, it holds 'id,name'",
        ),
        (
            b"\xef\xbb\xbf\n  42\n",
            "at byte 6, where a JSON array ('[') or object ('{') should start, it holds '42'",
        ),
        (
            b'"just text"',
            "at byte 0, where a JSON array ('[') or object ('{') should start, it holds '\"just text\"'",
        ),
    ],
)
def test_content_that_is_not_json_objects_fails(tmp_path: Path, data: bytes, shown: str) -> None:
    for tolerant in (False, True):
        rows, error = _error(put(tmp_path, "x.json", data), tolerant=tolerant)
        assert str(error) == (
            f"x.json: not JSON objects: {shown}; pass --format with the format it is in"
        )
        assert rows == 0


def test_values_without_any_object_fail_instead_of_completing_empty(tmp_path: Path) -> None:
    file = put(tmp_path, "numbers.json", b"[1, 2,\n 3]")
    _, error = _error(file, tolerant=True)
    assert str(error) == (
        "numbers.json: no rows: none of its 3 values could be read as a row (line 1, byte 1: "
        "not a JSON object but a number); check that it holds JSON objects, or pass --format"
    )
    _, error = _error(file, tolerant=False)
    assert "numbers.json: cannot read as json: line 1, byte 1: not a JSON object" in str(error)


@pytest.mark.parametrize(
    "data", [b"", b" \n\t\r\n", b"\xef\xbb\xbf", b"[]", b"\xef\xbb\xbf [\n  ]\n"]
)
def test_empty_files_and_empty_arrays_hold_no_rows(tmp_path: Path, data: bytes) -> None:
    for tolerant in (False, True):
        chunks, bad = _read(put(tmp_path, "e.json", data), tolerant=tolerant, chunk_size=2)
        assert [(c.rows, c.completed) for c in chunks] == [(0, True)]
        assert bad == []


def test_byte_order_mark_before_an_array(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + dumps(OBJECTS[:3], 2)
    chunks, bad = _read(put(tmp_path, "bom.json", data))
    assert _values(chunks) == OBJECTS[:3]
    assert bad == []


TRICKY: list[Any] = [
    {"s": "\\", "t": '"', "u": 'a\\"b', "v": "]}", "w": "{[", "x": ",", "y": "é中\u2028"},
    {"s": "\\\\", "t": '\\"]', "u": "", "v": "}]},{[", "w": "\\n", "x": "\n", "y": "\r\t"},
    {"s": "x" * 100_000, "t": "}", "u": "{", "v": "[", "w": "]", "x": '"', "y": "\\"},
]


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": "]}"}
    for _ in range(levels):
        value = {"d": value}
    return value


@pytest.mark.parametrize("chunk_size", [1, 7, 1000, 8 << 20])
@pytest.mark.parametrize("indent", [None, 2])
def test_tricky_strings_deep_nesting_and_values_longer_than_a_block(
    tmp_path: Path, chunk_size: int, indent: int | None
) -> None:
    chunks, bad = _read(put(tmp_path, "t.json", dumps(TRICKY, indent)), chunk_size=chunk_size)
    assert bad == []
    assert _values(chunks) == TRICKY
    # 40 levels is deeper than the splitter's expression goes (jsonscan.NESTING).
    deep = [_deep(40), {"d": {}}, _deep(40)]
    chunks, bad = _read(put(tmp_path, "d.json", dumps(deep, indent)), chunk_size=chunk_size)
    assert bad == []
    assert _values(chunks)[0] == _deep(40)
    assert _values(chunks)[2] == _deep(40)


@pytest.mark.parametrize("chunk_size", [5, 8 << 20])
def test_raw_line_break_inside_a_string_is_a_bad_row(tmp_path: Path, chunk_size: int) -> None:
    # Invalid JSON: were it made a space, the value would be read changed without a word.
    data = b'[{"a": "x"},\n {"a": "two\nlines", "b": [1]},\n {"a": "y"}]'
    file = put(tmp_path, "nl.json", data)
    chunks, bad = _read(file, chunk_size=chunk_size)
    assert _values(chunks) == [{"a": "x"}, {"a": "y"}]
    assert bad == [
        BadRow(
            "not valid JSON: a line break inside a string",
            b'{"a": "two\nlines", "b": [1]}',
            line=2,
            byte=14,
        )
    ]
    _, error = _error(file, chunk_size=chunk_size)
    assert "json: line 2, byte 14: not valid JSON: a line break inside a string (after " in str(
        error
    )


def test_a_later_value_that_does_not_fit_the_columns(tmp_path: Path) -> None:
    data = dumps([{"id": i} for i in range(30)] + [{"id": "x"}, {"id": 31}], 2)
    file = put(tmp_path, "drift.json", data)
    chunks, bad = _read(file, chunk_size=64)
    assert [r["id"] for r in _values(chunks)] == [*range(30), 31]
    assert [(b.line, b.byte, b.raw) for b in bad] == [
        (
            data.count(b"\n", 0, data.index(b'{\n    "id": "x"')) + 1,
            data.index(b'{\n    "id": "x"'),
            b'{     "id": "x"   }',
        )
    ]
    rows, error = _error(file, chunk_size=64)
    assert 0 < rows < 30
    assert "does not fit the file's columns" in str(error)
    assert str(error).endswith(
        "column types are inferred from the first 64 bytes; raise --chunk-size, or pass "
        "--on-bad-rows dead-letter to set such rows aside"
    )


def test_windows_line_breaks(tmp_path: Path) -> None:
    crlf = [dumps(o, 2).replace(b"\n", b"\r\n") for o in OBJECTS[:5]]
    files = {
        "array.json": dumps(OBJECTS[:5], 2).replace(b"\n", b"\r\n"),
        "objects.json": b"\r\n".join(crlf) + b"\r\n",
        "lines.json": b"".join(dumps(o, None) + b"\r\n" for o in OBJECTS[:5]),
    }
    for key, data in files.items():
        chunks, bad = _read(put(tmp_path, key, data), chunk_size=300)
        assert _values(chunks) == OBJECTS[:5], key
        assert bad == []


def test_json_lines_whose_first_line_is_longer_than_two_blocks(tmp_path: Path) -> None:
    # Not held whole to be looked at: read as values one after another, which streams.
    data = b"".join(dumps(o, None) + b"\n" for o in OBJECTS)
    chunks, bad = _read(put(tmp_path, "long.json", data), chunk_size=64)
    assert _values(chunks) == OBJECTS
    assert bad == []
    assert {c.offset.byte for c in chunks} == {None}
