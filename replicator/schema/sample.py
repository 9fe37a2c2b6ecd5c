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
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem

from replicator.model import FileInfo
from replicator.readers.base import CsvOptions, ReaderOptions
from replicator.readers.compression import open_decompressed
from replicator.readers.formats import resolve_format
from replicator.readers.lines import LINE_COLUMN
from replicator.readers.streams import open_stored
from replicator.schema.types import normalize, unify_schemas

DEFAULT_FILES = 1000
DEFAULT_BYTES = 256 * 1024 * 1024
# Per file: a few hundred rows of typical data. Small, because every sampled file is opened
# and parsed once more before it is replicated.
DEFAULT_BLOCK = 64 * 1024

_LEADING_ZERO = r"^\s*[+-]?0[0-9]"


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
    """The schema of ``file``'s first block, or None when it cannot be read."""
    try:
        fmt = resolve_format(file.key, options)
        if fmt == "parquet":
            with open_stored(fs, file.path) as stored:
                schema = pq.read_schema(stored)
            return pa.schema([f.with_type(normalize(f.type)) for f in schema])
        if fmt == "lines":
            return pa.schema([(LINE_COLUMN, pa.string())])
        if fmt == "raw":
            return None
        with open_decompressed(fs, file.path, file.key, options.compression) as source:
            if fmt in ("csv", "tsv"):
                return _csv_schema(source.stream, options.csv, block, "\t" if fmt == "tsv" else ",")
            data = source.stream.read(block)
        return _json_schema(data)
    except Exception:  # any decoder's error (EOFError, IsalError, ...): the run reports it
        return None


# -- CSV -------------------------------------------------------------------------------------


def _csv_schema(stream: object, csv: CsvOptions, block: int, default_delimiter: str) -> pa.Schema:
    from replicator.readers.csv import csv_read_options  # noqa: PLC0415 - avoids an import cycle

    read, parse, convert = csv_read_options(csv, block, default_delimiter)
    with pacsv.open_csv(
        stream, read_options=read, parse_options=parse, convert_options=convert
    ) as reader:
        first = _first_batch(reader)
    schema = first.schema
    numeric = [
        i
        for i, f in enumerate(schema)
        if pa.types.is_integer(f.type)
        or pa.types.is_floating(f.type)
        or pa.types.is_decimal(f.type)
    ]
    if numeric:
        schema = _keep_leading_zeros(schema, numeric, stream, csv, block, default_delimiter)
    return pa.schema([f.with_type(normalize(f.type)) for f in schema])


def _first_batch(reader: pacsv.CSVStreamingReader) -> pa.RecordBatch:
    try:
        return reader.read_next_batch()
    except StopIteration:
        return pa.RecordBatch.from_pylist([], schema=reader.schema)


def _keep_leading_zeros(
    schema: pa.Schema,
    numeric: list[int],
    stream: object,
    csv: CsvOptions,
    block: int,
    default_delimiter: str,
) -> pa.Schema:
    """``schema`` with numeric columns that hold a number written with a leading zero as text."""
    from replicator.readers.csv import csv_read_options  # noqa: PLC0415 - see _csv_schema

    seek = getattr(stream, "seek", None)
    if not callable(seek) or not getattr(stream, "seekable", lambda: True)():
        return schema
    seek(0)
    names = [schema.field(i).name for i in numeric]
    read, parse, convert = csv_read_options(
        csv, block, default_delimiter, text_columns=tuple(names)
    )
    with pacsv.open_csv(
        stream, read_options=read, parse_options=parse, convert_options=convert
    ) as reader:
        texts = _first_batch(reader)
    for index, name in zip(numeric, names, strict=True):
        column = texts.column(name)
        if pc.any(pc.match_substring_regex(column, _LEADING_ZERO)).as_py():
            schema = schema.set(index, schema.field(index).with_type(pa.string()))
    return schema


# -- JSON ------------------------------------------------------------------------------------


def _json_schema(data: bytes) -> pa.Schema:
    """The types of the whole lines of ``data``: Arrow's inference on the block, or, where Arrow
    refuses the block (mixed types, a line that is not an object), on the objects alone, line
    by line (a sample is small)."""
    cut = data.rfind(b"\n") + 1
    lines = data[:cut] if cut else data
    try:
        return _infer_json(lines)
    except pa.ArrowInvalid:
        pass
    schemas = []
    for line in lines.splitlines():
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, dict):
            with contextlib.suppress(pa.ArrowInvalid):
                schemas.append(_infer_json(line + b"\n"))
    return unify_schemas(schemas)


def _infer_json(data: bytes) -> pa.Schema:
    first = data.lstrip()[:1]
    if first and first != b"{":
        # Arrow's reader crashes on some blocks that do not start with an object.
        raise pa.ArrowInvalid("not an object")
    table = pajson.read_json(
        pa.BufferReader(data),
        read_options=pajson.ReadOptions(use_threads=False, block_size=max(len(data), 1)),
    )
    return pa.schema([f.with_type(normalize(f.type)) for f in table.schema])
