"""Readers: one file in, a stream of ``Chunk``s out.

``read_file`` picks the parser by format (given, or inferred from the key's extension), and
every format goes through the same chunking (system columns, offsets, the completed flag, error
translation). Formats: csv, tsv, json (an array, objects or JSON lines, see ``jsondoc``), jsonl,
parquet, lines, raw; compression: gzip, zstd, bz2, xz. Given an ``OnBadRow`` callback, csv, tsv,
json, jsonl and lines report unparsable rows to it and keep going (see ``badrows``); without
one, the first bad row fails the file.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator

from fsspec import AbstractFileSystem

from replicator.model import Chunk, FileInfo
from replicator.readers.badrows import BadRow, OnBadRow
from replicator.readers.base import (
    COMPRESSIONS,
    DEFAULT_CHUNK_SIZE,
    FORMATS,
    Compression,
    CsvOptions,
    Format,
    Reader,
    ReaderOptions,
)
from replicator.readers.chunking import Piece, conformed, to_chunks
from replicator.readers.columns import FILE_COLUMN, ROW_COLUMN, SYSTEM_COLUMNS
from replicator.readers.compression import codec_from_extension, codec_from_magic
from replicator.readers.csv import read_csv, read_tsv
from replicator.readers.formats import infer_format, resolve_format
from replicator.readers.jsondoc import read_json
from replicator.readers.jsonl import read_jsonl
from replicator.readers.lines import LINE_COLUMN, read_lines
from replicator.readers.parquet import read_parquet
from replicator.readers.raw import DATA_COLUMN, read_raw
from replicator.schema.conform import Conformer

__all__ = [
    "COMPRESSIONS",
    "DATA_COLUMN",
    "DEFAULT_CHUNK_SIZE",
    "FILE_COLUMN",
    "FORMATS",
    "LINE_COLUMN",
    "ROW_COLUMN",
    "SYSTEM_COLUMNS",
    "BadRow",
    "Compression",
    "CsvOptions",
    "Format",
    "OnBadRow",
    "Reader",
    "ReaderOptions",
    "codec_from_extension",
    "codec_from_magic",
    "infer_format",
    "read_file",
    "resolve_format",
]

_Parse = Callable[[AbstractFileSystem, FileInfo, ReaderOptions], Generator[Piece, None, None]]

_PARSERS: dict[Format, _Parse] = {
    "csv": read_csv,
    "tsv": read_tsv,
    "json": read_json,
    "jsonl": read_jsonl,
    "parquet": read_parquet,
    "lines": read_lines,
    "raw": read_raw,
}

_Tolerant = Callable[
    [AbstractFileSystem, FileInfo, ReaderOptions, OnBadRow], Generator[Piece, None, None]
]

# Formats whose rows can be bad one at a time (parquet and raw have no such rows).
_TOLERANT: dict[Format, _Tolerant] = {
    "csv": read_csv,
    "tsv": read_tsv,
    "json": read_json,
    "jsonl": read_jsonl,
    "lines": read_lines,
}


def read_file(
    fs: AbstractFileSystem,
    file: FileInfo,
    options: ReaderOptions,
    on_bad_row: OnBadRow | None = None,
    conformer: Conformer | None = None,
) -> Iterator[Chunk]:
    """The chunks of ``file``, in order; the last has ``completed=True``.

    Raises ``ReadError`` at once when the format cannot be inferred, and while iterating when
    the content cannot be parsed (after yielding the rows before the bad one). With
    ``on_bad_row``, a bad row of csv, tsv, json, jsonl or lines is reported to it (before the chunk that
    follows it is yielded) instead. Storage errors (``FileNotFoundError`` for a vanished file,
    ``PermissionError``, ...) propagate unchanged.

    With ``conformer``, every batch is conformed to the pipeline schema (raw bytes aside),
    which raises ``schema.conform.Evolve`` when the schema must change first.
    """
    fmt = resolve_format(file.key, options)
    tolerant = _TOLERANT.get(fmt) if on_bad_row is not None else None
    if tolerant is not None and on_bad_row is not None:
        pieces = tolerant(fs, file, options, on_bad_row)
    else:
        pieces = _PARSERS[fmt](fs, file, options)
    system_columns = options.system_columns and fmt != "raw"
    if conformer is not None and fmt != "raw":
        pieces = conformed(pieces, conformer)
    return to_chunks(file, pieces, fmt=fmt, options=options, system_columns=system_columns)
