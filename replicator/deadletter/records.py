"""The dead-letter record: one JSON line per bad row.

Fields: ``key`` and ``etag`` of the source file, ``line`` (1-based, in the decompressed text)
and ``byte`` (offset of the row's start there) where the parser knows them, ``row`` (1-based
index among the file's data rows) where it knows the row but not its line (a CSV value that does
not fit its column), ``raw`` (the row's text; for such a CSV row, its fields written back as one
CSV line) or, for bytes that are not UTF-8, ``raw_base64``, and ``reason``.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import pyarrow as pa

from replicator.model import FileInfo
from replicator.readers.badrows import BadRow

SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("etag", pa.string()),
        ("line", pa.int64()),
        ("row", pa.int64()),
        ("byte", pa.int64()),
        ("raw", pa.string()),
        ("raw_base64", pa.string()),
        ("reason", pa.string()),
    ]
)

_SUFFIX = ".badrows"


def dead_letter_key(key: str) -> str:
    """The key under which the bad rows of source ``key`` are kept (``.jsonl`` is added)."""
    return key + _SUFFIX


def to_batch(file: FileInfo, rows: Sequence[BadRow]) -> pa.RecordBatch:
    """The records of ``rows`` (Python per row: these are the few rows that failed to parse)."""
    raws: list[str | None] = []
    encoded: list[str | None] = []
    for row in rows:
        text, b64 = _raw(row.raw)
        raws.append(text)
        encoded.append(b64)
    count = len(rows)
    columns = [
        pa.array([file.key] * count, pa.string()),
        pa.array([file.etag] * count, pa.string()),
        pa.array([r.line for r in rows], pa.int64()),
        pa.array([r.row for r in rows], pa.int64()),
        pa.array([r.byte for r in rows], pa.int64()),
        pa.array(raws, pa.string()),
        pa.array(encoded, pa.string()),
        pa.array([r.reason for r in rows], pa.string()),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=SCHEMA)


def _raw(raw: str | bytes) -> tuple[str | None, str | None]:
    if isinstance(raw, str):
        return raw, None
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        # Kept exactly: a bad row is never altered on its way to the dead letter.
        return None, base64.b64encode(raw).decode("ascii")
