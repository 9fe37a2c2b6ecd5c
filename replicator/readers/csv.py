"""CSV and TSV, parsed by Arrow's streaming CSV reader (multi-threaded, one block at a time).

Columns get their declared types (``CsvOptions.column_types``); the others' types are inferred
from the first block (or, with ``infer_types`` off, they are text). A column that is empty
throughout that block would be typed ``null`` and break on the first later value, so it is
text; one with a value that is not UTF-8 would be typed ``binary`` (every value of it bytes),
so it gets the type of its other values, and that value is a bad row like any value that does
not fit its column.

Nulls, as in DuckDB and Spark: an unquoted field that is empty or a null spelling is null in
every column, text columns too; a quoted one never is (``""`` is an empty string). Spellings
given replace pyarrow's, but an empty field stays null.

A value that does not fit its column (declared, or inferred from the first block) stops Arrow's
streaming reader; the file is then read again as text from the start (``csv_tolerant``), and only
the rows with such values go to the bad rows (or, without ``on_bad_row``, the first fails the
file with a message naming the column, the value and the row).
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterator, Mapping
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from fsspec import AbstractFileSystem

from replicator.errors import ReadError
from replicator.model import FileInfo
from replicator.readers.badrows import BadRow, OnBadRow
from replicator.readers.base import CsvOptions, ReaderOptions
from replicator.readers.chunking import EMPTY_BATCH, Piece, StoredPosition, coalesce
from replicator.readers.csv_tolerant import (
    Dialect,
    MisfitError,
    convert_batch,
    is_conversion_error,
    tolerant_batches,
)
from replicator.readers.csvconvert import ValueRules
from replicator.readers.csvinfer import infer_text_type
from replicator.readers.csvtypes import csv_can_produce, declared_types
from replicator.readers.encoding import EncodingError, TextSource, open_text
from replicator.readers.failures import ENCODING_HINT
from replicator.readers.growth import OpenBatches, arrow_block_size, read_with_growing_blocks
from replicator.readers.isolate import TooManyMisfits
from replicator.schema.conform import LEADING_ZERO, ColumnDrift, Misfit

# Arrow's message for a file with no header and no rows, or a first block without a whole line.
_EMPTY_MARKER = "Empty CSV file"


def read_csv(
    fs: AbstractFileSystem,
    file: FileInfo,
    options: ReaderOptions,
    on_bad_row: OnBadRow | None = None,
) -> Generator[Piece, None, None]:
    """Comma-separated (unless ``options.csv.delimiter`` says otherwise).

    Rows with the wrong number of fields, or with a value that does not fit its column's type,
    fail the file, or go to ``on_bad_row`` when given.
    """
    return _read(fs, file, options, on_bad_row, default_delimiter=",")


def read_tsv(
    fs: AbstractFileSystem,
    file: FileInfo,
    options: ReaderOptions,
    on_bad_row: OnBadRow | None = None,
) -> Generator[Piece, None, None]:
    """Tab-separated (unless ``options.csv.delimiter`` says otherwise); bad rows as in csv."""
    return _read(fs, file, options, on_bad_row, default_delimiter="\t")


def _read(
    fs: AbstractFileSystem,
    file: FileInfo,
    options: ReaderOptions,
    on_bad_row: OnBadRow | None,
    *,
    default_delimiter: str,
) -> Generator[Piece, None, None]:
    csv = options.csv
    declared = declared_types(csv.column_types)
    if options.schema is not None:
        # The pipeline's types, where CSV text can hold them: a value that does not fit is the
        # schema stage's (widened or rescued), the row is kept.
        for field in options.schema:
            if field.name not in declared and csv_can_produce(field.type):
                declared[field.name] = field.type
    delimiter = csv.delimiter or default_delimiter
    parse = pacsv.ParseOptions(
        delimiter=delimiter,
        quote_char=csv.quote_char if csv.quote_char else False,
        newlines_in_values=csv.newlines_in_values,
        invalid_row_handler=_BadRowReporter(on_bad_row) if on_bad_row else None,
    )
    # Arrow numbers the lines of invalid rows only when it parses on one thread; on 2-8 cores
    # its streaming reader is no slower that way.
    threads = on_bad_row is None
    position = StoredPosition()
    block_size = arrow_block_size(options.chunk_size)  # the last one used
    schema: pa.Schema | None = None  # the columns' types, once batches have come out

    def open_csv(
        source: TextSource, size: int, convert: pacsv.ConvertOptions
    ) -> pacsv.CSVStreamingReader:
        nonlocal block_size
        block_size = size
        read = _read_options(csv, size, threads)
        reader = pacsv.open_csv(
            source.stream, read_options=read, parse_options=parse, convert_options=convert
        )
        _check_names(reader.schema)
        return reader

    def open_source() -> contextlib.AbstractContextManager[TextSource]:
        return open_text(fs, file.path, file.key, options.compression, options.encoding)

    def open_batches(size: int, types: pa.Schema | None) -> Generator[pa.RecordBatch, None, None]:
        with open_source() as source:
            position.follow(source.stored)
            try:
                reader = open_csv(source, size, _convert_options(csv, types, declared))
            except pa.ArrowInvalid as exc:
                if _EMPTY_MARKER not in str(exc):
                    raise
                if _has_content(fs, file, options):
                    # Arrow says "empty" when the first block holds no whole line.
                    raise _straddle(size) from exc
                yield _empty_batch(csv, declared)
                return
            with reader:
                retyped = None
                if types is None:
                    retyped = _column_types(reader, declared, options.infer_types, csv)
                if retyped is not None and retyped != reader.schema:
                    # Read again from the start with those columns retyped.
                    reader.close()
                    source.stream.close()
                    yield from open_batches(size, retyped)
                    return
                empty = True
                for batch in reader:
                    empty = False
                    yield batch
                if empty:
                    # A header and no rows: the columns are still known.
                    yield pa.RecordBatch.from_pylist([], schema=reader.schema)

    def open_raw(size: int, _: pa.Schema | None) -> Generator[pa.RecordBatch, None, None]:
        names = target_schema().names
        with open_source() as source:
            position.follow(source.stored)
            try:
                reader = open_csv(source, size, _raw_options(csv, names))
            except pa.ArrowInvalid as exc:
                if _EMPTY_MARKER not in str(exc):
                    raise
                # The typed reading got past the first block, so the block is too small.
                raise _straddle(size) from exc
            with reader:
                yield from reader

    def target_schema() -> pa.Schema:
        """The types already produced, else the first block's (declared columns as declared)."""
        nonlocal schema
        if schema is None:
            # The declared columns as bytes (which always fit) to infer the others' types.
            as_bytes = {name: pa.binary() for name in declared}
            with open_source() as source:
                convert = _convert_options(csv, None, as_bytes)
                with open_csv(source, block_size, convert) as reader:
                    inferred = _column_types(reader, as_bytes, options.infer_types, csv)
            schema = pa.schema([f.with_type(declared.get(f.name, f.type)) for f in inferred])
        return schema

    def batches() -> Iterator[pa.RecordBatch]:
        nonlocal schema
        produced = 0
        try:
            for batch in read_with_growing_blocks(open_batches, block_size):
                if schema is None:
                    schema = batch.schema
                produced += batch.num_rows
                yield batch
            return
        except pa.ArrowInvalid as exc:
            if not is_conversion_error(exc):
                raise
            arrow_error = exc
        # A value does not fit its column: only such a file pays for reading again as text.
        rules = ValueRules.of()
        if options.schema is not None:
            yield from _kept(open_raw, block_size, produced, target_schema(), rules, csv)
            return
        quote = csv.quote_char.encode() if csv.quote_char else None
        misfits = 0

        def report(row: BadRow) -> None:
            nonlocal misfits
            misfits += 1
            if on_bad_row is not None:
                on_bad_row(row)

        try:
            for batch in tolerant_batches(
                open_raw,
                block_size,
                skip=produced,
                schema=target_schema(),
                rules=rules,
                dialect=Dialect(delimiter.encode(), quote),
                report=report if on_bad_row is not None else None,
            ):
                produced += batch.num_rows
                yield batch
        except MisfitError as misfit:
            raise _misfit_error(file.key, misfit, set(declared), produced) from None
        if not misfits:
            # The re-read found every value fitting where Arrow's reader did not: never pass
            # the file with values converted otherwise than Arrow would; fail it with Arrow's error.
            raise arrow_error

    def pieces() -> Generator[Piece, None, None]:
        for item in batches():
            if isinstance(item, tuple):
                batch, misfits = item
                yield Piece(batch, read=position(), misfits=misfits)
            else:
                yield Piece(item, read=position())

    yield from coalesce(pieces(), options.chunk_size)


