"""Typed events the runner emits; progress views, logs and metrics subscribe to them.

The core never imports rich or typer: it only calls an ``EventHandler``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from replicator.model import FileInfo


@dataclass(frozen=True, slots=True)
class RunStatistics:
    """The pressure inside a run at one moment; views poll it when they redraw.

    Fields a mode does not have are None: a snapshot has no queue pusher, a poll no SQS queue.
    Times are seconds since the epoch.
    """

    readers: int
    readers_busy: int
    files_queued: int = 0
    bytes_in_flight: int | None = None
    inflight_limit: int | None = None
    chunks_queued: int | None = None
    last_poll: float | None = None
    next_poll: float | None = None
    lag_seconds: float | None = None
    sqs_messages_in_flight: int | None = None


StatisticsProvider = Callable[[], RunStatistics]


@dataclass(frozen=True, slots=True)
class RunStarted:
    """A run begins. ``statistics``, when given, is cheap, thread-safe and never blocks."""

    mode: str
    source: str
    dest: str
    pipeline: str
    state_path: str
    statistics: StatisticsProvider | None = None


@dataclass(frozen=True, slots=True)
class FilesDiscovered:
    """A discovery pass found ``pending`` files to do and ``skipped`` already done.

    ``via`` says how: ``list`` (a snapshot's one listing), ``poll`` (a watch listing, the next
    one due in ``next_in`` seconds) or ``sqs`` (one receive from the queue).
    """

    pending: int
    pending_bytes: int
    skipped: int
    via: str = "list"
    next_in: float | None = None


@dataclass(frozen=True, slots=True)
class FileStarted:
    file: FileInfo


@dataclass(frozen=True, slots=True)
class FileFinished:
    """``file`` is read and written in full; its output waits for its batch to be made durable
    and recorded (then ``FileCompleted``, or ``FileFailed``)."""

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
    bad_rows: int = 0  # rows that could not be parsed (skipped or dead-lettered)


@dataclass(frozen=True, slots=True)
class FileFailed:
    """``kind`` names the error class, for metrics; ``error`` is the one-line reason."""

    file: FileInfo
    error: str
    kind: str = "error"


@dataclass(frozen=True, slots=True)
class FileVanished:
    """The file was deleted between listing and reading; it is skipped."""

    file: FileInfo


@dataclass(frozen=True, slots=True)
class SchemaChanged:
    """The pipeline schema is at ``version`` now: ``changes`` made it, ``cause`` (a file's key,
    or None) needed it. Also sent once at the start, with the version the run starts from."""

    version: int
    changes: tuple[str, ...]
    cause: str | None = None


@dataclass(frozen=True, slots=True)
class FileRestarted:
    """``file`` is read again from its start (its partial output dropped), for ``reason``."""

    file: FileInfo
    reason: str


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
    files_failed_before: int = 0  # skipped: failed at this version before (see --retry-failed)
    files_unknown_format: int = 0  # skipped: no reader for their extension (see --format)
    files_too_new: int = 0  # left for the next run: modified within --min-age
    rows: int = 0
    bad_rows: int = 0
    bytes: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    schema_changes: int = 0  # new versions of the pipeline schema in this run
    files_reread: int = 0  # times a file was read again because the schema changed
    failures: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    # What the user should hear even when the run went well (files left out, and why).
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        # A file skipped because it failed before is still not replicated.
        return self.files_failed == 0 and self.files_failed_before == 0 and not self.interrupted


@dataclass(frozen=True, slots=True)
class RunFinished:
    summary: RunSummary


Event = (
    RunStarted
    | FilesDiscovered
    | FileStarted
    | FileFinished
    | ChunkWritten
    | FileCompleted
    | FileFailed
    | FileVanished
    | SchemaChanged
    | FileRestarted
    | Notice
    | RunFinished
)
EventHandler = Callable[[Event], None]


def ignore(_event: Event) -> None:
    """An ``EventHandler`` that drops everything."""
