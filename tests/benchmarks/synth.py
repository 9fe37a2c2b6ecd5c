"""Seeded synthetic rows, built column by column with Arrow kernels (no per-row Python).

Two shapes: ``events`` (web events with a nested object, written as JSON lines) and ``mixed``
(8 flat columns of mixed types, written as CSV and Parquet). ``drifted`` makes events drift: an
integer column turned float part-way, new fields. The same seed gives the same rows
with the same pyarrow version (``pyarrow.compute.random`` is the only source of randomness).
"""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.compute as pc

# 2026-01-01T00:00:00Z: every timestamp lies after it, one to a few seconds apart.
_EPOCH = 1_767_225_600

_KINDS = pa.array(["view", "click", "add_to_cart", "purchase", "signup", "logout"])
_OSES = pa.array(["linux", "macos", "windows", "android", "ios"])
_CATEGORIES = pa.array([f"category-{i:02d}" for i in range(20)])
_WORDS = (  # noqa: SIM905 - a sentence reads better than 25 quoted words
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu café "
    "naïve über straße order item cart price user page search result shipped"
).split()


def _phrases(count: int, commas: bool) -> pa.Array:
    """``count`` distinct phrases of 1 to 12 words (some with commas, for CSV quoting)."""
    phrases = []
    for i in range(count):
        words = [_WORDS[(i * 7 + j * 3) % len(_WORDS)] for j in range(1 + i % 12)]
        sep = ", " if commas and i % 5 == 0 else " "
        phrases.append(sep.join(words) + f" #{i}")
    return pa.array(phrases)


_MESSAGES = _phrases(1000, commas=False)
_NOTES = _phrases(1000, commas=True)
_PAGES = pa.array([f"/products/{i}/details" for i in range(500)])
_COUPONS = pa.array(["welcome", "spring sale", "free shipping", "loyalty", "bundle", "friends"])
_REFERRERS = pa.array([f"https://partner-{i}.example/landing?campaign={i % 7}" for i in range(50)])


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any parts (corpus, file number, ...): stable across runs and hosts."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


class Draw:
    """Random columns of one length, each from its own derived seed."""

    def __init__(self, seed: int, rows: int) -> None:
        self._seed = seed
        self._rows = rows
        self._draws = 0

    def uniform(self) -> pa.DoubleArray:
        self._draws += 1
        result: pa.DoubleArray = pc.random(
            self._rows, initializer=derive_seed(self._seed, self._draws)
        )
        return result

    def ints(self, low: int, high: int) -> pa.Int64Array:
        """Uniform in ``[low, high)``."""
        scaled = pc.floor(pc.multiply(self.uniform(), float(high - low)))
        result: pa.Int64Array = pc.add(pc.cast(scaled, pa.int64()), low)
        return result

    def floats(self, high: float, decimals: int = 2) -> pa.DoubleArray:
        result: pa.DoubleArray = pc.round(pc.multiply(self.uniform(), high), decimals)
        return result

    def choice(self, values: pa.Array) -> pa.Array:
        return pc.take(values, self.ints(0, len(values)))

    def with_nulls(self, values: pa.Array, fraction: float) -> pa.Array:
        null = pa.scalar(None, values.type)
        return pc.if_else(pc.less(self.uniform(), fraction), null, values)

    def sequence(self, start: int) -> pa.Int64Array:
        ones = pa.repeat(pa.scalar(1, pa.int64()), self._rows)
        result: pa.Int64Array = pc.add(pc.cumulative_sum(ones), start - 1)
        return result

    def timestamps(self, start: int) -> pa.TimestampArray:
        """Increasing seconds from ``_EPOCH + start``, 0 to 2 s apart."""
        steps = pc.cumulative_sum(self.ints(0, 3))
        seconds = pc.add(steps, _EPOCH + start)
        result: pa.TimestampArray = pc.cast(seconds, pa.timestamp("s"))
        return result