def _kept(
    open_raw: OpenBatches,
    block_size: int,
    skip: int,
    schema: pa.Schema,
    rules: ValueRules,
    csv: CsvOptions,
) -> Iterator[tuple[pa.RecordBatch, tuple[Misfit, ...]]]:
    """The rows after the first ``skip``, read again as text and converted to ``schema``, all
    kept: a value that does not fit is null, and handed to the schema stage as a ``Misfit``
    with the type its column's misfits have (``ColumnDrift`` when most of a column's values
    in a block do not fit)."""
    convert = _convert_options(csv, None, {})
    seen = skip
    for raw in read_with_growing_blocks(open_raw, block_size, skip=skip):
        try:
            batch, found = convert_batch(raw, schema, rules, keep_rows=True)
        except TooManyMisfits as exc:
            column = getattr(exc, "column", None)
            if column is None:
                raise
            drift = _observed(raw.column(column), convert)
            raise ColumnDrift(column, drift, seen + 1, str(exc)) from None
        by_column: dict[str, list[int]] = {}
        for index, row_misfits in found.items():
            for value in row_misfits:
                by_column.setdefault(value.column, []).append(index)
        observed: dict[tuple[str, int], pa.DataType] = {}
        for column, rows in by_column.items():
            values = raw.column(column).take(pa.array(rows, pa.int64()))
            kind = _observed(values, convert)
            if pa.types.is_string(kind) and len(rows) <= _EACH:
                # Values of several kinds (12.75 and abc): each its own, so that one that a
                # wider type holds still widens the column.
                for row, value in zip(rows, values, strict=True):
                    observed[column, row] = _observed(pa.array([value.as_py()]), convert)
            else:
                observed.update(((column, row), kind) for row in rows)
        handed = tuple(
            Misfit(index, (m.column,), m.value, observed[m.column, index])
            for index, row_misfits in found.items()
            for m in row_misfits
        )
        seen += raw.num_rows
        yield batch, handed


