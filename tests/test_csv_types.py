"""Declared CSV column types, and values that do not fit their column going to the bad rows.

Reader-level: the rows, types and bad rows of ``read_file``; the tolerant re-read is checked
against Arrow's own CSV reader on the same text (minus the bad rows). Settings-level: the
``--csv-column-types`` syntax and its errors.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from fsspec.implementations.local import LocalFileSystem
from hypothesis import given, settings
from hypothesis import strategies as st

from replicator.config import Settings, coerce, load_config
from replicator.errors import ConfigError, ReadError
from replicator.model import Chunk, FileInfo
from replicator.readers import BadRow, CsvOptions, ReaderOptions, read_file
from replicator.readers.csvconvert import ValueRules, convert_column
from replicator.readers.csvtypes import resolve_type
from tests.corpus import put, table_of

MIB = 1024 * 1024


def _read(
    file: FileInfo, csv: CsvOptions | None = None, **options: Any
) -> tuple[list[Chunk], list[BadRow]]:
    """All chunks of ``file`` read with a dead-letter callback, and the bad rows reported."""
    bad: list[BadRow] = []
    reader_options = ReaderOptions(csv=csv or CsvOptions(), **options)
    chunks = list(read_file(LocalFileSystem(), file, reader_options, bad.append))
    return chunks, bad


def _declared(**types: str) -> CsvOptions:
    return CsvOptions(column_types=tuple(types.items()))


def _rows(chunks: list[Chunk], *columns: str) -> list[tuple[Any, ...]]:
    table = table_of(chunks)
    return list(zip(*(table.column(c).to_pylist() for c in columns), strict=True))


# --- declared types ---------------------------------------------------------------------------


def test_declared_types_are_used_and_the_rest_inferred(tmp_path: Path) -> None:
    data = (
        b"zip,price,ts,flag,day,at,score,note\n"
        b"01234,1.5,2024-05-06T07:08:09.123,1,2024-05-06,07:08:09,0.5,a\n"
        b"98765,20,2024-05-06 07:08:09,false,2024-05-07,23:59:00,1.25,\n"
    )
    csv = _declared(
        zip="string",
        price="decimal128(12,2)",
        ts="timestamp[ms]",
        flag="bool",
        day="date32",
        at="time32[s]",
    )
    chunks, bad = _read(put(tmp_path, "t.csv", data), csv)
    assert bad == []
    assert chunks[-1].items.schema == pa.schema(
        [
            ("zip", pa.string()),
            ("price", pa.decimal128(12, 2)),
            ("ts", pa.timestamp("ms")),
            ("flag", pa.bool_()),
            ("day", pa.date32()),
            ("at", pa.time32("s")),
            ("score", pa.float64()),  # inferred
            ("note", pa.string()),  # inferred
            ("_file", pa.string()),
            ("_row", pa.int64()),
        ]
    )
    assert table_of(chunks).drop_columns(["_file"]).to_pylist() == [
        {
            "zip": "01234",
            "price": Decimal("1.50"),
            "ts": dt.datetime(2024, 5, 6, 7, 8, 9, 123000),
            "flag": True,
            "day": dt.date(2024, 5, 6),
            "at": dt.time(7, 8, 9),
            "score": 0.5,
            "note": "a",
            "_row": 0,
        },
        {
            "zip": "98765",
            "price": Decimal("20.00"),
            "ts": dt.datetime(2024, 5, 6, 7, 8, 9),
            "flag": False,
            "day": dt.date(2024, 5, 7),
            "at": dt.time(23, 59),
            "score": 1.25,
            "note": None,  # an empty unquoted field is null in text columns too
            "_row": 1,
        },
    ]


def test_declared_types_apply_to_empty_and_headerless_files(tmp_path: Path) -> None:
    csv = CsvOptions(header=False, column_names=("a", "b"), column_types=(("a", "int16"),))
    (empty,) = _read(put(tmp_path, "e.csv", b""), csv)[0]
    assert empty.items.schema.field("a").type == pa.int16()
    chunks, _ = _read(put(tmp_path, "h.csv", b"7,x\n"), csv)
    assert chunks[0].items.schema.field("a").type == pa.int16()
    assert _rows(chunks, "a", "b") == [(7, "x")]
    # A declared column the file does not have is no error (one setting serves many files).
    chunks, _ = _read(put(tmp_path, "o.csv", b"a,b\n1,2\n"), _declared(zz="int64", b="string"))
    assert _rows(chunks, "a", "b") == [(1, "2")]


def test_tsv_with_declared_types(tmp_path: Path) -> None:
    chunks, bad = _read(put(tmp_path, "t.tsv", b"a\tb\n1\tx\ny\t2\n3\tz\n"), _declared(a="int8"))
    assert _rows(chunks, "a", "b", "_row") == [(1, "x", 0), (3, "z", 1)]
    assert [(b.reason, b.raw, b.row) for b in bad] == [
        ('column "a": "y" does not fit int8', b"y\t2", 2)
    ]


# --- values that do not fit -------------------------------------------------------------------


def test_a_bad_value_in_a_declared_column_is_one_bad_row(tmp_path: Path) -> None:
    data = b'id,qty,name\n1,5,a\n2,abc,b\n3,7,""\n4,NA,NA\n5,300,"x,y"\n6,8,z\n'
    chunks, bad = _read(put(tmp_path, "q.csv", data), _declared(qty="uint8"))
    assert _rows(chunks, "id", "qty", "name", "_row") == [
        (1, 5, "a", 0),
        (3, 7, "", 1),  # quoted: an empty string
        (4, None, None, 2),  # an unquoted null spelling is null in every column
        (6, 8, "z", 3),
    ]
    assert bad == [
        BadRow(reason='column "qty": "abc" does not fit uint8', raw=b"2,abc,b", row=2),
        # Re-serialised from its fields: quoted again where the delimiter needs it.
        BadRow(reason='column "qty": "300" does not fit uint8', raw=b'5,300,"x,y"', row=5),
    ]


@pytest.mark.parametrize(
    ("spec", "good", "misfit", "value"),
    [
        ("int64", b"12", b"1.5", 12),
        ("uint8", b"255", b"256", 255),
        ("float32", b"1.5", b"1.5f", 1.5),
        ("bool", b"TRUE", b"yes", True),
        ("decimal128(12,2)", b"1.25", b"1.255", Decimal("1.25")),
        ("decimal128(4,2)", b"10.5", b"123.45", Decimal("10.50")),
        ("date32", b"2024-02-29", b"2023-02-29", dt.date(2024, 2, 29)),
        (
            "timestamp[s]",
            b"2024-01-02 03:04:05",
            b"2024-01-02T03:04:05.5",
            dt.datetime(2024, 1, 2, 3, 4, 5),
        ),
        ("time32[s]", b"23:59:59", b"24:00:00", dt.time(23, 59, 59)),
        ("string", b"\xc3\xa9", b"\xe9", "\u00e9"),
    ],
)
def test_each_kind_of_misfit_is_a_bad_row(
    tmp_path: Path, spec: str, good: bytes, misfit: bytes, value: Any
) -> None:
    data = b"k,v\n1,%s\n2,%s\n3,%s\n" % (good, misfit, good)
    chunks, bad = _read(put(tmp_path, "k.csv", data), _declared(v=spec))
    assert _rows(chunks, "k", "v", "_row") == [(1, value, 0), (3, value, 1)]
    assert [(b.row, b.raw) for b in bad] == [(2, b"2," + misfit)]
    assert bad[0].reason.startswith('column "v": ')


def test_a_row_with_several_misfits_is_reported_once(tmp_path: Path) -> None:
    data = b"a,b,c\n1,2,3\nx,2,y\n4,5,6\n"
    chunks, bad = _read(put(tmp_path, "m.csv", data), _declared(a="int64", c="int64"))
    assert _rows(chunks, "a", "b", "c") == [(1, 2, 3), (4, 5, 6)]
    assert [(b.reason, b.row) for b in bad] == [
        ('column "a": "x" does not fit int64; column "c": "y" does not fit int64', 2)
    ]


def test_a_bad_value_in_the_first_block_keeps_the_other_columns_inferred(tmp_path: Path) -> None:
    data = b"a,b,c\nx,1,2021-01-01\n2,2,2021-01-02\n"
    chunks, bad = _read(put(tmp_path, "f.csv", data), _declared(a="int64"))
    schema = chunks[-1].items.schema
    assert (schema.field("b").type, schema.field("c").type) == (pa.int64(), pa.date32())
    assert _rows(chunks, "a", "b", "c", "_row") == [(2, 2, dt.date(2021, 1, 2), 0)]
    assert [(b.raw, b.row) for b in bad] == [(b"x,1,2021-01-01", 1)]


def _big_csv(rows: int, qty: dict[int, bytes]) -> bytes:
    """A CSV of ``rows`` data rows (id, qty, name, at), row i's qty ``qty[i]`` where given.

    Some names need quoting; one spans two lines.
    """
    out = io.BytesIO()
    out.write(b"id,qty,name,at\n")
    for i in range(rows):
        name = b'"multi\nline, ""quoted"""' if i == 3 else b"name %d" % i
        out.write(b"%d,%s,%s,12:%02d:00\n" % (i, qty.get(i, b"%d" % (i % 1000)), name, i % 60))
    return out.getvalue()


