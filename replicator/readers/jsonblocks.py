"""Parsing JSON Lines a block at a time, setting bad lines aside instead of failing the block.

Arrow's JSON parser rejects a whole block for one bad line, so each block of whole lines is
parsed by Arrow at once (``jsonarrow``, which also keeps Arrow away from the inputs that crash
it). Only when that fails, or when Arrow's rows may not be the lines' objects (a ``null`` line,
a line of two values: ``jsonarrow.suspect``), is it taken apart: every line is checked with orjson (valid JSON? an object?),
and the valid objects are parsed again by Arrow, halving the run on failure until each line that
does not fit the file's columns stands alone. Rows keep their order; Python touches single
lines only in blocks that hold a bad one.

An object with a key twice (valid JSON) takes the key's last value, as Python's json and orjson
do; ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON, but Python's json writes them) are numbers,
as Arrow reads them. Column types come from the first block; later blocks are parsed with those types, and a row
that does not fit them (a new field, a number turned string) is a bad row.
"""

from __future__ import annotations

import json
import re

import orjson
import pyarrow as pa

from replicator.readers.badrows import BadRow, OnBadRow
from replicator.readers.jsonarrow import (
    JSON_BLANKS,
    NotAnObject,
    concat,
    parse,
    parse_text,
    suspect,
)
from replicator.readers.textblocks import TextBlock

_ROW_SUFFIX = re.compile(r" in row \d+$")
_DUPLICATE_KEY = "was specified twice"
# Arrow's message for a top-level field of another kind: "Column(/name) changed from ...".
_NAMED_COLUMN = re.compile(r"Column\(/([^/)\[]+)\) changed from")


def json_can_produce(dtype: pa.DataType) -> bool:
    """Whether Arrow's JSON parser converts JSON values to ``dtype`` (given explicitly)."""
    if pa.types.is_struct(dtype):
        return all(json_can_produce(f.type) for f in dtype)
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return json_can_produce(dtype.value_type)
    return bool(
        pa.types.is_boolean(dtype)
        or pa.types.is_integer(dtype)
        or pa.types.is_floating(dtype)
        or pa.types.is_decimal128(dtype)
        or pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_timestamp(dtype)
        or pa.types.is_date32(dtype)
    )


