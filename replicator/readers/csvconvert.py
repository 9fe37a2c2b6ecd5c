"""Converting CSV text to column types the way Arrow's CSV converter does, value by value.

Arrow's CSV reader fails a whole block (and its streaming reader the rest of the file) for one
value that does not fit its column. The tolerant CSV reader reads the columns as raw bytes
instead and converts them here, with Arrow compute kernels, isolating the values that fail (see
``isolate``) so only their rows are set aside.

Each conversion matches ``pyarrow.csv``'s for the same options (``tests/test_csv_types.py``
checks it value by value against Arrow's reader): the raw bytes are read with the null rules
applied (an unquoted null spelling is null, a quoted value never is), so every value that comes
here is converted as it is; numbers, decimals, dates and times may have spaces or tabs around
them; booleans are exactly the ``true_values``/``false_values``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from replicator.arrowtypes import is_text_or_binary
from replicator.readers.isolate import Convert, isolate

_DEFAULTS = pacsv.ConvertOptions()
_BLANKS = " \t"  # what Arrow's converter trims around numbers, decimals, dates and times
_EPOCH_DAY = "1970-01-01T"


@dataclass(frozen=True, slots=True)
class ValueRules:
    """How text becomes values: which spellings are booleans."""

    true_values: pa.Array
    false_values: pa.Array

    @classmethod
    def of(cls) -> ValueRules:
        """Arrow's default rules."""
        return cls(
            true_values=pa.array([s.encode() for s in _DEFAULTS.true_values], pa.binary()),
            false_values=pa.array([s.encode() for s in _DEFAULTS.false_values], pa.binary()),
        )


def convert_column(
    raw: pa.Array, target: pa.DataType, rules: ValueRules
) -> tuple[pa.Array, list[int]]:
    """``raw`` (binary, as read, nulls in place) converted to ``target``, and the indices of
    values that don't fit.

    Values that don't fit are null in the result; their rows are the caller's to drop.
    """
    return isolate(raw, converter(target, rules), target)


def converter(target: pa.DataType, rules: ValueRules) -> Convert:
    """A vectorized conversion of raw bytes to ``target`` that fails when any value does not fit."""
    if is_text_or_binary(target):
        # Casting bytes to text checks that they are UTF-8.
        return lambda values: values.cast(target)
    if pa.types.is_boolean(target):
        return _booleans(rules)
    if pa.types.is_time(target):
        return _trimmed(_time_of_day(target))
    if pa.types.is_timestamp(target):
        return lambda values: values.cast(pa.string()).cast(target)
    return _trimmed(lambda values: values.cast(target))


def _trimmed(convert: Convert) -> Convert:
    def trimmed(values: pa.Array) -> pa.Array:
        return convert(pc.utf8_trim(values.cast(pa.string()), _BLANKS))

    return trimmed


def _time_of_day(target: pa.DataType) -> Convert:
    # Arrow casts text to timestamps but not to times: read "HH:MM[:SS[.fff]]" as a time on
    # 1970-01-01 (in the target's unit, so finer fractions fail as in the CSV converter).
    stamp = pa.timestamp(target.unit)
    pattern = r"^\d\d:\d\d(:\d\d(\.\d+)?)?$"

    def convert(values: pa.Array) -> pa.Array:
        valid = pc.fill_null(pc.match_substring_regex(values, pattern), True)
        if not pc.all(valid).as_py():
            raise pa.ArrowInvalid("not a time of day")
        dated = pc.binary_join_element_wise(_EPOCH_DAY, values, "")
        return dated.cast(stamp).cast(target)

    return convert


def _booleans(rules: ValueRules) -> Convert:
    def convert(values: pa.Array) -> pa.Array:
        true = pc.is_in(values, value_set=rules.true_values)
        known = pc.or_(true, pc.is_in(values, value_set=rules.false_values))
        if not pc.all(pc.or_(known, pc.is_null(values))).as_py():
            raise pa.ArrowInvalid("not a boolean")
        result: pa.Array = pc.if_else(pc.is_null(values), pa.scalar(None, pa.bool_()), true)
        return result

    return convert