@pytest.mark.parametrize("codec", ["none", "gzip"])
def test_a_misfit_in_a_late_block_dead_letters_only_its_row(tmp_path: Path, codec: str) -> None:
    # Types are inferred from the first (1 MiB) block; later blocks hold values that don't fit.
    data = _big_csv(80_000, {60_000: b"abc", 60_001: b"", 61_234: b"1.5", 79_999: b'"4,2"'})
    assert len(data) > 2 * MIB
    key = "late.csv.gz" if codec == "gzip" else "late.csv"
    stored = gzip.compress(data) if codec == "gzip" else data

    chunks, bad = _read(put(tmp_path, key, stored), chunk_size=256 * 1024)

    table = table_of(chunks)
    assert table.schema.field("qty").type == pa.int64()
    assert table.schema.field("at").type == pa.time32("s")
    # Every good row once, in order, numbered without gaps.
    misfits = {60_000, 61_234, 79_999}
    assert table.column("id").to_pylist() == [i for i in range(80_000) if i not in misfits]
    assert table.column("_row").to_pylist() == list(range(80_000 - 3))
    assert table.column("qty").to_pylist()[59_999:60_002] == [999, None, 2]  # "" is null
    assert table.column("name").to_pylist()[3] == 'multi\nline, "quoted"'
    assert table.column("at").to_pylist()[-1] == dt.time(12, 18)
    assert chunks[-1].completed
    assert not any(c.completed for c in chunks[:-1])
    assert [(b.row, b.raw, b.reason, b.line) for b in bad] == [
        (60_001, b"60000,abc,name 60000,12:00:00", 'column "qty": "abc" does not fit int64', None),
        (61_235, b"61234,1.5,name 61234,12:34:00", 'column "qty": "1.5" does not fit int64', None),
        (
            80_000,
            b'79999,"4,2",name 79999,12:19:00',
            'column "qty": "4,2" does not fit int64',
            None,
        ),
    ]


