"""Running a vectorized conversion over values some of which make it fail, keeping the rest.

Arrow's kernels (``cast`` and friends) fail a whole array for one bad value and do not say
which. ``isolate`` converts the array in one call when it can (the common case); when that
fails it halves the array and tries each half, down to the single values that fail. The cost is
one kernel call per array without bad values, and about ``2 * log2(n)`` calls per bad value.

When more than a quarter of the values fail (and more than a few), the type or the encoding is
wrong rather than some rows: ``TooManyMisfits`` stops the search, whose cost would otherwise grow
to two kernel calls per value.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

# Converts an array, or raises ``ArrowInvalid`` when any value does not convert.
Convert = Callable[[pa.Array], pa.Array]

_FEW = 100


class TooManyMisfits(pa.ArrowInvalid):  # type: ignore[misc]  # pyarrow is untyped
    """Most of an array's values do not convert: a wrong type or encoding, not a few bad rows."""


def isolate(values: pa.Array, convert: Convert, target: pa.DataType) -> tuple[pa.Array, list[int]]:
    """``convert(values)`` with null where a value fails alone, and the indices of those values.

    ``target`` is the type ``convert`` returns (for the nulls put in place of failing values).
    Raises ``TooManyMisfits`` when more than a quarter of the values (and more than a few) fail.
    """
    try:
        return convert(values), []
    except pa.ArrowInvalid as exc:
        if len(values) <= 1:
            return pa.nulls(len(values), target), list(range(len(values)))
        first = exc
    pieces: list[pa.Array] = []
    bad: list[int] = []
    limit = max(_FEW, len(values) // 4)
    _halve(values, convert, target, 0, pieces, bad, limit, first)
    return pa.concat_arrays(pieces), bad


def _halve(
    values: pa.Array,
    convert: Convert,
    target: pa.DataType,
    start: int,
    pieces: list[pa.Array],
    bad: list[int],
    limit: int,
    first: pa.ArrowInvalid,
) -> None:
    """Convert both halves of ``values`` (known to fail as a whole); ``start`` is its index."""
    middle = len(values) // 2
    for offset, half in ((0, values.slice(0, middle)), (middle, values.slice(middle))):
        try:
            pieces.append(convert(half))
        except pa.ArrowInvalid:
            if len(half) == 1:
                pieces.append(pa.nulls(1, target))
                bad.append(start + offset)
                if len(bad) > limit:
                    reason = str(first).strip().splitlines()[0][:200]
                    raise TooManyMisfits(
                        f"more than {limit} values do not convert to {target} ({reason})"
                    ) from None
            else:
                _halve(half, convert, target, start + offset, pieces, bad, limit, first)
