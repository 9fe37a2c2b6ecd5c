"""Prometheus metrics of a run, served as text on ``/metrics`` by a stdlib HTTP server.

``Metrics`` is an ``EventHandler``: counters come from the same typed events as the progress
view, and gauges (bytes in flight, queue depth, lag) from the runner's statistics provider,
polled when scraped. Written by hand rather than with ``prometheus_client``: a dozen metrics in
the text format need no dependency, and a per-run object avoids that library's global registry.
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from replicator.cli.tally import Tally
from replicator.runner.events import (
    ChunkWritten,
    Event,
    FileCompleted,
    FileFailed,
    FilesDiscovered,
    FileVanished,
    Notice,
)

__all__ = ["FILE_SECONDS_BUCKETS", "Metrics", "MetricsServer"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
FILE_SECONDS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)


class Metrics:
    """Counts a run's events; ``render()`` gives the Prometheus text exposition. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tally = Tally()
        self._rows_written = 0
        self._bytes: Counter[str] = Counter()  # source bytes of files, by outcome
        self._polls: Counter[str] = Counter()  # discovery passes, by how
        self._errors: Counter[str] = Counter()
        self._buckets = [0] * len(FILE_SECONDS_BUCKETS)
        self._seconds_sum = 0.0

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._tally.count(event)
            match event:
                case ChunkWritten():
                    self._rows_written += event.rows
                case FileCompleted():
                    self._bytes["completed"] += event.file.size
                    self._seconds_sum += event.seconds
                    i = bisect.bisect_left(FILE_SECONDS_BUCKETS, event.seconds)
                    if i < len(self._buckets):
                        self._buckets[i] += 1
                case FileFailed():
                    self._bytes["failed"] += event.file.size
                    self._errors[event.kind] += 1
                case FileVanished():
                    self._errors["vanished"] += 1
                case Notice() if event.level in ("warning", "error"):
                    self._errors[event.level] += 1
                case FilesDiscovered():
                    self._polls[event.via] += 1
                case _:
                    pass

    def render(self) -> str:
        """The metrics now, in the Prometheus text format 0.0.4. Polls the runner's statistics."""
        stats = self._tally.poll_statistics()
        with self._lock:
            lines = list(self._lines())
        if stats is not None:
            gauges = {
                "bytes_in_flight": (
                    "Bytes read and not yet written by the sink.",
                    stats.bytes_in_flight,
                ),
                "inflight_limit_bytes": ("The in-flight byte budget.", stats.inflight_limit),
                "chunks_queued": ("Chunks waiting for the sink.", stats.chunks_queued),
                "files_queued": ("Files discovered, waiting for a reader.", stats.files_queued),
                "readers": ("Reader threads.", stats.readers),
                "readers_busy": ("Reader threads in the middle of a file.", stats.readers_busy),
                "lag_seconds": (
                    "Now minus the modification time of the oldest file not yet done.",
                    stats.lag_seconds,
                ),
                "sqs_messages_in_flight": (
                    "SQS messages received and not yet deleted.",
                    stats.sqs_messages_in_flight,
                ),
                "last_poll_timestamp_seconds": (
                    "When the source was last listed.",
                    stats.last_poll,
                ),
            }
            for name, (text, value) in gauges.items():
                if value is not None:
                    lines += _metric(name, "gauge", text, [("", value)])
        return "\n".join(lines) + "\n"

    def _lines(self) -> Iterator[str]:
        t = self._tally
        yield from _metric(
            "run_info",
            "gauge",
            "The run: mode and pipeline name.",
            [(_labels(mode=t.mode, pipeline=t.pipeline), 1)],
        )
        yield from _metric(
            "files_total",
            "counter",
            "Files by outcome.",
            [
                (_labels(outcome=o), n)
                for o, n in (
                    ("completed", t.completed),
                    ("failed", t.failed),
                    ("vanished", t.vanished),
                    ("skipped", t.skipped),
                )
            ],
        )
        yield from _metric(
            "files_discovered_total", "counter", "Files found to replicate.", [("", t.discovered)]
        )
        yield from _metric("files_in_work", "gauge", "Files being read.", [("", len(t.in_work))])
        yield from _metric(
            "rows_total",
            "counter",
            "Rows by outcome: written (acknowledged by the sink), completed (in committed files), bad (dead-lettered or skipped).",
            [
                (_labels(outcome="written"), self._rows_written),
                (_labels(outcome="completed"), t.completed_rows),
                (_labels(outcome="bad"), t.bad_rows),
            ],
        )
        yield from _metric(
            "bytes_total",
            "counter",
            "Source bytes of files, by outcome.",
            [(_labels(outcome=o), self._bytes[o]) for o in ("completed", "failed")],
        )
        yield from _metric(
            "polls_total",
            "counter",
            "Listings of the source.",
            [("", self._polls["poll"] + self._polls["list"])],
        )
        yield from _metric(
            "sqs_receives_total",
            "counter",
            "Receives from the SQS queue.",
            [("", self._polls["sqs"])],
        )
        yield from _metric(
            "errors_total",
            "counter",
            "Failed files by error class, vanished files, warnings and errors.",
            [(_labels(kind=k), n) for k, n in sorted(self._errors.items())],
        )
        yield from self._histogram()

    def _histogram(self) -> Iterator[str]:
        name = "replicator_file_seconds"
        yield f"# HELP {name} Seconds from starting to committing a file."
        yield f"# TYPE {name} histogram"
        total = 0
        for bound, n in zip(FILE_SECONDS_BUCKETS, self._buckets, strict=True):
            total += n
            yield f'{name}_bucket{{le="{bound}"}} {total}'
        count = self._tally.completed
        yield f'{name}_bucket{{le="+Inf"}} {count}'
        yield f"{name}_sum {self._seconds_sum}"
        yield f"{name}_count {count}"


def _metric(name: str, kind: str, text: str, samples: list[tuple[str, float | int]]) -> list[str]:
    full = f"replicator_{name}"
    lines = [f"# HELP {full} {text}", f"# TYPE {full} {kind}"]
    lines += [f"{full}{labels} {value}" for labels, value in samples]
    return lines


def _labels(**labels: str) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class MetricsServer:
    """Serves ``metrics.render()`` on ``http://host:port/metrics`` from a daemon thread.

    ``port`` 0 picks a free port; ``url`` says which. ``close()`` blocks until it stopped.
    """

    def __init__(self, metrics: Metrics, host: str = "127.0.0.1", port: int = 0) -> None:
        self.metrics = metrics
        self._server = ThreadingHTTPServer((host, port), _handler(metrics))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="replicator-metrics", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/metrics"

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> MetricsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _handler(metrics: Metrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] not in ("/metrics", "/"):
                self.send_error(404, "metrics are at /metrics")
                return
            body = metrics.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # scrapes every few seconds are not news

    return Handler
