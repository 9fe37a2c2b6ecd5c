"""Log output when there is no terminal: compact text lines, or JSON lines for machines.

Both are ``EventHandler``s, callable from any thread. Per-chunk events are not logged one by
one (a big run writes millions); they are summed into a progress record every ``interval``.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from typing import Any, TextIO

import orjson

from replicator.cli.tally import RateMeter, Tally, redact
from replicator.model import FileInfo
from replicator.runner.events import (
    ChunkWritten,
    Event,
    EventHandler,
    FileFailed,
    FilesDiscovered,
    FileVanished,
    Notice,
    RunFinished,
    RunStarted,
    SchemaChanged,
)
from replicator.storage import redact as redact_secrets


def tee(*handlers: EventHandler) -> EventHandler:
    """One handler that passes every event to each of ``handlers`` in turn."""

    def handle(event: Event) -> None:
        for handler in handlers:
            handler(event)

    return handle


class _Periodic:
    """Counts events under a lock and says when a progress record is due."""

    def __init__(self, interval: float) -> None:
        self.lock = threading.Lock()
        self.tally = Tally()
        self.rates = RateMeter(window=max(interval, 1.0))
        self.interval = interval
        self._last = time.monotonic()

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last < self.interval:
            return False
        self._last = now
        return True


class LogView(_Periodic):
    """Plain log lines: the run's start, each discovery and problem, and progress every
    ``interval`` seconds."""

    def __init__(self, stream: TextIO, interval: float = 5.0) -> None:
        super().__init__(interval)
        self.stream = stream

    def __call__(self, event: Event) -> None:
        with self.lock:
            t = self.tally
            t.count(event)
            match event:
                case RunStarted():
                    self._emit(f"{t.mode} {t.source} -> {t.dest} (pipeline {t.pipeline})")
                case FilesDiscovered() if event.pending or event.skipped:
                    self._emit(
                        f"found {event.pending:,} files to replicate "
                        f"({event.pending_bytes / 1e6:,.1f} MB), {event.skipped:,} already done"
                    )
                case FileFailed() | FileVanished() | Notice() | SchemaChanged():
                    _, level, line = t.recent[-1]
                    self._emit(f"{level}: {line}")
                case RunFinished():
                    self._emit(self._progress())
                case _ if self.due():
                    self._emit(self._progress())
                case _:
                    pass

    def _progress(self) -> str:
        t = self.tally
        rows_s, bytes_s = self.rates.sample(t.rows, t.bytes_read)
        committing = f"{len(t.committing):,} committing, " if t.committing else ""
        line = (
            f"files {t.completed:,} done, {t.failed:,} failed, {len(t.in_work):,} in work, "
            f"{committing}{t.waiting:,} waiting; {t.rows:,} rows, {t.bytes_read / 1e6:,.1f} MB; "
            f"{rows_s:,.0f} rows/s, {bytes_s / 1e6:,.1f} MB/s now"
        )
        if t.bad_rows:
            line += f"; {t.bad_rows:,} bad rows"
        stats = t.poll_statistics()
        if stats is not None and stats.bytes_in_flight is not None:
            line += f"; {stats.bytes_in_flight / 1e6:,.1f} MB in flight"
        if stats is not None and stats.lag_seconds is not None:
            line += f"; lag {stats.lag_seconds:,.0f}s"
        return line

    def _emit(self, line: str) -> None:
        self.stream.write(f"{time.strftime('%H:%M:%S')} {line}\n")
        self.stream.flush()


class JsonLogView(_Periodic):
    """One JSON object per line: ``{"ts": ..., "event": "file_completed", ...fields}``.

    Every event but ``ChunkWritten`` is written as it comes; chunks add up into a
    ``progress`` record every ``interval`` seconds (totals, current rates, pressure).
    """

    def __init__(self, stream: TextIO, interval: float = 5.0) -> None:
        super().__init__(interval)
        self.stream = stream

    def __call__(self, event: Event) -> None:
        with self.lock:
            self.tally.count(event)
            if not isinstance(event, ChunkWritten):
                self._emit(event_name(event), event_fields(event))
            if isinstance(event, RunFinished) or self.due():
                self._emit("progress", self._progress())

    def _progress(self) -> dict[str, Any]:
        t = self.tally
        rows_s, bytes_s = self.rates.sample(t.rows, t.bytes_read)
        record: dict[str, Any] = {
            "elapsed": round(t.elapsed, 3),
            "files_completed": t.completed,
            "files_failed": t.failed,
            "files_vanished": t.vanished,
            "files_in_work": len(t.in_work),
            "files_waiting": t.waiting,
            "files_skipped": t.skipped,
            "rows": t.rows,
            "bytes_read": t.bytes_read,
            "bad_rows": t.bad_rows,
            "rows_per_second": round(rows_s, 1),
            "bytes_per_second": round(bytes_s, 1),
        }
        stats = t.poll_statistics()
        if stats is not None:
            record.update(dataclasses.asdict(stats))
        return record

    def _emit(self, name: str, fields: dict[str, Any]) -> None:
        record = {"ts": round(time.time(), 3), "event": name, **fields}
        self.stream.write(orjson.dumps(record, default=str).decode() + "\n")
        self.stream.flush()


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def event_name(event: Event) -> str:
    """``FileCompleted`` -> ``file_completed``."""
    return _CAMEL.sub("_", type(event).__name__).lower()


def event_fields(event: Event) -> dict[str, Any]:
    """An event's fields as JSON-ready values: files by key, URLs without secrets."""
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        if callable(value):
            continue  # a statistics provider: polled for progress records instead
        fields[f.name] = _plain(value)
    # Reasons quote URLs and server messages; keys are left alone (``key=`` is a common
    # partition name that a credential filter would mangle).
    if isinstance(event, RunStarted):
        fields["source"], fields["dest"] = redact(event.source), redact(event.dest)
    for name in ("error", "message"):
        if isinstance(fields.get(name), str):
            fields[name] = redact_secrets(fields[name])
    if isinstance(event, RunFinished):
        failures = event.summary.failures
        fields["summary"]["failures"] = [[key, redact_secrets(why)] for key, why in failures]
    return fields


def _plain(value: Any) -> Any:
    if isinstance(value, FileInfo):
        return {"key": value.key, "size": value.size, "etag": value.etag, "mtime": value.mtime}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value
