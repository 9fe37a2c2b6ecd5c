"""What a person sees while a run works: a live rich view on a terminal, log lines elsewhere.

Both are ``EventHandler``s fed by the runner's typed events from any thread.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.table import Table
from rich.text import Text

from replicator.runner.events import (
    ChunkWritten,
    Event,
    FileCompleted,
    FileFailed,
    FilesDiscovered,
    FileStarted,
    FileVanished,
    Notice,
    RunStarted,
    RunSummary,
)

_MAX_FILE_BARS = 8


@dataclass
class Totals:
    """Counters the views show; updated under the view's lock."""

    started: float = field(default_factory=time.monotonic)
    mode: str = ""
    source: str = ""
    dest: str = ""
    pipeline: str = ""
    pending: int = 0
    pending_bytes: int = 0
    skipped: int = 0
    completed: int = 0
    failed: int = 0
    rows: int = 0
    bytes_read: int = 0
    chunk_bytes: int = 0
    recent: list[str] = field(default_factory=list)

    def note(self, line: str) -> None:
        self.recent = [*self.recent[-4:], line]

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)


class _Counting:
    """Shared event bookkeeping of both views."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.totals = Totals()
        self._positions: dict[str, int] = {}

    def count(self, event: Event) -> None:
        t = self.totals
        match event:
            case RunStarted():
                t.mode, t.source, t.dest, t.pipeline = (
                    event.mode,
                    event.source,
                    event.dest,
                    event.pipeline,
                )
            case FilesDiscovered():
                t.pending += event.pending
                t.pending_bytes += event.pending_bytes
                t.skipped += event.skipped
            case ChunkWritten():
                t.rows += event.rows
                t.chunk_bytes += event.nbytes
                if event.position is not None:
                    previous = self._positions.get(event.file.key, 0)
                    t.bytes_read += max(0, event.position - previous)
                    self._positions[event.file.key] = event.position
            case FileCompleted():
                t.completed += 1
                # Formats that report no byte position count the whole file at its end.
                seen = self._positions.pop(event.file.key, 0)
                t.bytes_read += max(0, event.file.size - seen)
            case FileFailed():
                t.failed += 1
                self._positions.pop(event.file.key, None)
                t.note(f"failed {event.file.key}: {event.error}")
            case FileVanished():
                t.pending = max(0, t.pending - 1)
                t.note(f"vanished before it was read: {event.file.key}")
            case Notice():
                t.note(f"{event.level}: {event.message}")
            case _:
                pass


class LiveView(_Counting):
    """A rich live view: totals, rates, and a bar per file in work. Redraws 4 times a second."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console
        self._files = Progress(
            TextColumn("[cyan]{task.description}", justify="left"),
            BarColumn(bar_width=30),
            TextColumn("{task.percentage:>5.1f}%"),
            TextColumn("[dim]{task.fields[rows]:,} rows"),
            console=console,
            expand=False,
        )
        self._tasks: dict[str, TaskID] = {}
        self._rows: dict[str, int] = {}
        self._live = Live(
            get_renderable=self._render, console=console, refresh_per_second=4, transient=True
        )

    def __enter__(self) -> LiveView:
        self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._live.__exit__(exc_type, exc, tb)

    def __call__(self, event: Event) -> None:
        with self.lock:
            self.count(event)
            match event:
                case FileStarted():
                    task = self._files.add_task(
                        _short(event.file.key), total=max(event.file.size, 1), rows=0
                    )
                    self._tasks[event.file.key] = task
                    # Newest first, capped: hide the oldest bars beyond the cap.
                    for key in list(self._tasks)[:-_MAX_FILE_BARS]:
                        self._files.update(self._tasks[key], visible=False)
                case ChunkWritten():
                    task_id = self._tasks.get(event.file.key)
                    if task_id is not None:
                        rows = self._rows.get(event.file.key, 0) + event.rows
                        self._rows[event.file.key] = rows
                        if event.position is not None:
                            self._files.update(task_id, completed=event.position, rows=rows)
                        else:
                            self._files.update(task_id, rows=rows)
                case FileCompleted() | FileFailed() | FileVanished():
                    task_id = self._tasks.pop(event.file.key, None)
                    self._rows.pop(event.file.key, None)
                    if task_id is not None:
                        self._files.remove_task(task_id)
                case _:
                    pass

    def _render(self) -> RenderableType:
        with self.lock:
            t = self.totals
            header = Text.assemble(
                (f"{t.mode} ", "bold"),
                (t.source, "green"),
                " → ",
                (t.dest, "green"),
                (f"  [{t.pipeline}]  {_duration(t.elapsed)}", "dim"),
            )
            done = t.completed + t.failed
            line = Text(
                f"files {t.completed:,} done / {t.failed:,} failed / {t.pending:,} to do"
                f" ({t.skipped:,} already done)   rows {t.rows:,}   "
                f"{t.rows / t.elapsed:,.0f} rows/s   {_mb(t.bytes_read) / t.elapsed:,.1f} MB/s"
            )
            bar = Progress(BarColumn(bar_width=50), TextColumn("{task.description}"))
            bar.add_task(f"{done:,}/{t.pending:,} files", total=max(t.pending, 1), completed=done)
            parts: list[RenderableType] = [header, line, bar]
            if self._tasks:
                parts.append(self._files)
            parts.extend(Text(r, style="yellow") for r in t.recent)
            return Group(*parts)