# Misfits of a column typed one by one when they are of several kinds, at most.
_EACH = 100


def _observed(raw: pa.Array, convert: pacsv.ConvertOptions) -> pa.DataType:
    """The type of text values as Arrow infers it, text where a number has leading zeros."""
    if pc.any(pc.match_substring_regex(raw, LEADING_ZERO)).as_py():
        return pa.string()
    return infer_text_type(raw, convert)


def _misfit_error(key: str, misfit: MisfitError, declared: set[str], rows: int) -> ReadError:
    """The failure of a file holding a value that does not fit, with ``--on-bad-rows fail``."""
    column, dtype = misfit.misfits[0].column, misfit.misfits[0].type
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        hint = ENCODING_HINT  # text that is not UTF-8: no type would fit it
    elif column in declared:
        hint = "fix the value or the column's type in --csv-column-types"
    else:
        hint = (
            "the column's type was inferred from the file's first rows; declare it, e.g. "
            f"--csv-column-types {column}:string"
        )
    return ReadError(
        f"{key}: cannot read as csv: data row {misfit.row.row}: {misfit.row.reason} "
        f"(after {rows} rows); {hint}, or pass --on-bad-rows dead-letter to set such rows aside",
        key=key,
        rows=rows,
    )


def _straddle(block_size: int) -> pa.ArrowInvalid:
    return pa.ArrowInvalid(f"straddling object: the first row is longer than {block_size} bytes")


class _BadRowReporter:
    """Arrow's invalid-row handler: reports the row and skips it.

    The file is read again from the start when a record outgrows the block or a column needs
    retyping; rows already reported (by line number, which grows) are not reported twice.
    """

    def __init__(self, on_bad_row: OnBadRow) -> None:
        self.on_bad_row = on_bad_row
        self.last_line = 0

    def __call__(self, row: pacsv.InvalidRow) -> Literal["skip"]:
        if row.number is not None:
            if row.number <= self.last_line:
                return "skip"
            self.last_line = row.number
        reason = f"expected {row.expected_columns} fields, got {row.actual_columns}"
        self.on_bad_row(BadRow(reason=reason, raw=row.text, line=row.number))
        return "skip"


