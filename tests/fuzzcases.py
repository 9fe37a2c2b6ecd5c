"""Inputs for the readers' fuzz test: small files of every format, codec and kind of damage.

``cases()`` is a hypothesis strategy of ``Case``s; ``Case.stored`` is what lies in storage.
The reference each reader is checked against is in ``tests/test_fuzz_readers.py``.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import strategies as st

from tests.corpus import EXTENSION, compress

FORMATS = ("csv", "tsv", "jsonl", "parquet", "lines", "raw")
CODECS = ("none", "gzip", "zstd", "bz2", "xz")
DAMAGE = ("none", "truncated", "bitflip", "zeroed", "wrong-format", "empty", "random")
_KEY = {"csv": "f.csv", "tsv": "f.tsv", "jsonl": "f.jsonl", "parquet": "f.parquet"}
_KEY |= {"lines": "f.txt", "raw": "f.bin"}


@dataclass(frozen=True)
class Case:
    """One file to read: its format, codec, damage, decompressed text and stored bytes."""

    fmt: str
    codec: str
    damage: str
    text: bytes  # the content before compression (and before damage)
    stored: bytes
    chunk_size: int
    tolerant: bool
    infer_types: bool = True
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return _KEY[self.fmt] + ("" if self.codec == "none" else EXTENSION[self.codec])


# Values that have broken parsers before: nulls in lists, huge numbers, escapes, non-ASCII.
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**65), max_value=2**65),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6),
)
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["a", "b", "c", "é"]), inner, max_size=3)
    ),
    max_leaves=8,
)
_OBJECTS = st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), JSON_VALUES, max_size=4)
# Lines a JSON-lines file may hold: mostly objects, some other values, some broken text.
_BROKEN = st.sampled_from(
    [
        b"",
        b"   ",
        b"{",
        b"nul",
        b"nulll",
        b'{"a":1,"a":2}',
        b'{"a":{"x":1,"x":2}}',
        b"\xef\xbb",
        b'\xef\xbb{"a":1}',
        b"\xef\xbb\xbf",
        b"\xff",
        b'{"a":"\xff"}',
        b'{"a":NaN}',
        b'{"a":1}{"b":2}',
        b"\x00",
    ]
)
JSON_LINES = st.one_of(
    _OBJECTS.map(lambda v: json.dumps(v, ensure_ascii=False).encode()),
    _OBJECTS.map(lambda v: json.dumps(v, separators=(",", ":")).encode()),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    _BROKEN,
)


@st.composite
def jsonl_text(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(JSON_LINES, max_size=12))
    end = draw(st.sampled_from([b"\n", b"", b"\r\n"]))
    bom = draw(st.sampled_from([b"", b"", b"\xef\xbb\xbf"]))
    return bom + end.join(lines) + (end if lines else b"")


_CELLS = st.one_of(
    st.integers(min_value=-99, max_value=99).map(str),
    st.sampled_from(["", "NULL", "NA", "x", "é", "1.5", "true", "2024-01-02", "007", " 1 "]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=5),
)


@st.composite
def csv_text(draw: st.DrawFn, delimiter: str) -> bytes:
    width = draw(st.integers(min_value=1, max_value=4))
    rows = draw(st.lists(st.lists(_CELLS, min_size=width, max_size=width), max_size=12))
    header = [f"c{i}" for i in range(width)]
    quote_all = draw(st.booleans())

    def line(cells: list[str]) -> str:
        out = []
        for cell in cells:
            special = any(ch in cell for ch in (delimiter, '"', "\n", "\r"))
            out.append('"' + cell.replace('"', '""') + '"' if special or quote_all else cell)
        return delimiter.join(out)

    text = "\n".join(line(r) for r in [header, *rows]) + "\n"
    data = text.encode()
    if draw(st.booleans()):  # one value that is not UTF-8, as files in Latin-1 have
        data = data.replace("é".encode(), b"\xe9", 1)
    if draw(st.integers(min_value=0, max_value=5)) == 0 and rows:
        data += delimiter.join(["1"] * (width + 1)).encode() + b"\n"  # a field too many
    return data


@st.composite
def parquet_bytes(draw: st.DrawFn) -> bytes:
    count = draw(st.integers(min_value=0, max_value=30))
    columns = {
        "i": pa.array(
            draw(st.lists(st.none() | st.integers(-9, 9), min_size=count, max_size=count)),
            pa.int64(),
        ),
        "s": pa.array(
            draw(st.lists(st.none() | st.text(max_size=4), min_size=count, max_size=count)),
            pa.string(),
        ),
        "l": pa.array(
            draw(st.lists(st.lists(st.integers(0, 3), max_size=3), min_size=count, max_size=count)),
            pa.list_(pa.int64()),
        ),
    }
    buffer = io.BytesIO()
    pq.write_table(
        pa.table(columns),
        buffer,
        row_group_size=draw(st.sampled_from([1, 4, 64])),
        compression=draw(st.sampled_from(["none", "snappy", "zstd", "gzip"])),
        use_dictionary=draw(st.booleans()),
    )
    return buffer.getvalue()


@st.composite
def lines_text(draw: st.DrawFn) -> bytes:
    chunks = draw(
        st.lists(st.binary(max_size=12) | st.text(max_size=8).map(str.encode), max_size=10)
    )
    return b"\n".join(chunks) + draw(st.sampled_from([b"", b"\n", b"\r\n"]))


def content(draw: st.DrawFn, fmt: str) -> bytes:
    if fmt in ("csv", "tsv"):
        return draw(csv_text("," if fmt == "csv" else "\t"))
    if fmt == "jsonl":
        return draw(jsonl_text())
    if fmt == "parquet":
        return draw(parquet_bytes())
    return draw(lines_text())


def damaged(draw: st.DrawFn, stored: bytes, damage: str, fmt: str) -> bytes:
    if damage == "empty" or (not stored and damage != "random"):
        return b""
    if damage == "truncated":
        return stored[: draw(st.integers(min_value=0, max_value=len(stored) - 1))]
    if damage == "bitflip":
        flipped = bytearray(stored)
        for _ in range(draw(st.integers(min_value=1, max_value=3))):
            at = draw(st.integers(min_value=0, max_value=len(flipped) - 1))
            flipped[at] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        return bytes(flipped)
    if damage == "zeroed":
        start = draw(st.integers(min_value=0, max_value=len(stored) - 1))
        end = min(len(stored), start + draw(st.integers(min_value=1, max_value=64)))
        return stored[:start] + bytes(end - start) + stored[end:]
    if damage == "random":
        return draw(st.binary(min_size=1, max_size=200))
    return stored


@st.composite
def cases(draw: st.DrawFn) -> Case:
    fmt = draw(st.sampled_from(FORMATS))
    codec = "none" if fmt in ("parquet", "raw") else draw(st.sampled_from(CODECS))
    damage = draw(st.sampled_from(DAMAGE))
    made_as = draw(st.sampled_from(FORMATS[:5])) if damage == "wrong-format" else fmt
    text = content(draw, made_as)
    stored = damaged(draw, compress(text, codec) if codec != "none" else text, damage, fmt)
    return Case(
        fmt=fmt,
        codec=codec,
        damage=damage,
        text=text,
        stored=stored,
        chunk_size=draw(st.sampled_from([16, 1024, 8 << 20])),
        tolerant=draw(st.booleans()),
        infer_types=draw(st.booleans()) if fmt in ("csv", "tsv", "jsonl") else True,
    )