class JsonBlockParser:
    """Parses blocks of one file, holding the column types found in its first block.

    Within the first block the columns may still grow: when it has to be taken apart, each run
    of lines is parsed with the types found so far plus any new fields (a column that was null
    so far takes the type of its first value), so a bad line does not make the fields after it
    misfits. From the second block on, the columns are fixed.

    ``offsets``: whether byte offsets in the blocks are those of the file's decompressed text
    (not so for text decoded from another encoding); bad rows carry them only then. ``text``:
    every column is text (``jsontext``), so only a new field after the first block misfits.
    """

    def __init__(
        self,
        on_bad_row: OnBadRow,
        *,
        offsets: bool = True,
        text: bool = False,
        schema: pa.Schema | None = None,
    ) -> None:
        """``schema``: the pipeline's column types (the schema stage's): every block is parsed
        with them, new fields inferred, and a line whose values do not fit is parsed alone
        with its own types, for the stage to widen or rescue (``parse_all``)."""
        self.on_bad_row = on_bad_row
        self.offsets = offsets
        self.text = text
        self.pipeline = schema
        self.schema: pa.Schema | None = None
        self._growing = True

    def parse(self, block: TextBlock) -> pa.Table | None:
        """The block's good rows (``None`` when it holds none), in one table."""
        tables = self.parse_all(block)
        return concat(tables) if tables else None

    def parse_all(self, block: TextBlock) -> list[pa.Table]:
        """The block's good rows, in order, in tables of one schema each (several only with
        a pipeline schema, when some lines have types of their own)."""
        try:
            return self._parse(block)
        finally:
            self._growing = self.schema is None

    def _parse(self, block: TextBlock) -> list[pa.Table]:
        try:
            table = self._arrow(block.data)
        except pa.ArrowInvalid:  # NotAnObject too
            pass
        else:
            if table is None:
                return []
            if not suspect(table, block.data):
                return [table]
        tables: list[pa.Table] = []
        self._fit(self._valid_objects(block), tables)
        if not tables:
            return []
        if self.pipeline is not None:
            return _runs(tables)
        if self.schema is not None and self._growing:
            # Runs parsed as the columns grew: every row with every column, in one order.
            tables.insert(0, self.schema.empty_table())
        return [concat(tables)]

    def _arrow(self, data: bytes) -> pa.Table | None:
        if self.pipeline is not None:
            # The stage conforms what comes out: text as text, else the pipeline's types
            # and new fields as Arrow infers them.
            return parse_text(data) if self.text else self._typed(data)
        if self.text:
            return self._text(data)
        if self.schema is None or not self._growing:
            table = parse(data, self.schema)
            if self.schema is None and table is not None:
                self.schema = table.schema
            return table
        known = pa.schema([f for f in self.schema if not pa.types.is_null(f.type)])
        table = parse(data, known, grow=True)
        if table is not None:
            self.schema = pa.unify_schemas([self.schema, table.schema])
        return table

    def _typed(self, data: bytes) -> pa.Table | None:
        """``data`` parsed with the pipeline's types where JSON can hold them. A field whose
        values in this block are of another kind (Arrow names it: "Column(/x) changed from
        string to number") is read with its own type instead, for the stage to conform: the
        block stays one parse instead of a parse per line."""
        assert self.pipeline is not None
        schema = pa.schema([f for f in self.pipeline if json_can_produce(f.type)])
        try:
            # Fields known: Arrow parses the block's pieces on several threads.
            return parse(data, schema)
        except pa.ArrowInvalid as exc:
            if isinstance(exc, NotAnObject):
                raise
        for _ in range(len(schema) + 1):
            try:
                return parse(data, schema, grow=True)
            except pa.ArrowInvalid as exc:
                if isinstance(exc, NotAnObject):
                    raise
                found = _NAMED_COLUMN.search(str(exc))
                name = found.group(1) if found else None
                if name is None or schema.get_field_index(name) < 0:
                    raise
                schema = schema.remove(schema.get_field_index(name))
        return parse(data, schema, grow=True)

    def _text(self, data: bytes) -> pa.Table | None:
        table = parse_text(data)
        if table is None:
            return None
        if self.schema is None or self._growing:
            schemas = [table.schema] if self.schema is None else [self.schema, table.schema]
            self.schema = pa.unify_schemas(schemas)
            return table
        names = set(self.schema.names)
        for name in table.schema.names:
            # A field the first block did not have, with a value (a null value is no loss).
            if name not in names and table.column(name).null_count < table.num_rows:
                raise pa.ArrowInvalid(f"a field that is not one of its columns: {name!r}")
        # Selected and appended, not rebuilt: a table of no columns keeps its rows so.
        aligned = table.select([name for name in table.schema.names if name in names])
        for name in self.schema.names:
            if name not in aligned.schema.names:
                aligned = aligned.append_column(name, pa.nulls(len(table), pa.string()))
        return aligned.select(self.schema.names)

    def _valid_objects(self, block: TextBlock) -> list[tuple[bytes, int, int]]:
        """(line, line number, byte offset) of the block's lines that are JSON objects."""
        good: list[tuple[bytes, int, int]] = []
        offset = block.start
        for number, line in enumerate(block.data.split(b"\n"), start=block.first_line):
            start, offset = offset, offset + len(line) + 1
            text = line[:-1] if line.endswith(b"\r") else line
            if not text.strip(JSON_BLANKS):
                continue  # blank lines are not rows, as in Arrow
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                value = _lenient(text)
                if value is _INVALID:
                    self._bad(f"not valid JSON: {exc}", text, number, start)
                    continue
            if not isinstance(value, dict):
                self._bad(f"not a JSON object but {_kind(value)}", text, number, start)
                continue
            good.append((text, number, start))
        return good

    def _fit(self, lines: list[tuple[bytes, int, int]], tables: list[pa.Table]) -> None:
        """Parse ``lines`` with the file's columns; halve on failure until each misfit is alone."""
        if not lines:
            return
        try:
            table = self._arrow(b"\n".join(line for line, _, _ in lines))
        except pa.ArrowInvalid as exc:
            if len(lines) == 1:
                self._misfit(lines[0], exc, tables)
                return
        else:
            if table is not None:
                tables.append(table)
            return
        middle = len(lines) // 2
        self._fit(lines[:middle], tables)
        self._fit(lines[middle:], tables)

    def _misfit(
        self, line: tuple[bytes, int, int], exc: pa.ArrowInvalid, tables: list[pa.Table]
    ) -> None:
        """A line Arrow rejects alone: its last values for keys given twice, else a bad row."""
        text, number, start = line
        if self.pipeline is not None and _DUPLICATE_KEY not in str(exc):
            # Values of types of their own: the line alone, as Arrow reads it, for the stage.
            try:
                alone = parse(text, None)
            except pa.ArrowInvalid as again:
                exc = again
            else:
                if alone is not None:
                    tables.append(alone)
                return
        if _DUPLICATE_KEY in str(exc):
            # Arrow refuses a key given twice; JSON allows it and parsers keep the last value.
            try:
                table = self._arrow(orjson.dumps(orjson.loads(text)))
            except pa.ArrowInvalid as again:
                exc = again
            else:
                if table is not None:
                    tables.append(table)
                return
        # Arrow counts rows in what it was given: here always "row 0".
        reason = _ROW_SUFFIX.sub("", str(exc).strip().splitlines()[0][:300])
        self._bad(f"does not fit the file's columns: {reason}", text, number, start)

    def _bad(self, reason: str, text: bytes, line: int, byte: int) -> None:
        where = byte if self.offsets else None
        self.on_bad_row(BadRow(reason=reason, raw=text, line=line, byte=where))


def _runs(tables: list[pa.Table]) -> list[pa.Table]:
    """Consecutive tables of one schema joined, in order."""
    runs: list[list[pa.Table]] = []
    for table in tables:
        if runs and runs[-1][0].schema.equals(table.schema):
            runs[-1].append(table)
        else:
            runs.append([table])
    return [concat(run) for run in runs]


_INVALID = object()


def _lenient(text: bytes) -> object:
    """``text`` read as Python's json and Arrow read it: NaN, Infinity and -Infinity are
    numbers (Python's json writes them), which orjson refuses. ``_INVALID`` if it is not."""
    try:
        return json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return _INVALID


def _kind(value: object) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", int: "a number"}
    return "null" if value is None else kinds.get(type(value), "a number")
