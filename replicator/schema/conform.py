"""Conforming a file's batches to the pipeline schema, column by column, in Arrow.

A reader's batch has the file's own types; the output must have the pipeline's. Per column:

* the same type (the usual case, as readers parse with the pipeline's types): kept;
* a type whose values the pipeline's type holds (int32 in an int64 column, an int in a float
  column, anything in a text column): cast;
* values that need a wider type of the column's kind (1.5 in an int64 column), or a new field:
  with ``add-columns`` the schema must change first (``Evolve``: the stage widens it and the file
  is read again); in the other modes each value that does not fit is rescued;
* values of another kind (text where a number was, an object where a number was), or any value
  that does not fit a hinted column: rescued.

A rescued value leaves a null in its column; the rescued-data column of its row holds a JSON
object of every rescued field (by dotted path) with its value as the source wrote it, and the
source key under ``_file``. Only rows with rescued values pay for Python; the others stay in
Arrow.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from replicator.errors import ReadError
from replicator.schema.types import normalize, widen

Path = tuple[str, ...]

DEFAULT_RESCUE_COLUMN = "_rescued_data"
# A number written with a leading zero (08123, 007; not 0 or 0.5): an identifier, kept as text.
LEADING_ZERO = r"^\s*[+-]?0[0-9]"


class Mode(enum.Enum):
    """``--schema-evolution``, named after Auto Loader's modes."""

    ADD_COLUMNS = "add-columns"
    RESCUE = "rescue"
    FAIL = "fail"
    NONE = "none"


MODES = tuple(m.value for m in Mode)


@dataclass(frozen=True)
class Target:
    """One version of the pipeline schema, and how to hold values that do not fit it."""

    version: int
    schema: pa.Schema  # a null-typed field: seen, but no value yet (its type is unknown)
    mode: Mode = Mode.ADD_COLUMNS
    hinted: frozenset[Path] = frozenset()
    rescue_column: str | None = DEFAULT_RESCUE_COLUMN
    # Source columns the system columns replace (``_file``, ``_row``): dropped, not data.
    reserved: frozenset[str] = frozenset()
    # What made this version (for the history and the views).
    changes: tuple[str, ...] = ()
    cause: str | None = None

    def output_schema(self) -> pa.Schema:
        """What outputs hold: the fields whose type is known (a column with no value yet is
        left out, so that no output disagrees with the type its first value brings), then the
        rescued-data column."""
        fields = [f for f in self.schema if not pa.types.is_null(f.type)]
        if self.rescue_column:
            fields.append(pa.field(self.rescue_column, pa.string()))
        return pa.schema(fields)

    def published_schema(self) -> pa.Schema:
        """The schema readers of the destination should use: every field, a column whose type
        is not known yet as text."""
        fields = [f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in self.schema]
        if self.rescue_column:
            fields.append(pa.field(self.rescue_column, pa.string()))
        return pa.schema(fields)


@dataclass(frozen=True, slots=True)
class Change:
    """A field the schema must add or widen to hold a file's values."""

    path: Path
    old: pa.DataType | None  # None: a new field
    new: pa.DataType
    row: int  # 1-based row of the file that needs it

    def describe(self) -> str:
        name = ".".join(self.path)
        if self.old is None:
            return f"new column {name} ({self.new})"
        return f"column {name}: {self.old} -> {self.new}"


class Evolve(Exception):
    """The schema must change before these rows can be written (``add-columns``)."""

    def __init__(self, changes: Sequence[Change]) -> None:
        super().__init__("; ".join(c.describe() for c in changes))
        self.changes = tuple(changes)


@dataclass(frozen=True, slots=True)
class Misfit:
    """A value a reader could not convert to its column's type: its row in the batch, its
    column, its bytes as written (CSV), and the type the reader sees in its column's misfits
    (None: none, or another kind)."""

    row: int
    path: Path
    raw: bytes
    observed: pa.DataType | None = None