def test_misfits_with_records_longer_than_a_block(tmp_path: Path) -> None:
    # The tolerant re-read grows its blocks past a long record as the typed reading does.
    rows = [b"%d,%d,%s" % (i, i, b"x" * (3000 if i == 700 else 5)) for i in range(1000)]
    rows[900] = b"900,oops,y"
    data = b"id,qty,pad\n" + b"\n".join(rows) + b"\n"
    chunks, bad = _read(put(tmp_path, "long.csv", data), chunk_size=1024)
    assert _rows(chunks, "id")[-3:] == [(997,), (998,), (999,)]
    assert [r[0] for r in _rows(chunks, "id")] == [i for i in range(1000) if i != 900]
    assert [(b.row, b.raw) for b in bad] == [(901, b"900,oops,y")]


def test_invalid_utf8_in_a_text_column_is_a_bad_row(tmp_path: Path) -> None:
    data = b"id,name\n" + b"".join(b"%d,n%d\n" % (i, i) for i in range(50_000))
    data += b"50000,caf\xe9\n50001,ok\n"
    chunks, bad = _read(put(tmp_path, "u.csv", data), chunk_size=64 * 1024)
    assert _rows(chunks, "id", "name")[-1] == (50_001, "ok")
    assert table_of(chunks).num_rows == 50_001
    assert [(b.reason, b.raw, b.row) for b in bad] == [
        ('column "name": "caf\ufffd" is not valid UTF-8', b"50000,caf\xe9", 50_001)
    ]


