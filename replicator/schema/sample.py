"""Inference across files: the schema of a sample of a pipeline's files, unified.

Each file of the sample gives the schema of its first block (``SampleLimits.block`` bytes of its
decompressed content; a Parquet file, its footer). Those are unified by name (``types.unify``)
in file order. Arrow infers each block's types, with one rule of ours on top: a CSV column
whose numbers are written with leading zeros (``08123``, ``007``; not ``0`` or ``0.5``) stays
text, so zip codes and identifiers keep their zeros. A column seen only empty is ``null`` here:
its type is not known yet (see ``schema.stage``).

A file that cannot be sampled (corrupt, unreadable) is left out: replicating it reports why.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem

from replicator.model import FileInfo
from replicator.readers import read_file
from replicator.readers.badrows import BadRow
from replicator.readers.base import ReaderOptions
from replicator.readers.formats import resolve_format
from replicator.readers.streams import open_stored
from replicator.schema.conform import LEADING_ZERO
from replicator.schema.types import normalize, unify_schemas

DEFAULT_FILES = 1000
DEFAULT_BYTES = 256 * 1024 * 1024
# Per file: a few hundred rows of typical data. Small, because every sampled file is opened
# and parsed once more before it is replicated.
DEFAULT_BLOCK = 64 * 1024


@dataclass(frozen=True, slots=True)
class SampleLimits:
    files: int = DEFAULT_FILES
    bytes: int = DEFAULT_BYTES
    block: int = DEFAULT_BLOCK

    def count(self, available: int) -> int:
        """How many files to sample: at most ``files``, and within ``bytes`` of blocks."""
        return max(0, min(available, self.files, max(1, self.bytes // max(1, self.block))))


@dataclass(frozen=True)
class Sample:
    schema: pa.Schema
    files: int  # files sampled (those that could be read)


def sample_schema(
    fs: AbstractFileSystem,
    files: Sequence[FileInfo],
    options: ReaderOptions,
    limits: SampleLimits = SampleLimits(),
    *,
    threads: int = 4,
) -> Sample:
    """The unified schema of the first blocks of the first files of ``files``."""
    chosen = list(files[: limits.count(len(files))])
    if not chosen:
        return Sample(pa.schema([]), 0)
    with concurrent.futures.ThreadPoolExecutor(max(1, threads)) as pool:
        schemas = list(pool.map(lambda f: file_schema(fs, f, options, limits.block), chosen))
    found = [s for s in schemas if s is not None]
    return Sample(unify_schemas(found), len(found))


def file_schema(
    fs: AbstractFileSystem, file: FileInfo, options: ReaderOptions, block: int
) -> pa.Schema | None:
    """The schema of ``file``'s first block, or None when it cannot be read.

    Read by the file's own reader, so that encodings, JSON documents, CSV null rules, the
    guards against Arrow's crashes and ``--no-infer-types`` apply as they will when it is
    replicated; a Parquet file gives its footer's schema without reading rows.
    """
    try:
        fmt = resolve_format(file.key, options)
        if fmt == "raw":
            return None
        if fmt == "parquet":
            with open_stored(fs, file.path) as stored:
                schema = pq.read_schema(stored)
        else:
            sampling = dataclasses.replace(
                options, chunk_size=max(block, 1024), system_columns=False, schema=None
            )
            chunks = read_file(fs, file, sampling, on_bad_row=_ignore)
            try:
                schema = next(chunks).items.schema
            finally:
                close = getattr(chunks, "close", None)
                if callable(close):
                    close()
            if fmt in ("csv", "tsv") and options.infer_types:
                schema = _keep_leading_zeros(fs, file, sampling, fmt, schema)
        return pa.schema([f.with_type(normalize(f.type)) for f in schema])
    except Exception:  # any decoder's error (EOFError, IsalError, ...): the run reports it
        return None


def _ignore(_row: BadRow) -> None:
    """Bad rows of a sample: the run reports them when it reads the file."""


def _keep_leading_zeros(
    fs: AbstractFileSystem, file: FileInfo, options: ReaderOptions, fmt: str, schema: pa.Schema
) -> pa.Schema:
    """``schema`` with each numeric column that holds a number written with a leading zero
    (``08123``, ``007``; not ``0`` or ``0.5``) as text, so zip codes and identifiers keep
    their zeros."""
    numeric = [
        i
        for i, f in enumerate(schema)
        if (pa.types.is_integer(f.type) or pa.types.is_floating(f.type))
        and f.name not in dict(options.csv.column_types or ())
    ]
    if not numeric:
        return schema
    names = tuple(schema.field(i).name for i in numeric)
    declared = (*(options.csv.column_types or ()), *((name, "string") for name in names))
    as_text = dataclasses.replace(
        options, csv=dataclasses.replace(options.csv, column_types=declared)
    )
    chunks = read_file(fs, file, as_text, on_bad_row=_ignore)
    try:
        texts = next(chunks).items
    finally:
        close = getattr(chunks, "close", None)
        if callable(close):
            close()
    for index, name in zip(numeric, names, strict=True):
        if name not in texts.schema.names:
            continue
        column = texts.column(name)
        if (
            pa.types.is_string(column.type)
            and pc.any(pc.match_substring_regex(column, LEADING_ZERO)).as_py()
        ):
            schema = schema.set(index, schema.field(index).with_type(pa.string()))
    return schema