class ColumnDrift(Exception):
    """Most values of a column in a block are not of its type (a reader's finding): either
    the column widens to ``observed`` (``add-columns``), or the file fails with ``reason``."""

    def __init__(self, column: str, observed: pa.DataType, row: int, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.observed = observed
        self.row = row  # 1-based row of the file where the block starts
        self.reason = reason


@dataclass
class _Rescued:
    """Values set aside while conforming one batch: row -> {dotted path: JSON value}."""

    rows: dict[int, dict[str, Any]] = field(default_factory=dict)

    def add(self, row: int, path: Path, value: Any) -> None:
        self.rows.setdefault(row, {})[".".join(path)] = value


class Conformer:
    """Conforms the batches of one file to one ``Target``. Not thread-safe (one per file)."""

    def __init__(self, target: Target, key: str) -> None:
        self.target = target
        self.key = key
        self.rows = 0  # rows of the file conformed so far
        self.rescued = 0  # rows with rescued values
        self._output = target.output_schema()
        self._types = {f.name: f.type for f in target.schema}

    def conform(self, batch: pa.RecordBatch, misfits: Iterable[Misfit] = ()) -> pa.RecordBatch:
        """``batch`` as the target's output schema. Raises ``Evolve`` (add-columns) when the
        schema must change first, ``ReadError`` when it would and the mode is ``fail``."""
        rescued = _Rescued()
        misfits = list(misfits)
        changes = self._widenings(misfits)
        if changes:
            raise Evolve(changes)
        for misfit in misfits:
            self._misfit(misfit, rescued)
        if rescued.rows or not self._fits(batch):
            batch = self._conform(batch, rescued)
        elif batch.schema.names != self._data_names():
            batch = batch.select(self._data_names())
        batch = self._with_rescued(batch, rescued)
        self.rows += batch.num_rows
        return batch

    def drifted(self, drift: ColumnDrift) -> Exception:
        """What a column of the wrong type for a whole block means: ``Evolve`` when it may
        widen to the type its values have, else the file fails with the reader's reason."""
        target = self._types.get(drift.column)
        path = (drift.column,)
        if target is not None and path not in self.target.hinted:
            wider = widen(target, drift.observed)
            changes = wider is not None and not wider.equals(target)
            if changes and self._may_change(path, target, wider, drift.row):
                return Evolve([Change(path, target, wider, drift.row)])
        return ReadError(
            f"{self.key}: {drift.reason}; declare the column's type with --schema-hints, or "
            "fix the data",
            key=self.key,
            rows=drift.row - 1,
        )

    def _widenings(self, misfits: list[Misfit]) -> list[Change]:
        """The changes the readers' misfits need (``add-columns``), one per column."""
        changes: dict[Path, Change] = {}
        for misfit in misfits:
            target = self._types.get(misfit.path[0]) if len(misfit.path) == 1 else None
            if misfit.observed is None or target is None or misfit.path in self.target.hinted:
                continue
            if misfit.path in changes:
                continue
            wider = widen(target, misfit.observed)
            if wider is None or wider.equals(target):
                continue
            if self._may_change(misfit.path, target, wider, self.rows + misfit.row + 1):
                changes[misfit.path] = Change(
                    misfit.path, target, wider, self.rows + misfit.row + 1
                )
        return list(changes.values())

    # -- the usual case --------------------------------------------------------------------

    def _data_names(self) -> list[str]:
        return [n for n in self._output.names if n != self.target.rescue_column]

    def _fits(self, batch: pa.RecordBatch) -> bool:
        """Whether the batch has exactly the output's data columns, with their types (in any
        order), and no column the schema lacks that holds a value."""
        types = self._types
        seen = 0
        for f in batch.schema:
            want = types.get(f.name)
            if f.name in self.target.reserved:
                continue
            if want is None:
                if batch.column(f.name).null_count != batch.num_rows:
                    return False
                continue
            if pa.types.is_null(want):
                if batch.column(f.name).null_count != batch.num_rows:
                    return False
                continue
            if not f.type.equals(want):
                return False
            seen += 1
        return seen == len(self._data_names())

    # -- the general case ------------------------------------------------------------------

    def _conform(self, batch: pa.RecordBatch, rescued: _Rescued) -> pa.RecordBatch:
        changes: list[Change] = []
        arrays: list[pa.Array] = []
        have = set(batch.schema.names)
        for target in self.target.schema:
            if pa.types.is_null(target.type):
                if target.name in have:
                    self._undetermined((target.name,), batch.column(target.name), rescued, changes)
                continue
            if target.name in have:
                column = _plain(batch.column(target.name))
                arrays.append(self._column((target.name,), column, target.type, rescued, changes))
            else:
                arrays.append(pa.nulls(batch.num_rows, target.type))
        for f in batch.schema:
            if f.name not in self._types and f.name not in self.target.reserved:
                column = batch.column(f.name)
                if column.null_count == batch.num_rows:
                    continue
                if f.name == self.target.rescue_column:  # the source's own: kept, rescued
                    self._rescue_all((f.name,), _plain(column), rescued)
                else:
                    self._new_field((f.name,), _plain(column), rescued, changes)
        if changes:
            raise Evolve(changes)
        names = self._data_names()
        return pa.RecordBatch.from_arrays(
            arrays, schema=pa.schema([self._output.field(n) for n in names])
        )

    def _column(
        self,
        path: Path,
        column: pa.Array,
        target: pa.DataType,
        rescued: _Rescued,
        changes: list[Change],
    ) -> pa.Array:
        """``column`` as ``target``; values that cannot be are rescued (or ``changes`` noted)."""
        have = normalize(column.type)
        if column.type.equals(target):
            return column
        hinted = path in self.target.hinted
        if pa.types.is_struct(target) and pa.types.is_struct(have):
            return self._struct(path, column, target, rescued, changes)
        wider = widen(target, have)
        if wider is not None and wider.equals(target):
            try:
                return cast_into(column, target)
            except pa.ArrowInvalid:  # an integer past 2**53 in a float column, say
                return self._fit_or_rescue(path, column, target, rescued)
        if (
            wider is not None
            and not hinted
            and self._may_change(path, target, wider, self._first_row(column))
        ):
            changes.append(Change(path, target, wider, self._first_row(column)))
            return pa.nulls(len(column), target)
        if pa.types.is_null(have):
            return pa.nulls(len(column), target)
        if wider is None:  # another kind: never converted (a boolean is not the number 1)
            self._rescue_all(path, column, rescued)
            return pa.nulls(len(column), target)
        return self._fit_or_rescue(path, column, target, rescued)

    def _struct(
        self,
        path: Path,
        column: pa.Array,
        target: pa.DataType,
        rescued: _Rescued,
        changes: list[Change],
    ) -> pa.Array:
        names = {column.type.field(i).name for i in range(column.type.num_fields)}
        children: list[pa.Array] = []
        for child in target:
            if child.name in names:
                values = _plain(column.field(child.name))
                children.append(
                    self._column((*path, child.name), values, child.type, rescued, changes)
                )
            else:
                children.append(pa.nulls(len(column), child.type))
        for i in range(column.type.num_fields):
            child = column.type.field(i)
            if target.get_field_index(child.name) < 0:
                values = _plain(column.field(child.name))
                if values.null_count != len(values):
                    self._new_field((*path, child.name), values, rescued, changes)
        mask = column.is_null() if column.null_count else None
        return pa.StructArray.from_arrays(children, fields=list(target), mask=mask)

    def _may_change(self, path: Path, old: pa.DataType, new: pa.DataType, row: int) -> bool:
        """Whether the schema changes for values first met at file row ``row``:
        ``add-columns`` says so, ``fail`` stops the file, the others keep the schema."""
        mode = self.target.mode
        if mode is Mode.FAIL:
            raise self._refusal(Change(path, old, new, row))
        return mode is Mode.ADD_COLUMNS

    def _new_field(
        self, path: Path, column: pa.Array, rescued: _Rescued, changes: list[Change]
    ) -> None:
        mode = self.target.mode
        change = Change(path, None, normalize(column.type), self._first_row(column))
        if mode is Mode.ADD_COLUMNS:
            changes.append(change)
        elif mode is Mode.FAIL:
            raise self._refusal(change)
        elif mode is Mode.RESCUE:
            self._rescue_all(path, column, rescued)
        # NONE: new fields are ignored.

    def _undetermined(
        self, path: Path, column: pa.Array, rescued: _Rescued, changes: list[Change]
    ) -> None:
        """A column of unknown type (no value seen yet) that now has values."""
        if column.null_count == len(column):
            return
        if path in self.target.hinted:
            return
        have = normalize(column.type)
        if self._may_change(path, pa.null(), have, self._first_row(column)):
            changes.append(Change(path, pa.null(), have, self._first_row(column)))
        else:
            self._rescue_all(path, column, rescued)

    def _fit_or_rescue(
        self, path: Path, column: pa.Array, target: pa.DataType, rescued: _Rescued
    ) -> pa.Array:
        """The values of ``column`` that ``target`` holds exactly; the others are rescued."""
        try:
            cast = pc.cast(column, target, safe=False)
            back = pc.cast(cast, column.type, safe=False)
            same = pc.fill_null(pc.equal(back, column), False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            cast, same = pa.nulls(len(column), target), pa.array([False] * len(column))
        misfit = pc.and_(column.is_valid(), pc.invert(same))
        if not pc.any(misfit).as_py():
            return cast
        for row in pc.indices_nonzero(misfit).to_pylist():
            rescued.add(row, path, _json_value(column[row].as_py(maps_as_pydicts="lossy")))
        return pc.if_else(misfit, pa.scalar(None, target), cast)

    def _rescue_all(self, path: Path, column: pa.Array, rescued: _Rescued) -> None:
        for row in pc.indices_nonzero(column.is_valid()).to_pylist():
            rescued.add(row, path, _json_value(column[row].as_py(maps_as_pydicts="lossy")))

    def _misfit(self, misfit: Misfit, rescued: _Rescued) -> None:
        try:
            value: Any = misfit.raw.decode("utf-8")
        except UnicodeDecodeError:
            value = {"base64": base64.b64encode(misfit.raw).decode("ascii")}
        rescued.add(misfit.row, misfit.path, value)

    # -- rescued values --------------------------------------------------------------------

    def _with_rescued(self, batch: pa.RecordBatch, rescued: _Rescued) -> pa.RecordBatch:
        name = self.target.rescue_column
        if name is None:
            if rescued.rows:
                raise ReadError(
                    f"{self.key}: row {self.rows + min(rescued.rows) + 1} holds values that do "
                    "not fit the schema and the rescued-data column is off; turn it on "
                    "(--rescued-data-column)",
                    key=self.key,
                    rows=self.rows,
                )
            return batch
        if not rescued.rows:
            column = pa.nulls(batch.num_rows, pa.string())
        else:
            self.rescued += len(rescued.rows)
            texts: list[str | None] = [None] * batch.num_rows
            for row, values in rescued.rows.items():
                texts[row] = orjson.dumps({**values, "_file": self.key}, default=_default).decode()
            column = pa.array(texts, pa.string())
        return batch.append_column(pa.field(name, pa.string()), column)

    # -- messages --------------------------------------------------------------------------

    def _first_row(self, column: pa.Array) -> int:
        valid = pc.indices_nonzero(column.is_valid())
        return self.rows + (valid[0].as_py() if len(valid) else 0) + 1

    def _refusal(self, change: Change) -> ReadError:
        what = (
            f"a new column {'.'.join(change.path)} ({change.new})"
            if change.old is None
            else f"column {'.'.join(change.path)} needs {change.new} instead of {change.old}"
        )
        return ReadError(
            f"{self.key}: row {change.row}: {what}, and --schema-evolution is fail; declare "
            "the column with --schema-hints, or pass --schema-evolution add-columns (or rescue)",
            key=self.key,
            rows=change.row - 1,
        )


def _plain(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One array, dictionaries decoded, views as plain types."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    wanted = normalize(column.type)
    return column if column.type.equals(wanted) else column.cast(wanted)


def cast_into(column: pa.Array, target: pa.DataType) -> pa.Array:
    """``column`` as ``target``, which holds all its values: text for anything into text
    (nested values as their JSON text), else Arrow's cast."""
    if pa.types.is_decimal(column.type) and pa.types.is_floating(target):
        # Arrow divides in floating point (0.69 becomes 0.6900000000000001); parsing the
        # decimal's text rounds correctly.
        return column.cast(pa.string()).cast(target)
    if pa.types.is_string(target) or pa.types.is_large_string(target):
        if pa.types.is_nested(column.type):
            texts = [
                None if v is None else orjson.dumps(v, default=_default).decode()
                for v in column.to_pylist(maps_as_pydicts="lossy")
            ]
            return pa.array(texts, target)
        if pa.types.is_boolean(column.type):
            return pc.if_else(column, "true", "false").cast(target)
    return column.cast(target)


def _json_value(value: Any) -> Any:
    """A rescued value as JSON holds it: bytes as base64 (as ``{"base64": ...}``)."""
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode("ascii")}
    return value


def _default(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    raise TypeError(f"cannot write a {type(value).__name__} as JSON")