def test_field_count_errors_are_not_reported_twice_by_the_reread(tmp_path: Path) -> None:
    rows = [b"%d,%d" % (i, i) for i in range(40_000)]
    rows[10] = b"10,10,extra"
    rows[30_000] = b"30000,zz"
    data = b"a,b\n" + b"\n".join(rows) + b"\n"
    chunks, bad = _read(put(tmp_path, "f.csv", data), chunk_size=64 * 1024)
    assert table_of(chunks).num_rows == 39_998
    assert [(b.line, b.row, b.raw) for b in bad] == [
        (12, None, "10,10,extra"),
        # Its row index does not count the row with a field too many (else it would be 30001).
        (None, 30_000, b"30000,zz"),
    ]


@pytest.mark.parametrize("null_values", [None, ("NA", "-")])
def test_the_reread_converts_like_arrow(
    tmp_path: Path, null_values: tuple[str, ...] | None
) -> None:
    """Good rows after the switch to the tolerant reading equal Arrow's reading of them.

    Unquoted null spellings are null in every column, the text column ``s`` too; quoted
    values never are.
    """
    kinds = [
        (b"1", b"", b"1.5", b"2024-01-02T03:04:05Z", b"true"),
        (b"NA", b"NA", b"NA", b"NA", b"NA"),
        (b"2", b'""', b"-inf", b"2024-01-02T03:04:05.5Z", b"0"),
        (b"3", b"-", b"nan", b"2024-01-02 03:04:05+01:00", b"FALSE"),
        (b" 7 ", b" spaced ", b" 2.5", b"2024-01-02T03:04:05Z", b"1"),
        (b"8", b"NULL", b"1e3", b"2024-01-02T03:04:05Z", b"false"),
        (b"9", b'"a,b"', b"-0", b"2024-01-02T03:04:05Z", b"True"),
    ]
    rows = [b"%d,%s,%s,%s,%s,%s" % (i, *kinds[i % len(kinds)]) for i in range(70_000)]
    header = b"i,n,s,f,t,b\n"
    misfit = b"70000,zz,x,1,2024-01-01T00:00:00Z,true"
    data = header + b"\n".join([*rows, misfit, *rows[:50]]) + b"\n"
    csv = CsvOptions(null_values=null_values)

    chunks, bad = _read(put(tmp_path, "n.csv", data), csv)

    assert [b.raw for b in bad] == [misfit]
    got = table_of(chunks).drop_columns(["_file", "_row"])
    assert got.schema.field("n").type == pa.int64()
    convert = pacsv.ConvertOptions(
        column_types=got.schema,
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        **({"null_values": ["", *null_values]} if null_values else {}),
    )
    without = header + b"\n".join([*rows, *rows[:50]]) + b"\n"
    expected = pacsv.read_csv(io.BytesIO(without), convert_options=convert)
    assert got.schema == expected.schema
    assert _plain(got) == _plain(expected)
    # The rows after the misfit went through the tolerant conversion.
    strings = got.column("s").to_pylist()[-50:-43]
    if null_values is None:
        assert strings == [None, None, "", "-", " spaced ", None, "a,b"]
    else:
        assert strings == [None, None, "", None, " spaced ", "NULL", "a,b"]
    assert got.column("n").to_pylist()[-50:-43] == [1, None, 2, 3, 7, 8, 9]


def _plain(table: pa.Table) -> list[dict[str, Any]]:
    """The rows, with NaN spelled out (NaN != NaN would fail any comparison)."""
    return [{k: ("NaN" if _is_nan(v) else v) for k, v in r.items()} for r in table.to_pylist()]


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


# --- --on-bad-rows fail -----------------------------------------------------------------------


