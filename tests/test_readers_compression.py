"""Readers: codec detection by extension and by magic bytes, and decompression of every codec."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replicator.readers import codec_from_extension, codec_from_magic
from replicator.readers.compression import MAGIC_SIZE, strip_compression_extension
from tests.corpus import CODECS, EXTENSION, compress, put, read, rows_of

CSV = "id,name\n1,ann\n2,bøb\n3,日本\n".encode()
EXPECTED = [{"id": 1, "name": "ann"}, {"id": 2, "name": "bøb"}, {"id": 3, "name": "日本"}]


@pytest.mark.parametrize("codec", CODECS)
def test_codec_detected_by_extension(tmp_path: Path, codec: str) -> None:
    file = put(tmp_path, f"d.csv{EXTENSION[codec]}", compress(CSV, codec))
    assert rows_of(read(file, system_columns=False)) == EXPECTED


@pytest.mark.parametrize("codec", CODECS)
def test_codec_detected_by_magic_bytes_without_extension(tmp_path: Path, codec: str) -> None:
    file = put(tmp_path, "d.csv", compress(CSV, codec))
    assert rows_of(read(file, system_columns=False)) == EXPECTED


@pytest.mark.parametrize("codec", CODECS)
def test_explicit_compression_with_no_hint_in_the_key(tmp_path: Path, codec: str) -> None:
    file = put(tmp_path, "blob", compress(b"one\ntwo\n", codec))
    chunks = read(file, format="lines", compression=codec, system_columns=False)
    assert rows_of(chunks) == [{"line": "one"}, {"line": "two"}]


@pytest.mark.parametrize("codec", CODECS)
def test_every_format_through_every_codec_small_chunks(tmp_path: Path, codec: str) -> None:
    jsonl = b'{"id":1,"name":"ann"}\n{"id":2,"name":"b\xc3\xb8b"}\n{"id":3,"name":"\xe6\x97\xa5\xe6\x9c\xac"}\n'
    for key, data in (("c.csv", CSV), ("c.jsonl", jsonl)):
        file = put(tmp_path, key + EXTENSION[codec], compress(data, codec))
        assert rows_of(read(file, chunk_size=7, system_columns=False)) == EXPECTED


def test_compression_none_reads_stored_bytes(tmp_path: Path) -> None:
    # A .gz name on plain text (e.g. a store that already decompressed it).
    file = put(tmp_path, "plain.txt.gz", b"hello\n")
    chunks = read(file, compression="none", system_columns=False)
    assert rows_of(chunks) == [{"line": "hello"}]


def test_multi_member_gzip_reads_every_member(tmp_path: Path) -> None:
    data = gzip.compress(b"a,b\n1,x\n") + gzip.compress(b"2,y\n") + gzip.compress(b"3,z\n")
    chunks = read(put(tmp_path, "m.csv.gz", data), system_columns=False)
    assert rows_of(chunks) == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}, {"a": 3, "b": "z"}]


def test_multi_member_gzip_lines_without_extension(tmp_path: Path) -> None:
    data = gzip.compress(b"one\ntw") + gzip.compress(b"o\nthree")
    chunks = read(put(tmp_path, "m", data), format="lines", chunk_size=3, system_columns=False)
    assert rows_of(chunks) == [{"line": "one"}, {"line": "two"}, {"line": "three"}]


@pytest.mark.parametrize("codec", CODECS)
def test_compressed_empty_content_is_an_empty_file(tmp_path: Path, codec: str) -> None:
    chunks = read(put(tmp_path, f"e.jsonl{EXTENSION[codec]}", compress(b"", codec)))
    assert len(chunks) == 1
    assert chunks[0].rows == 0
    assert chunks[0].completed


@pytest.mark.parametrize(
    ("key", "codec"),
    [
        ("a.csv.gz", "gzip"),
        ("a.CSV.GZIP", "gzip"),
        ("a.zst", "zstd"),
        ("a.zstd", "zstd"),
        ("dir.gz/a.bz2", "bz2"),
        ("a.xz", "xz"),
        ("a.csv", None),
        ("a.gz.csv", None),
        ("gz", None),
    ],
)
def test_codec_from_extension(key: str, codec: str | None) -> None:
    assert codec_from_extension(key) == codec


def test_strip_compression_extension() -> None:
    assert strip_compression_extension("d/a.csv.gz") == "d/a.csv"
    assert strip_compression_extension("d/a.csv") == "d/a.csv"


@pytest.mark.parametrize("codec", CODECS)
def test_codec_from_magic(codec: str) -> None:
    assert codec_from_magic(compress(b"some text", codec)[:MAGIC_SIZE]) == codec
    assert codec_from_magic(compress(b"", codec)[:MAGIC_SIZE]) == codec


@pytest.mark.parametrize("head", [b"", b"a,b\n", b"BZh is a word", b"\x1f", b"PAR1\x15\x04"])
def test_no_codec_from_text_magic(head: bytes) -> None:
    assert codec_from_magic(head) is None


@settings(max_examples=60, deadline=None)
@given(
    text=st.lists(
        st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\n"), max_size=12),
        max_size=12,
    ),
    trailing_newline=st.booleans(),
    chunk_size=st.integers(min_value=1, max_value=40),
    codec=st.sampled_from((None, *CODECS)),
)
def test_lines_match_python_split(
    tmp_path_factory: pytest.TempPathFactory,
    text: list[str],
    trailing_newline: bool,
    chunk_size: int,
    codec: str | None,
) -> None:
    data = "\n".join(text).encode() + (b"\n" if trailing_newline and text else b"")
    stored = compress(data, codec) if codec else data
    file = put(tmp_path_factory.mktemp("lines"), "p.log", stored)
    chunks = read(file, chunk_size=chunk_size, compression=codec or "none")
    expected = data.decode().split("\n")
    if data.endswith(b"\n") or not data:
        expected.pop()
    expected = [line.removesuffix("\r") for line in expected]
    assert [r["line"] for r in rows_of(chunks)] == expected
    assert [r["_row"] for r in rows_of(chunks)] == list(range(len(expected)))
    assert chunks[-1].offset.rows == len(expected)
    if codec is None:
        assert chunks[-1].offset.byte == len(data)
