"""The progress output as a user sees it: the live view in a real pseudo-terminal, text log lines
and ``--log-format json`` without one."""

from __future__ import annotations

import fcntl
import io
import os
import re
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

import orjson
import pytest
from rich.console import Console, RenderableType

from replicator.cli import progress
from replicator.cli.logs import JsonLogView, LogView
from replicator.cli.progress import LiveView
from replicator.cli.tally import redact
from replicator.model import FileInfo
from replicator.runner.events import (
    ChunkWritten,
    Event,
    FileCompleted,
    FileFailed,
    FilesDiscovered,
    FileStarted,
    RunFinished,
    RunStarted,
    RunStatistics,
    RunSummary,
)
from tests.cli import replicate_cmd, run_cli
from tests.datasets import csv_bytes, csv_rows, local_put, make_files

pytestmark = pytest.mark.slow

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def _plain(raw: bytes) -> str:
    return _ANSI.sub("", raw.decode("utf-8", errors="replace"))


def _run_in_pty(args: list[str], timeout: float = 60) -> tuple[int, list[tuple[float, str]]]:
    """Run the CLI on a 120x40 pseudo-terminal; return its exit code and the output read so far
    at each read (time, text without escape codes), to see what the screen showed mid-run."""
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM", "COLUMNS", "LINES")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(
        replicate_cmd(*args), stdin=follower, stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    raw = b""
    frames: list[tuple[float, str]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.1)
            if ready:
                try:
                    data = os.read(leader, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                raw += data
                frames.append((time.monotonic(), _plain(raw)))
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)
    return code, frames