def test_fail_names_the_column_the_value_and_the_row(tmp_path: Path) -> None:
    data = b"id,qty\n1,5\n2,abc\n"
    file = put(tmp_path, "f.csv", data)
    options = ReaderOptions(csv=_declared(qty="int64"))
    with pytest.raises(ReadError) as info:
        list(read_file(LocalFileSystem(), file, options))
    assert str(info.value) == (
        'f.csv: cannot read as csv: data row 2: column "qty": "abc" does not fit int64 '
        "(after 0 rows); fix the value or the column's type in --csv-column-types, or pass "
        "--on-bad-rows dead-letter to set such rows aside"
    )


# --- conversions: the tolerant reading against Arrow's CSV reader ------------------------------

TYPES = [
    "int8",
    "int64",
    "uint8",
    "uint64",
    "float32",
    "float64",
    "bool",
    "decimal128(12,2)",
    "decimal128(5,0)",
    "date32",
    "date64",
    "timestamp[s]",
    "timestamp[ms]",
    "timestamp[ns]",
    "timestamp[ms, tz=UTC]",
    "timestamp[us, tz=Europe/Paris]",
    "time32[s]",
    "time32[ms]",
    "time64[us]",
    "time64[ns]",
    "string",
    "large_string",
    "binary",
]
VALUES = [
    *("1", " 1", "1 ", "\t1", "+1", "-1", "-0", "00012", "1.0", "1.5", "1.005", ".5", "5."),
    *("1e3", "1E3", "1.5e-1", "1e400", "0x10", "1_000", "1,5", "300", "\uff11", "\xa01", "-", "e"),
    *("18446744073709551615", "18446744073709551616", "-9223372036854775808", "99999999999.99"),
    *("inf", "-inf", "Infinity", "nan", "NaN", "NAN", "true", "True", "TRUE", "tRue", " true"),
    *("0", "false", "yes", "2021-01-02", " 2021-01-02", "2021-1-2", "20210102", "2021-02-30"),
    *("2021-01-02 03:04:05", "2021-01-02T03:04:05", "2021-01-02T03:04:05Z", "2021-01-02T03"),
    *("2021-01-02T03:04:05.123", "2021-01-02T03:04:05.123456789", "2021-01-02T03:04:05+01:00"),
    *("2021-01-02T03:04:05+0100", "2021-01-02 03:04", "2021-01-02T24:00:00", "03:04:05"),
    *("03:04", "3:04", "03:04:05.1", "03:04:05.123456", "03:04:05.1234567891", " 03:04:05"),
    *("24:00:00", "23:60:00", "03:04:05Z", "", "NA", "N/A", "NULL", "null", " NA", "#N/A"),
    *("é", 'a"b', "x\ny", "abc"),
]


def _csv(value: str, quoted: bool) -> bytes:
    text = value.encode()
    return b'a\n"' + text.replace(b'"', b'""') + b'"\n' if quoted else b"a\n" + text + b"\n"


def _arrow(value: str, dtype: pa.DataType, convert: dict[str, Any], quoted: bool) -> Any:
    """Arrow's CSV reading of ``value`` in a column of ``dtype``; None if it fails."""
    options = pacsv.ConvertOptions(column_types={"a": dtype}, **convert)
    try:
        return pacsv.read_csv(io.BytesIO(_csv(value, quoted)), convert_options=options)[0].chunk(0)
    except pa.ArrowInvalid:
        return None


def _ours(value: str, dtype: pa.DataType, convert: dict[str, Any], quoted: bool) -> Any:
    """The tolerant reading: the raw bytes (with the same null rules), then ``csvconvert``."""
    options = pacsv.ConvertOptions(column_types={"a": pa.binary()}, **convert)
    raw = pacsv.read_csv(io.BytesIO(_csv(value, quoted)), convert_options=options)[0].chunk(0)
    converted, failed = convert_column(raw, dtype, ValueRules.of())
    return None if failed else converted


def _same(arrow: pa.Array | None, ours: pa.Array | None) -> bool:
    if arrow is None or ours is None:
        return arrow is ours
    return arrow.type == ours.type and (arrow.equals(ours) or str(arrow) == str(ours))


_NULL_RULES = {"strings_can_be_null": True, "quoted_strings_can_be_null": False}