def _read_options(csv: CsvOptions, block_size: int, threads: bool) -> pacsv.ReadOptions:
    names = list(csv.column_names) if csv.column_names else None
    return pacsv.ReadOptions(
        use_threads=threads,
        block_size=block_size,
        column_names=names,
        # Given names replace the header line, which is then skipped.
        skip_rows=1 if names and csv.header else 0,
        autogenerate_column_names=not csv.header and not names,
    )


def _convert_options(
    csv: CsvOptions, schema: pa.Schema | None, declared: dict[str, pa.DataType]
) -> pacsv.ConvertOptions:
    kwargs: dict[str, object] = {}
    if schema is not None:
        kwargs["column_types"] = dict(zip(schema.names, schema.types, strict=True))
    elif declared:
        kwargs["column_types"] = declared
    return pacsv.ConvertOptions(**kwargs, **_null_rules(csv))


def _raw_options(csv: CsvOptions, names: list[str]) -> pacsv.ConvertOptions:
    """Every column as the bytes in the file (null where the typed reading has a null: the
    quoting is not known later), for ``csvconvert`` to convert."""
    return pacsv.ConvertOptions(
        column_types={name: pa.binary() for name in names}, **_null_rules(csv)
    )


def _null_rules(csv: CsvOptions) -> dict[str, object]:
    # Unquoted null spellings are null in text columns too; quoted values never are. An empty
    # unquoted field is null whatever the spellings given (quoted, it is an empty string).
    rules: dict[str, object] = {"strings_can_be_null": True, "quoted_strings_can_be_null": False}
    if csv.null_values is not None:
        rules["null_values"] = ["", *(v for v in csv.null_values if v)]
    return rules


def _column_types(
    reader: pacsv.CSVStreamingReader,
    declared: Mapping[str, pa.DataType],
    infer_types: bool,
    csv: CsvOptions,
) -> pa.Schema:
    """The types to read the file with: those inferred from the first block, with fixes.

    A column empty throughout the first block is typed null, which no later value would fit:
    it is text. One with a value that is not UTF-8 is typed binary, which would turn all its
    values into bytes: it gets the type of its other values (and that value is a bad row).
    Without ``infer_types`` every column is text. Declared columns keep their type.
    """
    fields = []
    first: pa.RecordBatch | None = None
    for index, inferred in enumerate(reader.schema):
        field = inferred
        if field.name in declared:
            pass
        elif not infer_types or pa.types.is_null(field.type):
            field = field.with_type(pa.string())
        elif pa.types.is_binary(field.type):
            first = first or reader.read_next_batch()
            convert = _convert_options(csv, None, {})
            field = field.with_type(infer_text_type(first.column(index), convert))
        fields.append(field)
    return pa.schema(fields)


def _check_names(schema: pa.Schema) -> None:
    """Column names must be text: Arrow takes any bytes, and Python cannot name the column."""
    try:
        schema.names  # noqa: B018 - decoding them is the check
    except UnicodeDecodeError as exc:
        header = bytes(exc.object)
        hint = "pass --encoding with the file's encoding (latin-1, cp1252, utf-16)"
        if header[:2] in (b"\xff\xfe", b"\xfe\xff"):
            hint = "it starts with a UTF-16 byte-order mark: pass --encoding utf-16"
        raise EncodingError(
            f"the header is not valid UTF-8: column name {header[:60]!r}",
            f"{hint}, or name the columns with --csv-column-names",
        ) from None


def _empty_batch(csv: CsvOptions, declared: dict[str, pa.DataType]) -> pa.RecordBatch:
    """No rows; the given column names (as declared, else strings), else no columns."""
    if not csv.column_names:
        return EMPTY_BATCH
    return pa.RecordBatch.from_pylist(
        [], schema=pa.schema([(n, declared.get(n, pa.string())) for n in csv.column_names])
    )


def _has_content(fs: AbstractFileSystem, file: FileInfo, options: ReaderOptions) -> bool:
    """Whether the file holds anything but line breaks (read until the first such byte)."""
    with open_text(fs, file.path, file.key, options.compression, options.encoding) as source:
        while block := source.stream.read(1 << 16):
            if block.strip(b"\r\n"):
                return True
    return False
