"""Options shared by every reader, and the reader contract."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

import pyarrow as pa
from fsspec import AbstractFileSystem

from replicator.model import Chunk, FileInfo

Format = Literal["csv", "tsv", "json", "jsonl", "parquet", "lines", "raw"]
FORMATS: tuple[Format, ...] = ("csv", "tsv", "json", "jsonl", "parquet", "lines", "raw")
Compression = Literal["infer", "none", "gzip", "zstd", "bz2", "xz"]
COMPRESSIONS: tuple[Compression, ...] = ("infer", "none", "gzip", "zstd", "bz2", "xz")
# The text encodings the text formats (csv, tsv, jsonl, lines) can be read in.
Encoding = Literal["utf-8", "latin-1", "cp1252", "utf-16", "utf-16-le", "utf-16-be"]
ENCODINGS: tuple[Encoding, ...] = ("utf-8", "latin-1", "cp1252", "utf-16", "utf-16-le", "utf-16-be")

DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class CsvOptions:
    """How CSV/TSV text is split into rows and columns.

    ``delimiter=None`` means "," for csv and a tab for tsv. ``column_names`` replaces the header
    (with ``header=True`` the file's first line is then skipped, with ``header=False`` it is data).
    ``null_values=None`` keeps pyarrow's default set of null spellings; given ones replace it
    (an empty unquoted field is null either way). ``column_types`` declares
    the types of some columns as ``(name, type)`` pairs (type names as in ``csvtypes``); the
    other columns' types are inferred from the file's first block.
    """

    delimiter: str | None = None
    quote_char: str | None = '"'
    header: bool = True
    column_names: tuple[str, ...] | None = None
    null_values: tuple[str, ...] | None = None
    column_types: tuple[tuple[str, str], ...] | None = None
    # Quoted fields may hold line breaks in valid CSV; correctness first, it can be turned off.
    newlines_in_values: bool = True


@dataclass(frozen=True, slots=True)
class ReaderOptions:
    """What to read and how. ``format=None`` infers the format from the key's extension.

    ``encoding`` is the text formats' (their bytes are decoded to UTF-8 as they are read).
    ``infer_types=False`` reads every CSV and JSON column as text (CSV columns given in
    ``csv.column_types`` keep their type).
    """

    format: Format | None = None
    compression: Compression = "infer"
    chunk_size: int = DEFAULT_CHUNK_SIZE
    system_columns: bool = True
    csv: CsvOptions = field(default_factory=CsvOptions)
    # The pipeline schema's known column types, to parse with (csv, json); None: each file's own.
    schema: pa.Schema | None = None
    encoding: Encoding = "utf-8"
    infer_types: bool = True


class Reader(Protocol):
    """Turns one file into a stream of chunks.

    Contract: chunks come in file order; offsets grow; the last chunk has ``completed=True`` (and
    may hold no rows); memory held is bounded by the chunk size (plus the longest record), never
    by the file size. Raises ``ReadError`` when the file cannot be parsed.
    """

    def __call__(
        self, fs: AbstractFileSystem, file: FileInfo, options: ReaderOptions
    ) -> Iterator[Chunk]: ...
