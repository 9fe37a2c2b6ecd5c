"""Fuzzing every reader: formats x codecs, truncated, bit-flipped, wrong-format and empty files.

Each file is read in a child process (``readerproc``), so a crash is a failure, not the end of
the test run. The reading must end in one of two ways:

- completed, with rows that a reference reader agrees with (pyarrow's whole-file readers for
  Parquet and CSV, Python's json per line for JSON Lines, the bytes themselves for lines and
  raw), and every line or row the reference has either written or reported as a bad row with
  a reason;
- failed, with a ``ReadError`` (a reason the user can act on).

The run is bounded (``max_examples``); what it ever found is kept below as explicit cases.
"""

from __future__ import annotations

import bz2
import datetime as dt
import gzip
import io
import json
import lzma
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings

from replicator.model import FileInfo
from tests.fuzzcases import Case, cases
from tests.readerproc import Outcome, ReaderProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

# About 30 s on a 2-core machine; REPLICATOR_FUZZ_EXAMPLES runs longer, to search further.
EXAMPLES = int(os.environ.get("REPLICATOR_FUZZ_EXAMPLES", "3000"))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def reader(workdir: Path) -> Iterator[ReaderProcess]:
    process = ReaderProcess(workdir, timeout=60)
    yield process
    process.close()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=cases())
def test_every_reader_survives_and_agrees_with_a_reference(
    reader: ReaderProcess, workdir: Path, case: Case
) -> None:
    check(reader, workdir, case)


def _jsonl(data: bytes, *, chunk_size: int = 8 << 20, infer_types: bool = True) -> Case:
    return Case("jsonl", "none", "none", data, data, chunk_size, True, infer_types)


def _parquet_with_bad_text() -> Case:
    """A Parquet string value whose bytes a flipped bit made an overlong (not UTF-8) form."""
    buffer = io.BytesIO()
    table = pa.table({"s": ["0\u0080", "ok"]})
    pq.write_table(table, buffer, compression="none", use_dictionary=False, write_statistics=False)
    data = buffer.getvalue()
    assert data.count(b"0\xc2\x80") == 1
    data = data.replace(b"0\xc2\x80", b"0\xc0\x80")
    return Case("parquet", "none", "bitflip", data, data, 1024, False)


# What the fuzz test (and the search before it, with pyarrow 26.0.1) found, kept as cases.
FOUND = [
    # Crashes (SIGSEGV): a null first line, however it is reached.
    _jsonl(b'null\n{"a":1}\n'),
    _jsonl(b'nulll\n{"a":1}\n'),
    _jsonl(b'\n  \nnull\n{"a":2}\n'),
    _jsonl(b'\xef\xbb\nnull\n{"a": 2}\n{}\n'),
    _jsonl(b'null\n{}\n{"a": null}\n'),
    # Lines Arrow reads wrong: leading nulls in a list (apache/arrow#51305: [null,1] came out
    # as [1,0] and failed a check later, failing a valid file), two objects on one line (two
    # rows, silently), strings that are not UTF-8 (passed on as they are).
    _jsonl(b'{"a":[null,1]}\n{"a":[2]}\n'),
    _jsonl(b'{"a":{"b":[null,2]}}\n'),
    _jsonl(b'{"a":[null,null]}\n'),
    _jsonl(b'{"a":1}{"b":2}\n{"a":3}\n'),
    _jsonl(b'{"a":1}\n\n{"a":2}{"b":1}\n'),
    _jsonl(b'{"a":"\xff"}\n'),
    _parquet_with_bad_text(),
    # Rows lost: objects without fields (Arrow counts rows by columns), a line of a vertical tab.
    _jsonl(b"{}\n", infer_types=False),
    _jsonl(b"{}\nnull\n", chunk_size=16),
    _jsonl(b"{}\n{}\n{}\nnull\n{}\n", chunk_size=16, infer_types=False),
    _jsonl(b"\x0b"),
    # Read one way on the fast path, another line by line.
    _jsonl(b'{"a":NaN}\n'),
    _jsonl(b'{"a":NaN}\n', infer_types=False),
    _jsonl(b'{"a":1,"a":2}\n{"a":{"x":1,"x":2}}\n'),
    Case("csv", "none", "bitflip", b"c0,c1\n", b"c1,c1\n", 16, False, False),
]


