"""Per-format writers: turn record batches into the bytes of one output object.

A writer writes to a binary stream it does not own: ``finish`` completes the format (a parquet
footer, say) and leaves closing, syncing and publishing the stream to the sink.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
from functools import lru_cache, partial
from typing import Any, Protocol

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from replicator.arrowtypes import is_text_or_binary
from replicator.errors import TerminalError
from replicator.sinks.paths import OutputFormat

# Errors pyarrow raises for data it cannot write; I/O errors are left to the storage boundary.
_DATA_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError)

# jsonl rows are converted to Python objects this many at a time, to bound the memory it takes.
_JSONL_SLICE_ROWS = 16_384


class OutputStream(Protocol):
    """Where a writer's bytes go: Arrow's own file locally, a Python file (an upload) else."""

    def write(self, data: bytes | memoryview, /) -> int: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class SinkError(TerminalError):
    """The sink cannot write a file's rows as asked (schema change, type the format lacks)."""

    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message)
        self.key = key


class FormatWriter(Protocol):
    """Writes batches of one file in one format to a stream it does not close."""

    def write(self, batch: pa.RecordBatch) -> None:
        """Append ``batch``. Blocks until the stream has taken its bytes."""

    def finish(self) -> None:
        """Write what the format needs at the end (footer). The stream stays open."""

    def abandon(self) -> None:
        """Stop without completing the output: its stream is being thrown away."""


def open_writer(
    output_format: OutputFormat,
    stream: OutputStream,
    schema: pa.Schema,
    *,
    key: str,
    parquet_compression: str = "zstd",
) -> FormatWriter:
    """A writer of ``output_format`` for the file ``key``, whose first batch has ``schema``."""
    if output_format == "parquet":
        return ParquetOutput(stream, schema, key=key, compression=parquet_compression)
    if output_format == "csv":
        return CsvOutput(stream, schema, key=key)
    if output_format == "jsonl":
        return JsonlOutput(stream, key=key)
    if output_format == "raw":
        return RawOutput(stream, key=key)
    raise ValueError(f"unknown output format {output_format!r}")


def conform(batch: pa.RecordBatch, schema: pa.Schema, *, key: str) -> pa.RecordBatch:
    """``batch`` with exactly ``schema``, when its columns can be cast without losing data.

    Columns are matched by name. Text is never parsed into numbers or dates: a column that turned
    from int to string half-way through a file means the reader's type inference changed its mind,
    and parsing it back (``"02139"`` into ``2139``) would alter the data silently.
    """
    if batch.schema.equals(schema, check_metadata=False):
        return batch
    names = schema.names
    if sorted(batch.schema.names) == sorted(names) and len(set(names)) == len(names):
        batch = batch.select(names)
    else:
        raise _schema_error(key, batch.schema, schema, "the columns differ")
    for field, target in zip(batch.schema, schema, strict=True):
        if is_text_or_binary(field.type) and not is_text_or_binary(target.type):
            raise _schema_error(key, batch.schema, schema, f"column {field.name!r} became text")
    try:
        return batch.cast(schema, safe=True)
    except (*_DATA_ERRORS, ValueError) as exc:
        raise _schema_error(key, batch.schema, schema, str(exc)) from exc


def _schema_error(key: str, got: pa.Schema, want: pa.Schema, why: str) -> SinkError:
    return SinkError(
        f"{key}: the rows changed schema within the file ({why}); the output was started with "
        f"{_brief(want)} and a later chunk has {_brief(got)}. Give the reader an explicit schema, "
        "or use a larger chunk size so types are inferred from more rows",
        key=key,
    )


def _brief(schema: pa.Schema) -> str:
    return "(" + ", ".join(f"{f.name}: {f.type}" for f in schema) + ")"


def _format_error(key: str, output_format: str, exc: Exception) -> SinkError:
    return SinkError(
        f"{key}: cannot write the rows as {output_format} ({exc}); "
        "choose an output format that holds these column types, e.g. parquet",
        key=key,
    )


# Arrow bytes per row group; held in memory per output until written (a few chunks' worth).
ROW_GROUP_BYTES = 32 * 1024 * 1024


