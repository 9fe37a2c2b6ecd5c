"""Typed events the runner emits; progress views, logs and metrics subscribe to them.

The core never imports rich or typer: it only calls an ``EventHandler``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from replicator.model import FileInfo


@dataclass(frozen=True, slots=True)
class RunStarted:
    mode: str
    source: str
    dest: str
    pipeline: str
    state_path: str


@dataclass(frozen=True, slots=True)
class FilesDiscovered:
    """A discovery pass found ``pending`` files to do and ``skipped`` already done."""

    pending: int
    pending_bytes: int
    skipped: int


@dataclass(frozen=True, slots=True)
class FileStarted:
    file: FileInfo


@dataclass(frozen=True, slots=True)
class ChunkWritten:
    """The sink holds ``rows`` more rows of ``file``; ``position`` bytes of it are read if known."""

    file: FileInfo
    rows: int
    nbytes: int
    position: int | None


@dataclass(frozen=True, slots=True)
class FileCompleted:
    file: FileInfo
    rows: int
    outputs: tuple[str, ...]
    seconds: float


@dataclass(frozen=True, slots=True)
class FileFailed:
    file: FileInfo
    error: str


@dataclass(frozen=True, slots=True)
class FileVanished:
    """The file was deleted between listing and reading; it is skipped."""

    file: FileInfo


@dataclass(frozen=True, slots=True)
class Notice:
    level: str
    message: str


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What a run did. ``failures`` pairs each failed key with its reason."""

    pipeline: str
    files_completed: int = 0
    files_skipped: int = 0
    files_failed: int = 0
    files_vanished: int = 0
    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    failures: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.files_failed == 0 and not self.interrupted


@dataclass(frozen=True, slots=True)
class RunFinished:
    summary: RunSummary


Event = (
    RunStarted
    | FilesDiscovered
    | FileStarted
    | ChunkWritten
    | FileCompleted
    | FileFailed
    | FileVanished
    | Notice
    | RunFinished
)
EventHandler = Callable[[Event], None]


def ignore(_event: Event) -> None:
    """An ``EventHandler`` that drops everything."""
