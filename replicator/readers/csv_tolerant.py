"""The CSV reader's slow path: reading a file again as raw text when a value does not fit.

Arrow's streaming CSV reader stops at the first value that does not fit its column's type (a
declared type, or one inferred from the first block) and cannot go on. The file is then read
again from the start with every column as raw bytes; the rows the typed reading already produced
are skipped (so no row comes out twice), and the rest are converted, with Arrow compute, to the
column types already used (``csvconvert``). A row holding a value that does not fit is reported
as a bad row and left out; the good rows keep their order.

A bad row's ``raw`` is the row re-serialised as one CSV line from its fields, because Arrow's
reader does not keep a row's bytes: quoting may differ from the file's. Its ``row`` is its
1-based index among the file's data rows (the header, blank lines and rows with the wrong number
of fields not counted); its line number is not known.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from replicator.readers.badrows import BadRow, OnBadRow
from replicator.readers.columns import row_numbers
from replicator.readers.csvconvert import ValueRules, convert_column
from replicator.readers.growth import OpenBatches, read_with_growing_blocks
from replicator.readers.isolate import TooManyMisfits

# How Arrow's messages for a value that does not fit start ("... CSV conversion error to int64:
# invalid value 'x'", "... The string 'x' is not a valid decimal128 number", ...).
_CONVERSION_MARKER = "In CSV column #"
_SHOWN = 100  # characters of a value quoted in a reason


def is_conversion_error(exc: BaseException) -> bool:
    """Whether ``exc`` is Arrow's "this value does not fit its column" (not a parse error)."""
    return isinstance(exc, pa.ArrowInvalid) and str(exc).startswith(_CONVERSION_MARKER)


@dataclass(frozen=True, slots=True)
class Dialect:
    """How to write a row back as CSV text: the delimiter and the quote (``None``: no quoting)."""

    delimiter: bytes
    quote: bytes | None


@dataclass(frozen=True, slots=True)
class Misfit:
    """One value that does not fit its column."""

    column: str
    value: bytes
    type: pa.DataType

    def reason(self) -> str:
        """E.g. ``column "qty": "abc" does not fit int64``."""
        shown = self.value.decode("utf-8", "replace")
        if len(shown) > _SHOWN:
            shown = shown[:_SHOWN] + "..."
        what = "is not valid UTF-8" if _is_string(self.type) else f"does not fit {self.type}"
        return f"column {_quote(self.column)}: {_quote(shown)} {what}"


class MisfitError(Exception):
    """A row with values that do not fit, when bad rows fail the file."""

    def __init__(self, row: BadRow, misfits: list[Misfit]) -> None:
        super().__init__(row.reason)
        self.row = row
        self.misfits = misfits


def tolerant_batches(
    open_raw: OpenBatches,
    block_size: int,
    *,
    skip: int,
    schema: pa.Schema,
    rules: ValueRules,
    dialect: Dialect,
    report: OnBadRow | None,
) -> Iterator[pa.RecordBatch]:
    """The good rows after the first ``skip`` data rows, as ``schema``; bad ones to ``report``.

    ``open_raw`` opens the file with every column read as binary. Without ``report``, the
    first bad row raises ``MisfitError`` (after the good rows of the batches before it).
    """
    seen = skip  # data rows read so far
    for raw in read_with_growing_blocks(open_raw, block_size, skip=skip):
        if raw.schema.names != schema.names:
            raise pa.ArrowInvalid(
                f"the columns changed on reading again: {raw.schema.names} != {schema.names}"
            )
        good, misfits = convert_batch(raw, schema, rules)
        for index, row_misfits in misfits.items():
            bad = BadRow(
                reason="; ".join(m.reason() for m in row_misfits),
                raw=csv_line(raw, index, dialect),
                row=seen + index + 1,
            )
            if report is None:
                raise MisfitError(bad, row_misfits)
            report(bad)
        seen += raw.num_rows
        yield good


def convert_batch(
    raw: pa.RecordBatch, schema: pa.Schema, rules: ValueRules, *, keep_rows: bool = False
) -> tuple[pa.RecordBatch, dict[int, list[Misfit]]]:
    """The rows of ``raw`` whose every value fits ``schema``, and the misfits of the others
    (with ``keep_rows``, every row, a misfit's value null in it). ``TooManyMisfits`` names the
    column in its ``column``."""
    arrays: list[pa.Array] = []
    misfits: dict[int, list[Misfit]] = {}
    for field, column in zip(schema, raw.columns, strict=True):
        try:
            values, failed = convert_column(column, field.type, rules)
        except TooManyMisfits as exc:
            # Mostly not UTF-8 is an encoding to give (the caller's hint says so), not a type.
            remedy = "" if _is_string(field.type) else "; check its type in --csv-column-types"
            error = TooManyMisfits(f"column {_quote(field.name)}: {exc}{remedy}")
            error.column = field.name
            raise error from None
        arrays.append(values)
        for index in failed:
            value = column[index].as_py() or b""
            misfits.setdefault(index, []).append(Misfit(field.name, value, field.type))
    batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
    if not misfits or keep_rows:
        return batch, dict(sorted(misfits.items()))
    bad = pa.array(sorted(misfits), pa.int64())
    keep = pc.invert(pc.is_in(row_numbers(0, raw.num_rows), value_set=bad))
    return batch.filter(keep), dict(sorted(misfits.items()))


def csv_line(raw: pa.RecordBatch, index: int, dialect: Dialect) -> bytes:
    """Row ``index`` of ``raw`` (binary columns) written back as one CSV line, without newline."""
    fields: list[bytes] = [column[index].as_py() or b"" for column in raw.columns]
    return dialect.delimiter.join(_quoted(f, dialect) for f in fields)


def _quoted(field: bytes, dialect: Dialect) -> bytes:
    quote = dialect.quote
    if quote is None or not any(c in field for c in (dialect.delimiter, quote, b"\n", b"\r")):
        return field
    return quote + field.replace(quote, quote + quote) + quote


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _is_string(dtype: pa.DataType) -> bool:
    return bool(pa.types.is_string(dtype) or pa.types.is_large_string(dtype))
