"""The checkpoint store contract and the record it keeps per file."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from replicator.model import FileInfo

Status = Literal["completed", "failed", "in_progress"]


@dataclass(frozen=True, slots=True)
class FileRecord:
    """The state of one source file in one pipeline."""

    key: str
    etag: str | None
    size: int
    mtime: float | None
    status: Status
    rows: int = 0
    outputs: tuple[str, ...] = ()
    error: str | None = None
    updated_at: float = 0.0
    attempts: int = 1

    @property
    def version(self) -> str:
        return FileInfo(
            path="", key=self.key, size=self.size, etag=self.etag, mtime=self.mtime
        ).version

    def matches(self, file: FileInfo) -> bool:
        """True when ``file`` is the same object version this record describes."""
        return self.key == file.key and self.version == file.version


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    """One version of a pipeline's schema: the Arrow schema (IPC bytes), what changed from the
    version before, and which file (or what) caused it."""

    version: int
    created_at: float
    schema: bytes
    changes: tuple[str, ...] = ()
    cause: str | None = None


class CheckpointStore(Protocol):
    """Durable per-pipeline state. Bound to one pipeline name when opened; thread-safe."""

    pipeline: str

    def get(self, key: str) -> FileRecord | None:
        """The record for ``key``, or None."""

    def get_many(self, keys: Sequence[str]) -> dict[str, FileRecord]:
        """Records for those of ``keys`` that have one."""

    def record_completed(self, records: Sequence[FileRecord]) -> None:
        """Record files as completed, all in one transaction. Call only after the sink committed."""

    def record_started(self, record: FileRecord) -> None:
        """Record a file as in progress (being replicated, not done)."""

    def record_failed(self, record: FileRecord) -> None:
        """Record a file as failed (never overwrites a completed record of the same version)."""

    def list(self, status: Status | None = None) -> Iterator[FileRecord]:
        """Records of this pipeline, by key."""

    def forget(self, key: str) -> bool:
        """Remove ``key``'s record so it is replicated again. True if there was one."""

    def reset(self, values: Mapping[str, str] | None = None) -> int:
        """Remove every record and named value of this pipeline, then store ``values``, in one
        transaction. Returns how many records were removed."""

    def compact_completed(self, *, before_mtime: float) -> int:
        """Drop completed records of files modified before ``before_mtime``; failures stay."""

    def schema_versions(self, *, latest_only: bool = False) -> tuple[SchemaVersion, ...]:
        """The pipeline schema's versions, oldest first (only the newest with ``latest_only``)."""

    def add_schema_version(self, version: SchemaVersion) -> bool:
        """Store a new version; False when its number is taken already."""

    def get_value(self, name: str) -> str | None:
        """A named value of this pipeline (discovery watermarks and the like)."""

    def set_value(self, name: str, value: str) -> None:
        """Store a named value of this pipeline."""

    def guard(self, name: str, value: str, message: str) -> None:
        """Make every later write check that the named value is still ``value`` (else raise
        ``StateConflict(message)``, writing nothing)."""

    def close(self) -> None:
        """Flush and release the store."""