@pytest.mark.parametrize("case", FOUND, ids=lambda case: repr(case.stored[:24]))
def test_what_the_fuzzing_found(reader: ReaderProcess, workdir: Path, case: Case) -> None:
    check(reader, workdir, case)


def check(reader: ReaderProcess, workdir: Path, case: Case) -> None:
    path = workdir / case.key
    path.write_bytes(case.stored)
    file = FileInfo(path=str(path), key=case.key, size=len(case.stored))
    options: dict[str, Any] = {"format": case.fmt, "chunk_size": case.chunk_size, **case.options}
    if not case.infer_types:
        options["infer_types"] = False
    outcome = reader.read(file, options, tolerant=case.tolerant)
    assert outcome.status in ("completed", "failed"), f"the reader {outcome.status}: {outcome}"
    if outcome.status == "failed":
        assert outcome.error is not None
        assert outcome.error.startswith("ReadError: "), outcome.error
        return
    if not case.tolerant:
        assert outcome.bad == []
    assert all(b.reason for b in outcome.bad)
    data = _decompressed(case)
    assert data is not None, "the reader completed a file that does not decompress"
    AGREES[case.fmt](case, data, outcome)


# --- references -------------------------------------------------------------------------------


def _decompressed(case: Case) -> bytes | None:
    """The stored bytes decompressed by Python's codecs; None when they are not valid."""
    try:
        if case.codec == "gzip":
            return gzip.decompress(case.stored)
        if case.codec == "zstd":
            reader = zstandard.ZstdDecompressor().stream_reader(
                io.BytesIO(case.stored), read_across_frames=True
            )
            return reader.read()
        if case.codec == "bz2":
            return bz2.decompress(case.stored)
        if case.codec == "xz":
            return lzma.decompress(case.stored)
    except (OSError, EOFError, lzma.LZMAError, zstandard.ZstdError, ValueError):
        return None
    return case.stored


def _raw_agrees(case: Case, data: bytes, outcome: Outcome) -> None:
    assert outcome.table is not None
    assert b"".join(outcome.table.column("data").to_pylist()) == case.stored


def _lines_agree(case: Case, data: bytes, outcome: Outcome) -> None:
    assert outcome.table is not None
    text = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    assert not text.startswith((b"\xff\xfe", b"\xfe\xff")), "UTF-16 read as UTF-8"
    lines = text.split(b"\n")
    if text.endswith(b"\n") or not text:
        lines.pop()
    lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
    good, bad = [], []
    for number, line in enumerate(lines, start=1):
        try:
            good.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            bad.append((number, line))
    assert outcome.table.column("line").to_pylist() == good
    assert [(b.line, b.raw) for b in outcome.bad] == bad


def _jsonl_agrees(case: Case, data: bytes, outcome: Outcome) -> None:
    """Python's json, line by line: objects are rows; other lines, bad rows."""
    assert outcome.table is not None
    rows = outcome.table.to_pylist()
    text = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    lines = [
        (number, line[:-1] if line.endswith(b"\r") else line)
        for number, line in enumerate(text.split(b"\n"), start=1)
    ]
    lines = [(n, line) for n, line in lines if line.strip(b" \t\r\n")]
    reported = {b.line: b for b in outcome.bad}
    assert len(reported) == len(outcome.bad), "a line reported twice"
    assert set(reported) <= {n for n, _ in lines}, "a bad row that is no line"
    written = [(n, line) for n, line in lines if n not in reported]
    assert len(written) == len(rows), (written, rows, outcome.bad)
    for (number, line), row in zip(written, rows, strict=True):
        value = _json_value(line)
        assert isinstance(value, dict), f"line {number} is not an object, yet a row: {line!r}"
        if case.infer_types:
            assert _same_object(value, row), (number, line, value, row)
        else:
            assert _same_text(value, row), (number, line, value, row)


