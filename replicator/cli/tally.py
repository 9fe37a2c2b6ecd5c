"""Counting a run's events for the views: totals, files in work, recent errors, rates.

Not thread-safe by itself: each view calls it under its own lock.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from replicator.model import FileInfo
from replicator.runner.events import (
    ChunkWritten,
    Event,
    FileCompleted,
    FileFailed,
    FileFinished,
    FileRestarted,
    FilesDiscovered,
    FileStarted,
    FileVanished,
    Notice,
    RunStarted,
    RunStatistics,
    SchemaChanged,
    StatisticsProvider,
)
from replicator.storage import redact as redact_secrets

_RECENT = 5
_RATE_WINDOW = 3.0  # seconds the "current" rates average over


def redact(url: str) -> str:
    """``url`` as shown: credentials removed (``storage.redact``), and without its query string
    (presigned URLs carry their signature there) or a userinfo password."""
    parts = urlsplit(redact_secrets(url))
    if not parts.scheme or not parts.netloc:
        return url.split("?", 1)[0]
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    if parts.username:
        host = f"{parts.username}@{host}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


@dataclass(slots=True)
class FileWork:
    """A file being read: how far, and since when."""

    file: FileInfo
    started: float
    position: int = 0
    rows: int = 0


@dataclass(slots=True)
class Discovery:
    """The last discovery pass (wall-clock times)."""

    via: str
    at: float
    next_at: float | None


@dataclass
class Tally:
    """What the events said so far."""

    started: float = field(default_factory=time.monotonic)
    mode: str = ""
    source: str = ""
    dest: str = ""
    pipeline: str = ""
    statistics: StatisticsProvider | None = None
    discovered: int = 0
    discovered_bytes: int = 0
    skipped: int = 0
    completed: int = 0
    failed: int = 0
    vanished: int = 0
    rows: int = 0  # acknowledged by the sink, in files done or not
    completed_rows: int = 0  # in committed files
    bytes_read: int = 0
    bad_rows: int = 0
    in_work: dict[str, FileWork] = field(default_factory=dict)
    committing: dict[str, FileWork] = field(default_factory=dict)  # read, not yet recorded
    recent: deque[tuple[float, str, str]] = field(default_factory=lambda: deque(maxlen=_RECENT))
    discovery: Discovery | None = None
    schema_version: int | None = None
    schema_changes: int = 0
    rereads: int = 0  # files read again because the schema changed

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    @property
    def done(self) -> int:
        return self.completed + self.failed + self.vanished

    @property
    def waiting(self) -> int:
        """Discovered files neither done nor started."""
        return max(0, self.discovered - self.done - len(self.in_work) - len(self.committing))

    def note(self, level: str, line: str) -> None:
        # Reasons quote URLs and server messages: never show a credential in them.
        self.recent.append((time.time(), level, redact_secrets(line)))

    def poll_statistics(self) -> RunStatistics | None:
        return self.statistics() if self.statistics is not None else None

    def _settled(self, key: str) -> FileWork | None:
        work = self.in_work.pop(key, None)
        return self.committing.pop(key, None) or work

    def count(self, event: Event) -> None:
        match event:
            case ChunkWritten():
                self.rows += event.rows
                work = self.in_work.get(event.file.key)
                if work is not None:
                    work.rows += event.rows
                    if event.position is not None:
                        self.bytes_read += max(0, event.position - work.position)
                        work.position = event.position
            case FileStarted():
                self.committing.pop(event.file.key, None)  # a redo
                self.in_work[event.file.key] = FileWork(event.file, time.monotonic())
            case FileFinished():
                work = self.in_work.pop(event.file.key, None)
                if work is not None:
                    self.committing[event.file.key] = work
            case FileCompleted():
                self.completed += 1
                self.completed_rows += event.rows
                self.bad_rows += event.bad_rows
                # Formats that report no byte position count the whole file at its end.
                work = self._settled(event.file.key)
                self.bytes_read += max(0, event.file.size - (work.position if work else 0))
            case FileFailed():
                self.failed += 1
                self._settled(event.file.key)
                self.note("error", f"failed {event.file.key}: {event.error}")
            case FileVanished():
                self.vanished += 1
                self._settled(event.file.key)
                self.note("warning", f"vanished before it was read: {event.file.key}")
            case Notice():
                self.note(event.level, event.message)
            case SchemaChanged():
                self.schema_version = event.version
                what = "; ".join(event.changes)
                if event.cause is not None:
                    self.schema_changes += 1
                    self.note("info", f"schema v{event.version}: {what} (needed by {event.cause})")
                else:
                    self.note("info", f"schema v{event.version}: {what}")
            case FileRestarted():
                self.rereads += 1
            case FilesDiscovered():
                self.discovered += event.pending
                self.discovered_bytes += event.pending_bytes
                self.skipped += event.skipped
                now = time.time()
                nxt = now + event.next_in if event.next_in is not None else None
                self.discovery = Discovery(event.via, now, nxt)
            case RunStarted():
                self.mode, self.pipeline = event.mode, event.pipeline
                self.source, self.dest = redact(event.source), redact(event.dest)
                self.statistics = event.statistics
            case _:
                pass


class RateMeter:
    """Current rates: the change of a counter over the last few seconds of samples."""

    def __init__(self, window: float = _RATE_WINDOW) -> None:
        self.window = window
        self._samples: deque[tuple[float, int, int]] = deque()

    def sample(self, rows: int, nbytes: int, now: float | None = None) -> tuple[float, float]:
        """Record the counters now; return (rows/s, bytes/s) over the window."""
        now = time.monotonic() if now is None else now
        self._samples.append((now, rows, nbytes))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window:
            self._samples.popleft()
        t0, rows0, bytes0 = self._samples[0]
        span = now - t0
        if span <= 0:
            return 0.0, 0.0
        return (rows - rows0) / span, (nbytes - bytes0) / span
