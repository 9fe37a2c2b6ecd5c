"""Prometheus metrics: counted from the run's events, scraped over HTTP during a watch."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from replicator.cli.metrics import Metrics, MetricsServer
from replicator.model import FileInfo
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
    RunStatistics,
)
from tests.cli import replicate_cmd
from tests.datasets import csv_bytes, csv_rows, local_put

_SAMPLE = re.compile(r"^([a-z_]+)(\{[^}]*\})? (\S+)$")


def parse(text: str) -> dict[str, float]:
    """``{'name{labels}': value}`` of every sample; checks every line is well formed."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        samples[match[1] + (match[2] or "")] = float(match[3])
    return samples


def _file(key: str, size: int) -> FileInfo:
    return FileInfo(path=f"b/{key}", key=key, size=size, etag="e", mtime=1.0)


def test_counters_and_histogram_from_events() -> None:
    stats = RunStatistics(
        readers=4,
        readers_busy=2,
        bytes_in_flight=1000,
        inflight_limit=4096,
        chunks_queued=3,
        lag_seconds=12.5,
        sqs_messages_in_flight=None,
    )
    metrics = Metrics()
    a, b, c = _file("a", 100), _file("b", 50), _file("c", 7)
    events: list[Event] = [
        RunStarted("watch", "s3://x/y", "/out", 'pipe"1', "/s.db", statistics=lambda: stats),
        FilesDiscovered(3, 157, 2, via="poll", next_in=1.0),
        FilesDiscovered(0, 0, 0, via="poll", next_in=2.0),
        FilesDiscovered(1, 1, 0, via="sqs"),
        FileStarted(a),
        ChunkWritten(a, 10, 999, None),
        FileCompleted(a, 10, ("o",), 0.3),
        FileStarted(b),
        FileFailed(b, "broken", kind="ReadError"),
        FileVanished(c),
        Notice("warning", "listing failed"),
        Notice("info", "not an error"),
        FileStarted(_file("d", 5)),
        ChunkWritten(_file("d", 5), 4, 10, None),
    ]
    for event in events:
        metrics(event)
    s = parse(metrics.render())
    assert s['replicator_run_info{mode="watch",pipeline="pipe\\"1"}'] == 1
    assert s['replicator_files_total{outcome="completed"}'] == 1
    assert s['replicator_files_total{outcome="failed"}'] == 1
    assert s['replicator_files_total{outcome="vanished"}'] == 1
    assert s['replicator_files_total{outcome="skipped"}'] == 2
    assert s["replicator_files_discovered_total"] == 4
    assert s["replicator_files_in_work"] == 1
    assert s['replicator_rows_total{outcome="written"}'] == 14
    assert s['replicator_rows_total{outcome="completed"}'] == 10
    assert s['replicator_bytes_total{outcome="completed"}'] == 100
    assert s['replicator_bytes_total{outcome="failed"}'] == 50
    assert s["replicator_polls_total"] == 2
    assert s["replicator_sqs_receives_total"] == 1
    assert s['replicator_errors_total{kind="ReadError"}'] == 1
    assert s['replicator_errors_total{kind="vanished"}'] == 1
    assert s['replicator_errors_total{kind="warning"}'] == 1
    assert 'replicator_errors_total{kind="info"}' not in s
    assert s['replicator_file_seconds_bucket{le="0.25"}'] == 0
    assert s['replicator_file_seconds_bucket{le="0.5"}'] == 1
    assert s['replicator_file_seconds_bucket{le="+Inf"}'] == 1
    assert s["replicator_file_seconds_sum"] == pytest.approx(0.3)
    assert s["replicator_file_seconds_count"] == 1
    assert s["replicator_bytes_in_flight"] == 1000
    assert s["replicator_inflight_limit_bytes"] == 4096
    assert s["replicator_chunks_queued"] == 3
    assert s["replicator_readers_busy"] == 2
    assert s["replicator_lag_seconds"] == 12.5
    assert "replicator_sqs_messages_in_flight" not in s  # polling: no queue


def test_server_serves_metrics_and_nothing_else() -> None:
    metrics = Metrics()
    metrics(FilesDiscovered(2, 10, 0))
    with MetricsServer(metrics, "127.0.0.1", 0) as server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/metrics", server.url)
        with urllib.request.urlopen(server.url, timeout=5) as response:
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            assert parse(response.read().decode())["replicator_files_discovered_total"] == 2
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(server.url.replace("/metrics", "/other"), timeout=5)
        assert missing.value.code == 404
        missing.value.close()


def _scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return parse(response.read().decode())


def _wait(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_scrape_a_watch_while_it_runs(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "out"
    put = local_put(src)
    sizes: dict[str, int] = {}

    def add(i: int, rows: int) -> None:
        data = csv_bytes(csv_rows(i, rows))
        put(f"f{i}.csv", data)
        sizes[f"f{i}.csv"] = len(data)

    for i in range(4):
        add(i, 300 + i)
    proc = subprocess.Popen(
        replicate_cmd(
            "watch",
            str(src),
            str(dest),
            "--state",
            str(tmp_path / "s.db"),
            "--poll-interval",
            "0.2s",
            "--max-poll-interval",
            "0.2s",
            "--metrics-port",
            "0",
            "--log-format",
            "json",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout

    def read_lines() -> None:
        for line in stdout:
            lines.put(line)

    reader = threading.Thread(target=read_lines, daemon=True)
    reader.start()
    records: list[dict[str, Any]] = []
    try:

        def metrics_url() -> str | None:
            while not lines.empty():
                records.append(orjson.loads(lines.get()))
            for r in records:
                if r["event"] == "notice" and r["message"].startswith("metrics at "):
                    return str(r["message"].removeprefix("metrics at "))
            return None

        url = _wait(metrics_url, "the metrics notice")
        first = _wait(
            lambda: (s := _scrape(url))['replicator_files_total{outcome="completed"}'] == 4 and s,
            "4 files completed",
        )
        for i in range(4, 7):
            add(i, 300 + i)
        last = _wait(
            lambda: (s := _scrape(url))['replicator_files_total{outcome="completed"}'] == 7 and s,
            "7 files completed",
        )
        assert last["replicator_polls_total"] > first["replicator_polls_total"]
        rows = sum(300 + i for i in range(7))
        assert last['replicator_rows_total{outcome="completed"}'] == rows
        assert last['replicator_rows_total{outcome="written"}'] == rows
        assert last['replicator_bytes_total{outcome="completed"}'] == sum(sizes.values())
        assert last["replicator_file_seconds_count"] == 7
        assert last['replicator_file_seconds_bucket{le="+Inf"}'] == 7
        assert last['replicator_files_total{outcome="failed"}'] == 0
        assert last["replicator_readers"] >= 1
        assert "replicator_bytes_in_flight" in last
        assert "replicator_lag_seconds" in last
        assert last["replicator_last_poll_timestamp_seconds"] > time.time() - 30
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
    reader.join(timeout=5)
    proc.stdout.close()
    while not lines.empty():
        records.append(orjson.loads(lines.get()))
    summary = next(r["summary"] for r in records if r["event"] == "run_finished")
    assert summary["files_completed"] == last['replicator_files_total{outcome="completed"}']
    assert summary["rows"] == last['replicator_rows_total{outcome="completed"}']
    assert summary["bytes"] == last['replicator_bytes_total{outcome="completed"}']
    assert summary["files_failed"] == 0