def events(seed: int, rows: int, first_id: int) -> pa.Table:
    """Web events: timestamps, ints, floats, strings, a nested ``device`` object, some nulls."""
    d = Draw(seed, rows)
    device = pa.StructArray.from_arrays(
        [d.choice(_OSES), d.with_nulls(d.ints(1, 40), 0.05), d.floats(1.0, 3)],
        names=["os", "version", "ratio"],
        mask=pc.less(d.uniform(), 0.03),
    )
    return pa.table(
        {
            "event_id": d.sequence(first_id),
            "ts": d.timestamps(first_id),
            "user_id": d.with_nulls(d.ints(1, 100_000), 0.05),
            "kind": d.choice(_KINDS),
            "page": d.choice(_PAGES),
            "amount": d.with_nulls(d.floats(1000.0), 0.2),
            "latency_ms": d.ints(1, 5000),
            "message": d.with_nulls(d.choice(_MESSAGES), 0.1),
            "device": device,
        }
    )


# Fields that drifted events may have besides those of ``events`` (string values, some null).
NEW_FIELDS = {"coupon": (_COUPONS, 0.5), "referrer": (_REFERRERS, 0.3)}
DRIFTING_INT = "latency_ms"


def drifted(
    table: pa.Table, seed: int, *, floats_from: int | None, new_fields: tuple[str, ...]
) -> pa.Table:
    """``events`` with drift: from row ``floats_from`` on (0-based; None: no row), latency_ms
    is a float with a fraction (its value plus 0.5; the rows before keep whole numbers, which
    JSON writes as integers); each of ``new_fields`` (of ``NEW_FIELDS``) is added as a last
    column, in every row (some null)."""
    d = Draw(seed, table.num_rows)
    if floats_from is not None:
        index = table.schema.get_field_index(DRIFTING_INT)
        whole = pc.cast(table.column(index), pa.float64())
        later = pc.greater_equal(d.sequence(0), floats_from)
        table = table.set_column(index, DRIFTING_INT, pc.if_else(later, pc.add(whole, 0.5), whole))
    for name in new_fields:
        values, nulls = NEW_FIELDS[name]
        table = table.append_column(name, d.with_nulls(d.choice(values), nulls))
    return table


def mixed(seed: int, rows: int, first_id: int) -> pa.Table:
    """Eight flat columns: int ids, timestamps, nullable ints and floats, strings, booleans."""
    d = Draw(seed, rows)
    return pa.table(
        {
            "id": d.sequence(first_id),
            "ts": d.timestamps(first_id),
            "user_id": d.with_nulls(d.ints(1, 1_000_000), 0.05),
            "price": d.with_nulls(d.floats(10_000.0), 0.02),
            "quantity": d.ints(1, 100),
            "category": d.choice(_CATEGORIES),
            "note": d.with_nulls(d.choice(_NOTES), 0.05),
            "active": pc.less(d.uniform(), 0.7),
        }
    )


def jsonl_text(table: pa.Table) -> bytes:
    """The rows as JSON lines, one object per row with every key (null values as ``null``).

    Built with string kernels: the generated strings hold no quote, backslash or control byte,
    so they need no escaping.
    """
    parts: list[pa.Array | str] = []
    for i, name in enumerate(table.column_names):
        parts += [("{" if i == 0 else ",") + f'"{name}":', _json_values(table.column(name))]
    parts.append("}")
    lines = pc.binary_join_element_wise(*parts, "")
    # One list of all lines, joined by a kernel into a single string.
    joined = pc.binary_join(pa.ListArray.from_arrays([0, len(lines)], lines), "\n")
    text: str = joined[0].as_py()
    return (text + "\n").encode()


def _json_values(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    values = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    type_ = values.type
    if pa.types.is_struct(type_):
        parts: list[pa.Array | str] = []
        for i in range(type_.num_fields):
            name = type_.field(i).name
            parts += [("{" if i == 0 else ",") + f'"{name}":', _json_values(values.field(i))]
        parts.append("}")
        built = pc.binary_join_element_wise(*parts, "")
        return pc.if_else(pc.is_valid(values), built, "null")
    if pa.types.is_timestamp(type_):
        text = pc.strftime(values, format="%Y-%m-%dT%H:%M:%SZ")
        quoted = pc.binary_join_element_wise('"', text, '"', "")
    elif pa.types.is_string(type_):
        quoted = pc.binary_join_element_wise('"', values, '"', "")
    else:
        quoted = pc.cast(values, pa.string())
    return pc.fill_null(quoted, "null")
