"""The lines format: a line that is not UTF-8 is a bad row; the good lines around it are kept."""

from __future__ import annotations

from pathlib import Path

import pytest
import zstandard
from fsspec.implementations.local import LocalFileSystem

from replicator.errors import ReadError
from replicator.model import Chunk, FileInfo
from replicator.readers import BadRow, ReaderOptions, read_file
from tests.corpus import put, table_of


def _read(file: FileInfo, **options: object) -> tuple[list[Chunk], list[BadRow]]:
    bad: list[BadRow] = []
    chunks = list(read_file(LocalFileSystem(), file, ReaderOptions(**options), bad.append))  # type: ignore[arg-type]
    return chunks, bad


def _starts(lines: list[bytes], newline: bytes = b"\n") -> list[int]:
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + len(newline))
    return starts


def test_bad_lines_are_set_aside_with_their_line_and_byte(tmp_path: Path) -> None:
    data = b"a\r\nb\xff\xfe\r\nc\n\xc3\n\nlast \xe2\x82"
    chunks, bad = _read(put(tmp_path, "f.txt", data))
    assert table_of(chunks).to_pylist() == [
        {"line": "a", "_file": "f.txt", "_row": 0},
        {"line": "c", "_file": "f.txt", "_row": 1},
        {"line": "", "_file": "f.txt", "_row": 2},
    ]
    # raw is the line's bytes as stored (without its line break), kept exactly.
    assert bad == [
        BadRow(reason="not valid UTF-8", raw=b"b\xff\xfe", line=2, byte=3),
        BadRow(reason="not valid UTF-8", raw=b"\xc3", line=4, byte=10),
        BadRow(reason="not valid UTF-8", raw=b"last \xe2\x82", line=6, byte=13),
    ]


@pytest.mark.parametrize("codec", ["none", "zstd"])
def test_bad_lines_in_many_blocks(tmp_path: Path, codec: str) -> None:
    lines = [b"line %05d \xc3\xa9" % i for i in range(5000)]
    bad_at = {0, 1, 777, 2500, 2501, 4999}
    for i in bad_at:
        lines[i] = b"bad %05d \xe9" % i
    data = b"\n".join(lines) + b"\n"
    stored = zstandard.ZstdCompressor().compress(data) if codec == "zstd" else data
    key = "many.log.zst" if codec == "zstd" else "many.log"

    chunks, bad = _read(put(tmp_path, key, stored), chunk_size=4096)

    table = table_of(chunks)
    good = [i for i in range(5000) if i not in bad_at]
    assert table.column("line").to_pylist() == [lines[i].decode() for i in good]
    assert table.column("_row").to_pylist() == list(range(len(good)))
    starts = _starts(lines)
    assert [(b.line, b.byte, b.raw) for b in bad] == [
        (i + 1, starts[i], lines[i]) for i in sorted(bad_at)
    ]


def test_a_block_of_bad_lines_only(tmp_path: Path) -> None:
    data = b"\xff\n" * 90 + b"ok\n"
    chunks, bad = _read(put(tmp_path, "all.txt", data), chunk_size=1024)
    assert table_of(chunks).column("line").to_pylist() == ["ok"]
    assert len(bad) == 90
    assert [b.line for b in bad] == list(range(1, 91))
    assert chunks[-1].completed


def test_a_file_of_mostly_bad_lines_fails_instead_of_dead_lettering_them(tmp_path: Path) -> None:
    # Not a few bad lines but another encoding (Latin-1, say): the file fails with the remedy.
    data = b"caf\xe9\n" * 3000 + b"ok\n"
    with pytest.raises(ReadError) as info:
        _read(put(tmp_path, "latin1.txt", data), chunk_size=4096)
    message = str(info.value)
    assert message.startswith("latin1.txt: cannot read as lines: the text is not valid UTF-8")
    assert "more than" in message
    assert "--format raw" in message


def test_without_a_callback_the_first_bad_line_fails_the_file(tmp_path: Path) -> None:
    file = put(tmp_path, "f.txt", b"ok\nfine\n\xff\n")
    with pytest.raises(ReadError) as info:
        list(read_file(LocalFileSystem(), file, ReaderOptions()))
    assert str(info.value) == (
        "f.txt: cannot read as lines: line 3 is not valid UTF-8; pass --on-bad-rows "
        "dead-letter to set such lines aside, or read the file with --format raw to copy its "
        "bytes as they are"
    )
    assert info.value.rows == 0
