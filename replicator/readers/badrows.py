"""Rows a parser could not take, handed to the caller instead of failing the whole file.

A tolerant parser (csv, tsv and jsonl have one) reports each bad row to an ``OnBadRow`` callback
and goes on with the rows after it. The callback only records; it must not do I/O (it may run
inside Arrow's parser), so whoever passed it writes the rows out between chunks.

Row numbering: ``_row`` counts the rows *written*, so bad rows take no ``_row`` number; a bad
row is identified by its 1-based line number (and byte offset, where known) in the file's
decompressed text, or, where the parser cannot know the line (a CSV value that does not fit its
column), by its 1-based index among the file's data rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BadRow:
    """One unparsable row: why, its text as stored, and where it starts (when known).

    ``raw`` is bytes when the parser saw bytes (which may not be valid UTF-8), else text.
    ``line`` is 1-based and counts physical lines (a header too); ``byte`` is the offset of the
    row's first byte in the decompressed text. ``row`` is the 1-based index among the data rows
    the parser read (the header and rows already reported by line not counted), for bad rows
    whose line is not known.
    """

    reason: str
    raw: str | bytes
    line: int | None = None
    byte: int | None = None
    row: int | None = None


OnBadRow = Callable[[BadRow], None]
