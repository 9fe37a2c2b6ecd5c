"""Values that travel through the pipeline: files found by discovery and the chunks read from them."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One source object, as discovery saw it.

    ``path`` is what the filesystem opens (``bucket/prefix/a.csv`` for s3fs, an absolute path
    locally); ``key`` is the path relative to the source root and names the file everywhere else
    (state, output paths, the ``_file`` column).
    """

    path: str
    key: str
    size: int
    etag: str | None = None
    mtime: float | None = None

    @property
    def version(self) -> str:
        """What identifies this version of the object: the etag, or size+mtime where there is none."""
        if self.etag:
            return self.etag
        return f"size={self.size};mtime={self.mtime}"


@dataclass(frozen=True, slots=True, order=True)
class Offset:
    """A position in a source file, *after* some chunk.

    ``rows`` counts the rows consumed so far; ``byte`` is the position in the stored (possibly
    compressed) stream where the format allows resuming there, else ``None``.
    """

    rows: int = 0
    byte: int | None = None


@dataclass(frozen=True, slots=True)
class Chunk:
    """A unit of work: some rows of one file and where they end in it.

    ``size`` is the number of bytes the chunk holds in memory, which is what in-flight budgets
    count. ``completed`` is true on the file's last chunk, which may hold no rows.
    """

    file: FileInfo
    offset: Offset
    items: pa.RecordBatch
    completed: bool = False
    size: int = field(default=-1)
    # Bytes of the stored object read so far, for progress only: readers read ahead, so this is
    # near the chunk's end but no place to resume from (that is ``offset.byte``).
    read_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.size < 0:
            object.__setattr__(self, "size", self.items.nbytes)

    @property
    def rows(self) -> int:
        return int(self.items.num_rows)
