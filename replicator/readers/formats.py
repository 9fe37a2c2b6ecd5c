"""Which format a file is in: the explicit setting, else the key's extension."""

from __future__ import annotations

import posixpath

from replicator.errors import ReadError
from replicator.readers.base import Format, ReaderOptions
from replicator.readers.compression import strip_compression_extension

EXTENSIONS: dict[str, Format] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "lines",
    ".log": "lines",
}


def infer_format(key: str) -> Format | None:
    """The format named by the key's extension, after any compression extension (``a.csv.gz``)."""
    name = posixpath.basename(strip_compression_extension(key))
    return EXTENSIONS.get(posixpath.splitext(name)[1].lower())


def resolve_format(key: str, options: ReaderOptions) -> Format:
    """``options.format`` if set, else the inferred format; ``ReadError`` when neither is known."""
    if options.format is not None:
        return options.format
    fmt = infer_format(key)
    if fmt is None:
        known = ", ".join(sorted(EXTENSIONS))
        raise ReadError(
            f"cannot infer the format of {key} from its extension (known: {known}); pass --format",
            key=key,
            rows=0,
        )
    return fmt
