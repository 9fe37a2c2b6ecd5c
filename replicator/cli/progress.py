"""What a person sees while a run works on a terminal: a live view redrawn a few times a second.

``LiveView`` is an ``EventHandler`` fed by the runner's typed events from any thread. Handling
an event only queues it; counting and drawing happen on the view's own thread, so the run's
threads never wait for the view. The view must cost the run next to nothing
(``tests/benchmarks/viewcost.py`` measures it): its thread draws at most 4 frames a second,
spaced so that drawing takes at most a quarter of a percent of one core, and each line is one
``Text``, progress bars included (``_bar``), since laying out tables of bars took more than half
of a frame's time. Without a terminal, ``LogView`` and ``JsonLogView`` (in
``replicator.cli.logs``) write log lines instead.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from replicator.cli.logs import LogView
from replicator.cli.tally import RateMeter, Tally
from replicator.runner.events import Event, RunStatistics, RunSummary

__all__ = ["LiveView", "LogView", "render_summary"]

_REFRESH_PER_SECOND = 4  # at most; fewer when frames are dear (see _DRAW_SHARE)
# Drawing may take this share of one core. On the benchmark's 2-core machine a frame costs 1 ms
# when idle and 3 ms in a busy run, whose view then draws about one frame a second; the wall time
# the frames cost a busy run can be up to twice their CPU time (threads contend for the GIL).
_DRAW_SHARE = 0.0025
_SLOWEST_REFRESH = 1.0  # seconds between frames, however dear
_MAX_FILE_BARS = 20
_MAX_PENDING = 10_000  # events queued for the drawing thread before the sender counts them
_FIXED_LINES = 8  # header, totals, pressure, discovery, margins: what the file bars must leave


class LiveView:
    """A rich live view: header, totals and rates, pressure, discovery, a bar per file in work
    (newest first, as many as fit), and the last few errors and warnings."""

    def __init__(self, console: Console, refresh_per_second: float = _REFRESH_PER_SECOND) -> None:
        self.console = console
        self.lock = threading.Lock()
        self.tally = Tally()
        self._pending: deque[Event] = deque()
        self._rates = RateMeter()
        self._interval = 1 / refresh_per_second
        # Frames are drawn by this view's own thread, not rich's: it spaces them by their cost.
        self._live = Live(
            get_renderable=self._render, console=console, auto_refresh=False, transient=True
        )
        self._stop = threading.Event()
        self._drawer = threading.Thread(target=self._draw, name="live-view", daemon=True)

    def __enter__(self) -> LiveView:
        self._live.__enter__()
        self._drawer.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._drawer.join()
        self._live.__exit__(exc_type, exc, tb)

    def _draw(self) -> None:
        wait = self._interval
        while not self._stop.wait(wait):
            self._count_pending()  # the events' cost does not depend on how often frames come
            started = time.thread_time()
            self._live.refresh()
            spent = time.thread_time() - started
            wait = min(max(self._interval, spent / _DRAW_SHARE), _SLOWEST_REFRESH)

    def __call__(self, event: Event) -> None:
        # The runner's threads only queue the event (a deque's append is atomic): counting is
        # the drawing thread's work, so they never wait for a frame to be drawn.
        self._pending.append(event)
        if len(self._pending) > _MAX_PENDING:  # nothing draws (output blocked): stay bounded
            self._count_pending()

    def _count_pending(self) -> None:
        with self.lock:
            for _ in range(len(self._pending)):
                self.tally.count(self._pending.popleft())

    def _render(self) -> RenderableType:
        self._count_pending()
        # Poll the runner outside the view's lock: it takes the runner's own locks.
        stats = self.tally.poll_statistics()
        with self.lock:
            t = self.tally
            parts: list[RenderableType] = [
                _header(t, self.console.size.width),
                *self._totals(t),
                _pressure(self.console, t, stats),
            ]
            if t.mode == "watch":
                parts.append(_discovery(t, stats))
            room = self.console.size.height - _FIXED_LINES - len(t.recent)
            parts.extend(_file_bars(self.console, t, max(1, min(room, _MAX_FILE_BARS))))
            parts.extend(_recent(t))
            return Group(*parts)

    def _totals(self, t: Tally) -> list[RenderableType]:
        rows_s, bytes_s = self._rates.sample(t.rows, t.bytes_read)
        files = Text.assemble(
            ("files ", "bold"),
            (f"{t.completed:,} done", "green"),
            " · ",
            (f"{t.failed:,} failed", "red" if t.failed else ""),
            f" · {len(t.in_work):,} in work",
            no_wrap=True,
            overflow="ellipsis",
        )
        if t.committing:
            files.append(f" · {len(t.committing):,} committing")
        files.append(f" · {t.waiting:,} waiting")
        if t.mode == "snapshot":
            files.append(f" (of {t.discovered:,})")
        if t.skipped:
            files.append(f" · {t.skipped:,} already done", style="dim")
        if t.vanished:
            files.append(f" · {t.vanished:,} vanished", style="yellow")
        if t.schema_changes or t.rereads:
            files.append(
                f" · schema v{t.schema_version}: {t.schema_changes:,} changes, "
                f"{t.rereads:,} files read again",
                style="cyan",
            )
        rows = Text.assemble(
            ("rows ", "bold"),
            f"{t.rows:,}  ",
            ("bytes ", "bold"),
            f"{_size(t.bytes_read)}  ",
            ("now ", "bold"),
            f"{rows_s:,.0f} rows/s {_size(bytes_s)}/s  ",
            ("avg ", "bold"),
            f"{t.rows / t.elapsed:,.0f} rows/s {_size(t.bytes_read / t.elapsed)}/s",
            no_wrap=True,
            overflow="ellipsis",
        )
        if t.bad_rows:
            rows.append(f"  bad rows {t.bad_rows:,} (dead-lettered)", style="yellow")
        parts: list[RenderableType] = [files, rows]
        if t.mode == "snapshot" and t.discovered:
            bar = _bar(self.console, t.discovered, t.done, 50)
            parts.append(_line(bar, f"{t.done:,}/{t.discovered:,} files"))
        return parts


def _bar(console: Console, total: int | None, completed: int, width: int) -> Text:
    """rich's progress bar (``total`` None: a pulse) as text, to go into a line of the view."""
    bar = ProgressBar(total=total, completed=completed, width=width)
    text = Text(no_wrap=True)
    for segment in console.render(bar, console.options.update(width=width)):
        text.append(segment.text, segment.style)
    text.align("left", width)  # without colours rich leaves out the bar's empty part
    return text


