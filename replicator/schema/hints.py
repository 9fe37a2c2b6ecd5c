"""Schema hints (``--schema-hints``): types the user fixes, for any format, nested fields too.

``id:int64, ts:timestamp[ms, tz=UTC], price:decimal128(12,2), payload.user.id:string``: the same
type names and messages as ``--csv-column-types`` (which stays as an alias). A dotted name is a
path into struct fields, unless a top-level column has that very name. A hinted column always
has the hinted type: inference does not change it, evolution never widens it, and a value that
does not fit it is rescued.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

from replicator.readers.csvtypes import ColumnTypes, resolve_type

Path = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Hint:
    path: Path
    type: pa.DataType

    @property
    def name(self) -> str:
        return ".".join(self.path)


def hints_from(types: ColumnTypes | None) -> tuple[Hint, ...]:
    """``Hint``s from checked ``(name, type name)`` pairs (``config``'s form of the setting)."""
    return tuple(
        Hint(tuple(name.split(".")), resolve_type(spec, column=name)) for name, spec in types or ()
    )


def apply_hints(schema: pa.Schema, hints: Iterable[Hint]) -> pa.Schema:
    """``schema`` with every hinted field set to its type, added (nullable) where missing."""
    for hint in hints:
        if hint.name in schema.names:
            path: Path = (hint.name,)
        else:
            path = hint.path
        schema = _set(schema, path, hint.type)
    return schema


def hinted_paths(schema: pa.Schema, hints: Iterable[Hint]) -> frozenset[Path]:
    """The field paths of ``schema`` the hints fix (a top-level name with a dot counts whole)."""
    return frozenset((h.name,) if h.name in schema.names else h.path for h in hints)


def _set(schema: pa.Schema, path: Path, dtype: pa.DataType) -> pa.Schema:
    fields = list(schema)
    fields = _set_in(fields, path, dtype)
    return pa.schema(fields, metadata=schema.metadata)


def _set_in(fields: list[pa.Field], path: Path, dtype: pa.DataType) -> list[pa.Field]:
    head, rest = path[0], path[1:]
    names = [f.name for f in fields]
    if head in names:
        index = names.index(head)
        field = fields[index]
    else:
        index = len(fields)
        field = pa.field(head, pa.struct([]) if rest else dtype)
        fields = [*fields, field]
    if rest:
        inner = list(field.type) if pa.types.is_struct(field.type) else []
        new_type: pa.DataType = pa.struct(_set_in(inner, rest, dtype))
    else:
        new_type = dtype
    fields[index] = pa.field(head, new_type, nullable=True)
    return fields