def test_live_view_shows_totals_and_file_bars_then_the_summary(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "out"
    put = local_put(src)
    # Many small chunks, one file at a time: a run of a few seconds with files in work throughout.
    for i in range(12):
        put(f"f{i:02d}.csv", csv_bytes(csv_rows(i, 20_000)))
    code, frames = _run_in_pty(
        [
            "snapshot",
            str(src),
            str(dest),
            "--state",
            str(tmp_path / "state.db"),
            "--concurrency",
            "1",
            "--chunk-size",
            "1KiB",
        ]
    )
    final = frames[-1][1]
    assert code == 0, final[-3000:]
    # Mid-run: the header, totals with rates, the files bar and one bar per file in work.
    mid = [text for _, text in frames if "replicate: summary" not in text]
    assert mid, "the summary came before any live frame"
    seen = mid[-1]  # everything the terminal got before the summary
    assert re.search(r"snapshot …\S*/src → …\S*/out", seen)
    # Files read in full wait as "committing" until their batch is durable and recorded.
    assert re.search(
        r"files \d+ done · 0 failed · 1 in work( · \d+ committing)? · \d+ waiting \(of 12\)",
        seen,
    )
    assert re.search(r"rows [\d,]+ +bytes [\d.]+ MB +now [\d,]+ rows/s", seen)
    assert re.search(r"\d+/12 files", seen)
    assert re.search(r"readers busy 1/1", seen)
    # A file bar shows how much of the file is read, and its rows so far.
    assert re.search(r"f\d\d\.csv .* \d+\.\d% +[\d,]+ rows of 0\.\d MB", seen), seen[-2000:]
    # Counters move between redraws.
    done_counts = {int(m) for m in re.findall(r"files (\d+) done", seen)}
    assert len(done_counts) > 1
    # At the end: the summary table with every file and row.
    assert "replicate: summary" in final
    assert re.search(r"files completed\W+12\b", final)
    assert re.search(r"rows\W+240,000\b", final)


def test_log_lines_without_a_terminal(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_files(local_put(src), 4, 50)
    result = run_cli(
        ["snapshot", str(src), str(tmp_path / "out"), "--state", str(tmp_path / "s.db")]
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert re.fullmatch(r"\d\d:\d\d:\d\d snapshot .* -> .* \(pipeline .+\)", lines[0])
    assert any("found 4 files to replicate" in line for line in lines)
    assert re.search(r"files 4 done, 0 failed, 0 in work, 0 waiting; 20[0-9] rows", lines[-1])
    assert "files completed" in result.stdout


def test_json_log_format_parses_line_by_line(tmp_path: Path) -> None:
    src = tmp_path / "src"
    expected = make_files(local_put(src), 5, 40)
    (src / "bad.parquet").write_bytes(b"not parquet at all")
    result = run_cli(
        [
            "snapshot",
            str(src),
            str(tmp_path / "out"),
            "--state",
            str(tmp_path / "s.db"),
            "--log-format",
            "json",
        ]
    )
    assert result.returncode == 1, result.stderr
    records = [orjson.loads(line) for line in result.stdout.splitlines()]
    names = [r["event"] for r in records]
    assert names[0] == "run_started"
    assert names.count("file_started") == 6
    assert names.count("file_completed") == 5
    assert names.count("file_failed") == 1
    assert "chunk_written" not in names  # summed into progress records
    assert all(isinstance(r["ts"], float) for r in records)
    completed = {r["file"]["key"]: r["rows"] for r in records if r["event"] == "file_completed"}
    assert completed == {k: len(v) for k, v in expected.items()}
    failed = next(r for r in records if r["event"] == "file_failed")
    assert failed["file"]["key"] == "bad.parquet"
    assert failed["error"]
    finished = next(r for r in records if r["event"] == "run_finished")["summary"]
    assert finished["files_completed"] == 5
    assert finished["files_failed"] == 1
    assert finished["rows"] == sum(len(v) for v in expected.values())
    assert finished["failures"][0][0] == "bad.parquet"
    progress = records[-1]
    assert progress["event"] == "progress"
    assert progress["rows"] == finished["rows"]
    assert progress["files_completed"] == 5
    assert progress["readers_busy"] == 0


def _file(key: str, size: int = 100) -> FileInfo:
    return FileInfo(path=f"b/{key}", key=key, size=size, etag="e", mtime=1.0)


def _events(stats: RunStatistics) -> list[Event]:
    a, b = _file("a.csv"), _file("b.csv")
    return [
        RunStarted(
            "watch",
            "s3://AKIAXXX:secret@bucket/in?X-Amz-Signature=abc",
            "/tmp/out",
            "p",
            "/tmp/s.db",
            statistics=lambda: stats,
        ),
        FilesDiscovered(2, 200, 0, via="poll", next_in=5.0),
        FileStarted(a),
        FileStarted(b),
        ChunkWritten(a, 10, 50, 60),
        ChunkWritten(a, 5, 30, 100),
        FileCompleted(a, 15, ("/tmp/out/a.parquet",), 0.5, bad_rows=2),
        FileFailed(b, "ValueError: broken at s3://u:secret@x/y", kind="ValueError"),
        RunFinished(
            RunSummary(
                "p",
                files_completed=1,
                files_failed=1,
                rows=15,
                bytes=100,
                failures=(("b.csv", "ValueError: broken at s3://u:secret@x/y"),),
            )
        ),
    ]


def test_json_view_records_secrets_redacted_and_statistics_polled() -> None:
    stats = RunStatistics(readers=2, readers_busy=1, bytes_in_flight=7, inflight_limit=64)
    out = io.StringIO()
    view = JsonLogView(out, interval=3600)
    for event in _events(stats):
        view(event)
    records = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert [r["event"] for r in records] == [
        "run_started",
        "files_discovered",
        "file_started",
        "file_started",
        "file_completed",
        "file_failed",
        "run_finished",
        "progress",
    ]
    started = records[0]
    assert started["source"] == "s3://***@bucket/in"
    assert "statistics" not in started
    assert "secret" not in out.getvalue()
    assert "Signature" not in out.getvalue()
    assert records[1]["via"] == "poll"
    assert records[5]["kind"] == "ValueError"
    progress = records[-1]
    assert progress["rows"] == 15
    assert progress["bad_rows"] == 2
    assert progress["bytes_read"] == 100
    assert progress["bytes_in_flight"] == 7
    assert progress["inflight_limit"] == 64


def test_text_view_reports_failures_and_progress() -> None:
    stats = RunStatistics(readers=2, readers_busy=1, bytes_in_flight=2_000_000, lag_seconds=12)
    out = io.StringIO()
    view = LogView(out, interval=3600)
    for event in _events(stats):
        view(event)
    lines = [line[9:] for line in out.getvalue().splitlines()]  # without the HH:MM:SS stamp
    assert lines[0] == "watch s3://***@bucket/in -> /tmp/out (pipeline p)"
    assert lines[1] == "found 2 files to replicate (0.0 MB), 0 already done"
    assert lines[2] == "error: failed b.csv: ValueError: broken at s3://***@x/y"
    assert lines[3].startswith("files 1 done, 1 failed, 0 in work, 0 waiting; 15 rows, 0.0 MB;")
    assert lines[3].endswith("; 2.0 MB in flight; lag 12s")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("s3://bucket/prefix/", "s3://bucket/prefix/"),
        ("s3://key:secret@bucket/p", "s3://***@bucket/p"),
        ("https://h:8443/f.csv?X-Amz-Signature=s&X-Amz-Credential=c", "https://h:8443/f.csv"),
        ("/local/path", "/local/path"),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_live_view_renders_watch_pressure_discovery_and_errors() -> None:
    stats = RunStatistics(
        readers=4,
        readers_busy=2,
        files_queued=3,
        bytes_in_flight=32 * 2**20,
        inflight_limit=64 * 2**20,
        chunks_queued=5,
        lag_seconds=75,
        sqs_messages_in_flight=9,
    )
    console = Console(width=120, height=40, record=True, force_terminal=False)
    view = LiveView(console)
    for event in _events(stats):
        view(event)
    view(FileStarted(_file("c.jsonl", 1000)))
    view(ChunkWritten(_file("c.jsonl", 1000), 7, 10, 250))
    console.print(view._render())
    text = console.export_text()
    assert "watch s3://***@bucket/in → /tmp/out  [p]" in text
    assert "secret" not in text
    assert "files 1 done · 1 failed · 1 in work · 0 waiting" in text
    assert re.search(r"in flight [━╸ ]+ 32\.0 / 64 MiB +chunks queued 5 +readers busy 2/4", text)
    assert "files queued 3" in text
    assert "bad rows 2 (dead-lettered)" in text
    assert re.search(
        r"polled \ds ago · next poll in [45]s · lag 0:01:15 · SQS messages in flight 9", text
    )
    assert re.search(r"c\.jsonl [━╸ ]+ 25\.0% 7 rows of 0\.0 MB", text)
    assert re.search(
        r"\d\d:\d\d:\d\d error: failed b\.csv: ValueError: broken at s3://\*\*\*@x/y", text
    )


def test_live_view_lines_line_up_and_are_cut_not_wrapped_on_a_narrow_terminal() -> None:
    stats = RunStatistics(
        readers=2, readers_busy=2, files_queued=0, bytes_in_flight=2**20, inflight_limit=2**22
    )
    view = LiveView(Console(width=100, height=40, force_terminal=False))
    view(RunStarted("snapshot", "/src", "/out", "p", "/s.db", statistics=lambda: stats))
    view(FilesDiscovered(3, 300, 0))
    read = _file("a-rather-long-folder-name/and-a-longer-file-name.jsonl.gz", 1000)
    pulse = _file("short.csv", 1000)
    for file in (read, pulse):
        view(FileStarted(file))
    view(ChunkWritten(read, 5, 10, 500))
    view(ChunkWritten(pulse, 9, 10, None))  # CSV reports no byte position

    def shown(width: int) -> list[str]:
        console = Console(width=width, height=40, record=True, force_terminal=False)
        view.console = console
        console.print(view._render())
        return console.export_text().splitlines()

    lines = shown(100)
    assert lines[1] == "files 0 done · 0 failed · 2 in work · 1 waiting (of 3)"
    assert re.fullmatch(r" {50} 0/3 files", lines[3])  # an empty bar, 50 wide
    assert re.fullmatch(r"in flight [━╸]+ {15,17} 1\.0 / 4 MiB  readers busy 2/2", lines[4])
    bars = lines[5:]
    # Newest first; the long key loses its start, and both bars begin in the same column.
    assert bars[0].startswith("short.csv ")
    assert re.match(r"…\S*and-a-longer-file-name\.jsonl\.gz [━╸]", bars[1])
    assert bars[0].index("━") == bars[1].index("━") == 41
    assert re.search(r"[━╸ ]{30}     \?% 9 rows of 0\.0 MB$", bars[0])
    assert re.search(r"[━╸ ]{30}  50\.0% 5 rows of 0\.0 MB$", bars[1])

    narrow = shown(60)
    assert len(narrow) == len(lines)  # cut at the edge, each line still one line
    assert all(len(line) <= 60 for line in narrow)
    assert narrow[2].startswith("rows 14  bytes 0.0 MB")
    assert narrow[2].endswith("…")


def test_live_view_senders_only_queue_events_and_never_hold_more_than_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    view = LiveView(Console(file=io.StringIO(), width=100, force_terminal=False))
    file = _file("a.csv")
    view(FilesDiscovered(3, 300, 0))
    view(FileStarted(file))
    assert (view.tally.discovered, len(view.tally.in_work)) == (0, 0)  # queued, not counted
    view._render()  # the drawing thread counts what is queued
    assert (view.tally.discovered, len(view.tally.in_work)) == (3, 1)

    monkeypatch.setattr(progress, "_MAX_PENDING", 3)
    for rows in range(1, 6):  # nothing draws: the sender that passes the bound counts them
        view(ChunkWritten(file, rows, 10, None))
    assert len(view._pending) <= 3
    view._count_pending()
    assert view.tally.rows == 15


def test_live_view_spaces_dear_frames_out(monkeypatch: pytest.MonkeyPatch) -> None:
    def frames_in_a_second(cost: float) -> int:
        console = Console(file=io.StringIO(), width=100, force_terminal=True)
        view = LiveView(console, refresh_per_second=20)
        drawn = 0
        render = view._render

        def dear() -> RenderableType:
            nonlocal drawn
            drawn += 1
            started = time.thread_time()
            while time.thread_time() - started < cost:
                pass
            return render()

        monkeypatch.setattr(view, "_render", dear)
        view._live.get_renderable = dear
        with view:
            time.sleep(1.0)
        return drawn

    monkeypatch.setattr(progress, "_DRAW_SHARE", 0.05)
    # Cheap frames come at the rate asked (20 a second); 10 ms ones 0.2 s apart (5% of a core).
    assert frames_in_a_second(0.0) >= 10
    assert frames_in_a_second(0.01) <= 8
