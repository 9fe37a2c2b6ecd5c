"""The type a CSV column would have been inferred as, but for its values that are not UTF-8.

Arrow types a column ``binary`` when one value in the first block is not UTF-8, and every
value of it then comes out as bytes. Such values are bad rows instead; the column gets the type
Arrow infers from its other values, found by Arrow itself: they are written out as a one-column
CSV (every value quoted, so no value turns null that was not null: the null spellings were
already applied to the unquoted ones) and read back with inference.
"""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from replicator.readers.columns import row_numbers
from replicator.readers.isolate import TooManyMisfits, isolate


def infer_text_type(values: pa.Array, convert: pacsv.ConvertOptions) -> pa.DataType:
    """The type Arrow infers from ``values`` (binary, as read) left out those not UTF-8.

    ``convert`` holds the file's null rules. A column that is mostly not UTF-8 is text (its
    values then fail as such, and the file with them).
    """
    try:
        text, bad = isolate(values, lambda array: array.cast(pa.string()), pa.string())
    except TooManyMisfits:
        return pa.string()
    if bad:
        rows = row_numbers(0, len(values))
        text = text.filter(pc.invert(pc.is_in(rows, value_set=pa.array(bad, pa.int64()))))
    if text.null_count == len(text):
        return pa.string()  # nothing to infer from: text, as an empty column is
    buffer = io.BytesIO()
    pacsv.write_csv(pa.table({"v": text}), buffer, pacsv.WriteOptions(quoting_style="all_valid"))
    inferred = pacsv.read_csv(io.BytesIO(buffer.getvalue()), convert_options=convert)
    dtype: pa.DataType = inferred.schema.field("v").type
    return pa.string() if pa.types.is_null(dtype) else dtype