def _line(*cells: str | Text | tuple[str, str]) -> Text:
    """One line of cells a space apart, cut at the terminal's edge rather than wrapped."""
    line = Text(no_wrap=True, overflow="ellipsis")
    for i, cell in enumerate(cells):
        if i:
            line.append(" ")
        if isinstance(cell, tuple):
            line.append(*cell)
        else:
            line.append(cell)
    return line


def _header(t: Tally, width: int) -> Text:
    # One line whatever the width: long URLs lose their middle, not the line its layout.
    tail = f"  [{_short(t.pipeline, 30)}]  {_duration(t.elapsed)}"
    room = max(20, (width - len(t.mode) - len(tail) - 4) // 2)
    return Text.assemble(
        (f"{t.mode} ", "bold"),
        (_short(t.source, room), "green"),
        " → ",
        (_short(t.dest, room), "green"),
        (tail, "dim"),
        no_wrap=True,
        overflow="ellipsis",
    )


def _pressure(console: Console, t: Tally, stats: RunStatistics | None) -> Text:
    if stats is None:
        return _line(f"readers busy {len(t.in_work)}")
    cells: list[str | Text | tuple[str, str]] = []
    if stats.bytes_in_flight is not None and stats.inflight_limit:
        inflight = min(stats.bytes_in_flight, stats.inflight_limit)
        cells += [
            ("in flight", "bold"),
            _bar(console, stats.inflight_limit, inflight, 20),
            # In MiB: the unit the limit is usually given in (--inflight-limit 256MiB).
            f"{stats.bytes_in_flight / 2**20:,.1f} / {stats.inflight_limit / 2**20:,.0f} MiB",
        ]
    if stats.chunks_queued is not None:
        cells.append(f" chunks queued {stats.chunks_queued:,}")
    cells.append(f" readers busy {stats.readers_busy}/{stats.readers}")
    if stats.files_queued:
        cells.append(f" files queued {stats.files_queued:,}")
    return _line(*cells)


def _discovery(t: Tally, stats: RunStatistics | None) -> Text:
    now = time.time()
    line = Text()
    d = t.discovery
    if d is None:
        line.append("discovery: starting", style="dim")
    else:
        what = "received" if d.via == "sqs" else "polled"
        line.append(f"{what} {_ago(now - d.at)} ago")
        if d.next_at is not None:
            line.append(f" · next poll in {max(0.0, d.next_at - now):,.0f}s")
    if stats is not None and stats.lag_seconds is not None:
        line.append(" · lag ")
        line.append(_duration(stats.lag_seconds), style="bold")
    if stats is not None and stats.sqs_messages_in_flight is not None:
        line.append(f" · SQS messages in flight {stats.sqs_messages_in_flight:,}")
    return line


def _file_bars(console: Console, t: Tally, cap: int) -> list[RenderableType]:
    if not t.in_work:
        return []
    newest = list(reversed(t.in_work.values()))
    shown = newest[:cap]
    keys = [_short(work.file.key) for work in shown]
    width = max(len(k) for k in keys)  # the keys' column, as wide as the longest shown
    parts: list[RenderableType] = []
    for key, work in zip(keys, shown, strict=True):
        size = max(work.file.size, 1)
        if work.position:
            bar = _bar(console, size, min(work.position, size), 30)
            done = Text(f"{100 * work.position / size:5.1f}%")
        else:  # the format reports no byte position (CSV, say): a pulse, and its size
            bar, done = _bar(console, None, 0, 30), Text("    ?%", style="dim")
        rows = f"{work.rows:,} rows of {_size(work.file.size)}"
        parts.append(_line((key.ljust(width), "cyan"), bar, done, (rows, "dim")))
    if len(newest) > cap:
        parts.append(Text(f"… and {len(newest) - cap:,} more files in work", style="dim"))
    return parts


def _recent(t: Tally) -> list[RenderableType]:
    styles = {"error": "red", "warning": "yellow"}
    return [
        Text(
            f"{time.strftime('%H:%M:%S', time.localtime(at))} {level}: {line}",
            style=styles.get(level, "dim"),
            no_wrap=True,
            overflow="ellipsis",
        )
        for at, level, line in t.recent
    ]


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
    if summary.files_failed_before:
        table.add_row("files skipped (failed before)", f"{summary.files_failed_before:,}")
    if summary.files_vanished:
        table.add_row("files vanished", f"{summary.files_vanished:,}")
    if summary.files_unknown_format:
        table.add_row("files skipped (unknown format)", f"{summary.files_unknown_format:,}")
    if summary.files_too_new:
        table.add_row("files left (modified too recently)", f"{summary.files_too_new:,}")
    if summary.schema_changes or summary.files_reread:
        table.add_row("schema changes", f"{summary.schema_changes:,}")
        table.add_row("files read again (schema changed)", f"{summary.files_reread:,}")
    table.add_row("rows", f"{summary.rows:,}")
    table.add_row("bad rows (skipped or dead-lettered)", f"{summary.bad_rows:,}")
    table.add_row("bytes read", f"{summary.bytes:,}")
    table.add_row("seconds", f"{summary.seconds:,.2f}")
    table.add_row("rows/s", f"{summary.rows / secs:,.0f}")
    table.add_row("MB/s", f"{_mb(summary.bytes) / secs:,.1f}")
    if summary.interrupted:
        table.add_row("interrupted", "yes: rerun to finish")
    parts: list[RenderableType] = [table]
    for line in summary.warnings:
        parts.append(Text(f"warning: {line}", style="yellow"))
    if summary.failures:
        failures = Table(title="failed files", show_header=True, title_justify="left")
        failures.add_column("key")
        failures.add_column("reason", overflow="fold")
        for key, reason in summary.failures:
            failures.add_row(Text(key), Text(reason))
        parts.append(failures)
    return parts[0] if len(parts) == 1 else Group(*parts)


def _short(key: str, width: int = 40) -> str:
    return key if len(key) <= width else "…" + key[-(width - 1) :]


def _mb(n: int) -> float:
    return n / 1e6


def _size(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def _ago(seconds: float) -> str:
    return f"{seconds:,.0f}s" if seconds < 120 else _duration(seconds)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{secs:02d}"