class LogView(_Counting):
    """Plain log lines: one every ``interval`` seconds and one per failure."""

    def __init__(self, stream: TextIO, interval: float = 5.0) -> None:
        super().__init__()
        self.stream = stream
        self.interval = interval
        self._last = time.monotonic()

    def __call__(self, event: Event) -> None:
        with self.lock:
            self.count(event)
            t = self.totals
            match event:
                case RunStarted():
                    self._emit(f"{t.mode} {t.source} -> {t.dest} (pipeline {t.pipeline})")
                case FilesDiscovered() if event.pending or event.skipped:
                    self._emit(
                        f"found {event.pending:,} files to replicate "
                        f"({_mb(event.pending_bytes):,.1f} MB), {event.skipped:,} already done"
                    )
                case FileFailed() | FileVanished() | Notice():
                    self._emit(t.recent[-1])
                case _:
                    now = time.monotonic()
                    if now - self._last >= self.interval:
                        self._last = now
                        self._emit(
                            f"{t.completed:,}/{t.pending:,} files, {t.failed:,} failed, "
                            f"{t.rows:,} rows, {t.rows / t.elapsed:,.0f} rows/s"
                        )

    def _emit(self, line: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self.stream.write(f"{stamp} {line}\n")
        self.stream.flush()


def render_summary(summary: RunSummary) -> RenderableType:
    """The table printed when a run ends."""
    table = Table(title="replicate: summary", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    secs = max(summary.seconds, 1e-9)
    table.add_row("pipeline", summary.pipeline)
    table.add_row("files completed", f"{summary.files_completed:,}")
    table.add_row("files skipped (already done)", f"{summary.files_skipped:,}")
    table.add_row("files failed", f"{summary.files_failed:,}")
    if summary.files_vanished:
        table.add_row("files vanished", f"{summary.files_vanished:,}")
    table.add_row("rows", f"{summary.rows:,}")
    table.add_row("bytes read", f"{summary.bytes:,}")
    table.add_row("seconds", f"{summary.seconds:,.2f}")
    table.add_row("rows/s", f"{summary.rows / secs:,.0f}")
    table.add_row("MB/s", f"{_mb(summary.bytes) / secs:,.1f}")
    if summary.interrupted:
        table.add_row("interrupted", "yes: rerun to finish")
    if not summary.failures:
        return table
    failures = Table(title="failed files", show_header=True, title_justify="left")
    failures.add_column("key")
    failures.add_column("reason", overflow="fold")
    for key, reason in summary.failures:
        failures.add_row(key, reason)
    return Group(table, failures)


def _short(key: str, width: int = 40) -> str:
    return key if len(key) <= width else "…" + key[-(width - 1) :]


def _mb(n: int) -> float:
    return n / 1e6


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{secs:02d}"