@pytest.mark.parametrize("spec", TYPES)
@pytest.mark.parametrize("nulls", ["default", "custom"])
def test_each_value_converts_as_in_arrows_csv_reader(spec: str, nulls: str) -> None:
    dtype = resolve_type(spec)
    convert: dict[str, Any] = dict(_NULL_RULES)
    if nulls == "custom":
        convert["null_values"] = ["NA", "x"]
    differ = [
        (v, quoted)
        for v in VALUES
        for quoted in (True, False)
        if (quoted or not any(c in v for c in ',"\n'))
        and not _same(_arrow(v, dtype, convert, quoted), _ours(v, dtype, convert, quoted))
    ]
    assert differ == []


@settings(max_examples=300, deadline=None)
@given(
    value=st.text(alphabet="0123456789 -+.:eETZnaNtrufls", max_size=14),
    spec=st.sampled_from(TYPES),
    quoted=st.booleans(),
)
def test_random_text_converts_as_in_arrows_csv_reader(value: str, spec: str, quoted: bool) -> None:
    dtype = resolve_type(spec)
    assert _same(
        _arrow(value, dtype, _NULL_RULES, quoted), _ours(value, dtype, _NULL_RULES, quoted)
    )


# --- the setting ------------------------------------------------------------------------------


def test_setting_from_the_command_line_and_toml(tmp_path: Path) -> None:
    given_ = coerce(
        {"csv_column_types": "id:int64, ts:timestamp[ms, tz=UTC],price:decimal128(12, 2)"},
        origin="command line",
    )
    assert given_["csv_column_types"] == (
        ("id", "int64"),
        ("ts", "timestamp[ms, tz=UTC]"),
        ("price", "decimal128(12, 2)"),
    )
    table = tmp_path / "t.toml"
    table.write_text('[csv]\ncolumn-types = { id = "int64", "the name" = "string" }\n')
    assert load_config(table)["csv_column_types"] == (("id", "int64"), ("the name", "string"))
    text = tmp_path / "s.toml"
    text.write_text('csv-column-types = "a:bool"\n')
    assert load_config(text)["csv_column_types"] == (("a", "bool"),)
    # The Python API may pass a mapping too.
    assert Settings(csv_column_types={"a": "date32"}).csv_column_types == (("a", "date32"),)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "id:integer",
            "command line: csv-column-types: column \"id\": unknown type 'integer'; use one of "
            "int8..int64,",
        ),
        ("id-int64", "cannot read 'id-int64': expected NAME:TYPE; e.g. id:int64,ts:timestamp[ms]"),
        ("a:int64,a:string", 'column "a" is declared twice'),
        ("p:decimal128(40,2)", "decimal precision must be 1 to 38, e.g. decimal128(12,2)"),
        ("t:timestamp[ms, tz=Mars/Base]", "unknown time zone; use a name such as UTC"),
        ("h:float16", 'column "h": CSV columns cannot be halffloat; use one of'),
        ("n:null", "CSV columns cannot be null"),
        (3, "expected NAME:TYPE pairs or a table, got 3"),
        ({"a": 3}, "expected a column name and a type name, got 'a': 3"),
    ],
)
def test_bad_settings_say_what_is_wrong_in_one_line(value: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        coerce({"csv-column-types": value}, origin="command line")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_column_of_mostly_misfits_fails_the_file_with_its_type_named(tmp_path: Path) -> None:
    # A wrong declaration, not a few bad rows: failing says so, instead of dead-lettering all.
    data = b"id,when\n" + b"".join(b"%d,21/11/2026\n" % i for i in range(2000))
    with pytest.raises(ReadError) as info:
        _read(put(tmp_path, "d.csv", data), _declared(when="date32"))
    message = str(info.value)
    assert message.startswith('d.csv: cannot read as csv: column "when": more than')
    assert "date32" in message
    assert "--csv-column-types" in message


def test_a_reread_that_finds_no_misfit_fails_with_arrows_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Should the re-read ever accept what Arrow's reader refused, the file fails rather than
    # pass with values converted otherwise than Arrow would.
    import replicator.readers.csv as csv_reader  # noqa: PLC0415

    monkeypatch.setattr(csv_reader, "tolerant_batches", lambda *args, **kwargs: iter(()))
    data = b"n\n1\n2\nx\n"
    with pytest.raises(ReadError, match="CSV conversion error to int64"):
        _read(put(tmp_path, "n.csv", data), _declared(n="int64"))