# A run writes many outputs of a few schemas; working this out is worth caching. The dict is
# shared: callers unpack it, never change it.
@lru_cache(maxsize=256)
def _encodings(schema: pa.Schema) -> dict[str, Any]:
    """Dictionary-encode only text and binary leaves; write ``_row`` delta-encoded.

    A dictionary pays off for repeated values, which text columns (names, kinds, URLs) usually
    hold and numbers and timestamps (ids, amounts, event times) usually do not: for those it is
    a hash-table insert per value and a dictionary page as large as the data, which zstd then
    compresses worse than the plain values. Measured on event data (``tests/benchmarks``): about
    a fifth less CPU to write and a fifth smaller files than dictionaries everywhere.

    pyarrow takes the dictionary columns as a list of leaf paths, so nested columns keep their
    dictionaries only where their leaves are named.
    """
    encodings: dict[str, Any] = {
        "use_dictionary": [
            path for f in schema for path, typ in _leaves(f.name, f.type) if is_text_or_binary(typ)
        ]
    }
    index = schema.get_field_index("_row")
    # The system column (a source's own "_row" of another type, with --no-system-columns, is
    # written like any column). Unique and increasing: deltas of 1 pack into almost nothing.
    if index >= 0 and pa.types.is_integer(schema.field(index).type):
        encodings["column_encoding"] = {"_row": "DELTA_BINARY_PACKED"}
    return encodings


def _leaves(path: str, typ: pa.DataType) -> list[tuple[str, pa.DataType]]:
    if pa.types.is_struct(typ):
        return [leaf for child in typ for leaf in _leaves(f"{path}.{child.name}", child.type)]
    if pa.types.is_map(typ):
        return _leaves(f"{path}.key_value.key", typ.key_type) + _leaves(
            f"{path}.key_value.value", typ.item_type
        )
    if pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_fixed_size_list(typ):
        return _leaves(f"{path}.list.element", typ.value_type)
    return [(path, typ)]


class ParquetOutput:
    """One parquet file. Chunks are gathered into row groups of about ``ROW_GROUP_BYTES``
    (without copying): each row group costs a dictionary per column, so few large ones write
    faster and read better than one per chunk."""

    def __init__(
        self, stream: OutputStream, schema: pa.Schema, *, key: str, compression: str
    ) -> None:
        self._key = key
        self._schema = schema
        self._held: list[pa.RecordBatch] = []
        self._held_bytes = 0
        try:
            self._writer = pq.ParquetWriter(
                stream, schema, compression=compression, **_encodings(schema)
            )
        except _DATA_ERRORS as exc:
            raise _format_error(key, "parquet", exc) from exc

    def write(self, batch: pa.RecordBatch) -> None:
        # An empty batch (a file's empty last chunk) would only add an empty row group.
        if batch.num_rows == 0:
            return
        self._held.append(conform(batch, self._schema, key=self._key))
        self._held_bytes += batch.nbytes
        if self._held_bytes >= ROW_GROUP_BYTES:
            self._flush()

    def _flush(self) -> None:
        if not self._held:
            return
        table = pa.Table.from_batches(self._held, schema=self._schema)
        self._held, self._held_bytes = [], 0
        try:
            self._writer.write_table(table, row_group_size=table.num_rows)
        except _DATA_ERRORS as exc:
            raise _format_error(self._key, "parquet", exc) from exc

    def finish(self) -> None:
        self._flush()
        # Only writes the footer: pyarrow does not close a stream it was handed.
        self._writer.close()

    def abandon(self) -> None:
        # Otherwise the writer's finalizer writes a footer into the discarded stream.
        self._writer.is_open = False


class CsvOutput:
    """One CSV file with a header line. Nested columns (structs, lists, maps) are written as
    their JSON text, as DuckDB and Spark write them."""

    def __init__(self, stream: OutputStream, schema: pa.Schema, *, key: str) -> None:
        self._key = key
        self._schema = schema
        self._nested = [i for i, f in enumerate(schema) if pa.types.is_nested(f.type)]
        written = schema
        for index in self._nested:
            written = written.set(index, schema.field(index).with_type(pa.string()))
        try:
            self._writer = pacsv.CSVWriter(stream, written)
        except _DATA_ERRORS as exc:
            raise _format_error(key, "csv", exc) from exc

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        batch = conform(batch, self._schema, key=self._key)
        try:
            for index in self._nested:
                batch = batch.set_column(
                    index, batch.schema.field(index).name, _json_text(batch.column(index))
                )
            self._writer.write_batch(batch)
        except (*_DATA_ERRORS, orjson.JSONEncodeError, TypeError) as exc:
            raise _format_error(self._key, "csv", exc) from exc

    def finish(self) -> None:
        self._writer.close()

    def abandon(self) -> None:
        pass


