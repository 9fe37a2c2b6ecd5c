"""Helpers for reader tests: compress bytes with each codec, write a file, read it back."""

from __future__ import annotations

import bz2
import gzip
import lzma
from pathlib import Path
from typing import Any

import pyarrow as pa
import zstandard
from fsspec.implementations.local import LocalFileSystem

from replicator.model import Chunk, FileInfo
from replicator.readers import ReaderOptions, read_file

CODECS = ("gzip", "zstd", "bz2", "xz")
EXTENSION = {"gzip": ".gz", "zstd": ".zst", "bz2": ".bz2", "xz": ".xz"}


def compress(data: bytes, codec: str) -> bytes:
    if codec == "gzip":
        return gzip.compress(data)
    if codec == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    if codec == "bz2":
        return bz2.compress(data)
    if codec == "xz":
        return lzma.compress(data)
    raise ValueError(codec)


def put(root: Path, key: str, data: bytes) -> FileInfo:
    """Write ``data`` at ``root/key`` and describe it as discovery would."""
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return FileInfo(path=str(path), key=key, size=len(data))


def read(file: FileInfo, **options: Any) -> list[Chunk]:
    """All chunks of a local file."""
    return list(read_file(LocalFileSystem(), file, ReaderOptions(**options)))


def rows_of(chunks: list[Chunk]) -> list[dict[str, Any]]:
    """Every row of the chunks, in order, as dicts."""
    return [row for chunk in chunks for row in chunk.items.to_pylist()]


def table_of(chunks: list[Chunk]) -> pa.Table:
    return pa.Table.from_batches([c.items for c in chunks])