def _json_value(line: bytes) -> Any:
    """The line read by Python's json (NaN, Infinity and -Infinity as numbers, as it writes)."""
    try:
        return json.loads(line.decode("utf-8"))
    except ValueError:
        return None


def _same_object(expected: dict[str, Any], row: dict[str, Any]) -> bool:
    keys = set(expected) | set(row)
    return all(
        (key in row or expected[key] is None) and _same(expected.get(key), row.get(key))
        for key in keys
    )


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and _same_object(expected, actual)
    if expected is None:
        return actual is None or (
            isinstance(actual, dict) and all(v is None for v in actual.values())
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(_same(e, a) for e, a in zip(expected, actual, strict=True))
        )
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int | float):
        if not isinstance(actual, int | float):
            return False
        both_nan = math.isnan(float(expected)) and math.isnan(float(actual))
        return both_nan or float(expected) == float(actual)
    if isinstance(actual, dt.datetime):
        # Arrow reads a string that looks like a timestamp as one.
        return pa.scalar(expected).cast(pa.timestamp("s")).as_py() == actual
    return bool(expected == actual)


def _same_text(expected: dict[str, Any], row: dict[str, Any]) -> bool:
    """With --no-infer-types: each value as the text the README says."""
    for key, value in expected.items():
        text = row.get(key)
        if value is None:
            ok = text is None
        elif isinstance(value, str):
            ok = text == value
        elif isinstance(value, bool):
            ok = text == ("true" if value else "false")
        elif isinstance(value, int | float):
            ok = text is not None and _same(value, float(text))
        else:
            ok = text is not None and _same(_without_nulls(value), json.loads(text))
        if not ok:
            return False
    return all(value is None for key, value in row.items() if key not in expected)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _csv_agrees(case: Case, data: bytes, outcome: Outcome) -> None:
    """pyarrow's whole-file CSV reader, with the types the reader chose."""
    table = outcome.table
    assert table is not None
    if not data.strip(b"\r\n"):
        assert table.num_rows == 0
        return
    delimiter = "," if case.fmt == "csv" else "\t"
    parse = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
    nulls = {"strings_can_be_null": True, "quoted_strings_can_be_null": False}
    invalid: list[int] = []

    def skip(row: pacsv.InvalidRow) -> str:
        invalid.append(row.number or 0)
        return "skip"

    raw = pacsv.read_csv(
        io.BytesIO(data),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter, newlines_in_values=True, invalid_row_handler=skip
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.binary() for name in table.schema.names}, **nulls
        ),
    )
    # No row lost: each is written or reported.
    assert table.num_rows + len(outcome.bad) == raw.num_rows + len(invalid)
    if outcome.bad:
        return
    reference = pacsv.read_csv(
        io.BytesIO(data),
        parse_options=parse,
        convert_options=pacsv.ConvertOptions(column_types=table.schema, **nulls),
    )
    assert _plain(table) == _plain(reference)


def _plain(table: pa.Table) -> list[dict[str, Any]]:
    def value(v: Any) -> Any:
        return "NaN" if isinstance(v, float) and math.isnan(v) else v

    return [{k: value(v) for k, v in row.items()} for row in table.to_pylist()]


def _parquet_agrees(case: Case, data: bytes, outcome: Outcome) -> None:
    """pyarrow's whole-file Parquet reader: what it refuses must not complete."""
    table = outcome.table
    assert table is not None
    if not data:
        assert table.num_rows == 0
        return
    try:
        reference = pq.read_table(io.BytesIO(data))
        reference.validate(full=True)
    except (pa.ArrowException, OSError) as exc:
        raise AssertionError(f"completed a file pyarrow refuses: {exc}") from exc
    assert table.equals(reference.replace_schema_metadata(None)) or _plain(table) == _plain(
        reference
    )


AGREES = {
    "raw": _raw_agrees,
    "lines": _lines_agree,
    "jsonl": _jsonl_agrees,
    "csv": _csv_agrees,
    "tsv": _csv_agrees,
    "parquet": _parquet_agrees,
}