def _json_text(column: pa.Array) -> pa.Array:
    """Each value of a nested column as JSON text; nulls stay null. Arrow has no JSON writer,
    so this goes through Python: only for nested columns of CSV outputs."""
    values = column.to_pylist(maps_as_pydicts="lossy")  # a map as a JSON object
    texts = [None if v is None else _dumps(v).decode() for v in values]
    return pa.array(texts, type=pa.string())


class JsonlOutput:
    """One JSON object per line.

    Arrow has no JSON writer, so rows go through Python (``to_pylist``) and orjson. Top-level
    columns whose Python form is lossy or unsupported are first converted in Arrow: timestamps
    to ISO 8601 text (UTC with ``Z`` when zoned), times and decimals to text, durations to integer
    counts of their unit. Binary values are written as base64 text.
    """

    def __init__(self, stream: OutputStream, *, key: str) -> None:
        self._stream = stream
        self._key = key

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        try:
            batch = _jsonable(batch)
        except _DATA_ERRORS as exc:
            raise _format_error(self._key, "jsonl", exc) from exc
        for start in range(0, batch.num_rows, _JSONL_SLICE_ROWS):
            rows = batch.slice(start, _JSONL_SLICE_ROWS).to_pylist()
            try:
                lines = b"\n".join(map(_dumps, rows))
            except (orjson.JSONEncodeError, ValueError) as exc:
                raise _format_error(self._key, "jsonl", exc) from exc
            self._stream.write(lines + b"\n")

    def finish(self) -> None:
        pass

    def abandon(self) -> None:
        pass


def _jsonable(batch: pa.RecordBatch) -> pa.RecordBatch:
    columns = [_jsonable_column(column) for column in batch.columns]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _jsonable_column(column: pa.Array) -> pa.Array:
    type_ = column.type
    if pa.types.is_timestamp(type_):
        if type_.tz is None:
            return pc.strftime(column, format="%Y-%m-%dT%H:%M:%S")
        utc = column.cast(pa.timestamp(type_.unit, tz="UTC"))
        return pc.strftime(utc, format="%Y-%m-%dT%H:%M:%SZ")
    if pa.types.is_time(type_) or pa.types.is_decimal(type_):
        return column.cast(pa.string())
    if pa.types.is_duration(type_):
        return column.cast(pa.int64())
    return column


def _json_default(value: Any) -> Any:
    # Only reached for values nested in structs or lists; top-level columns were converted.
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    raise TypeError(f"cannot write a {type(value).__name__} as JSON")


_dumps = partial(orjson.dumps, default=_json_default)


class RawOutput:
    """The bytes of the ``data`` column, concatenated in order: a byte-for-byte mirror."""

    def __init__(self, stream: OutputStream, *, key: str) -> None:
        self._stream = stream
        self._key = key

    def write(self, batch: pa.RecordBatch) -> None:
        index = batch.schema.get_field_index("data")
        if index < 0:
            raise SinkError(
                f"{self._key}: raw output needs a binary 'data' column, and the rows have "
                f"{_brief(batch.schema)}; read the source with format raw, or pick another "
                "output format",
                key=self._key,
            )
        column = _contiguous_binary(batch.column(index), self._key)
        if len(column) == 0:
            return
        offset_type = pa.int64() if pa.types.is_large_binary(column.type) else pa.int32()
        offsets = pa.Array.from_buffers(
            offset_type, len(column) + 1, [None, column.buffers()[1]], offset=column.offset
        )
        start, end = offsets[0].as_py(), offsets[-1].as_py()
        data = column.buffers()[2]
        # The values of a binary array sit back to back in one buffer: write that slice, no copy.
        if data is not None and end > start:
            self._stream.write(memoryview(data)[start:end])

    def finish(self) -> None:
        pass

    def abandon(self) -> None:
        pass


def _contiguous_binary(column: pa.Array, key: str) -> pa.Array:
    """``column`` as binary or large_binary whose values are contiguous in its data buffer."""
    type_ = column.type
    if pa.types.is_string(type_):
        column = column.cast(pa.binary())
    elif (
        pa.types.is_large_string(type_)
        or pa.types.is_string_view(type_)
        or pa.types.is_binary_view(type_)
    ):
        column = column.cast(pa.large_binary())
    elif not (pa.types.is_binary(type_) or pa.types.is_large_binary(type_)):
        raise SinkError(
            f"{key}: raw output needs a binary 'data' column, not {type_}; read the source with "
            "format raw, or pick another output format",
            key=key,
        )
    if column.null_count:
        # A null slot may still span bytes in the data buffer; nulls carry no bytes of the file.
        column = pc.fill_null(column, pa.scalar(b"", column.type))
    return column
