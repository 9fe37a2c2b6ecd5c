"""The ``replicate`` command line."""

from __future__ import annotations

import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from replicator.cli import options as opt
from replicator.cli.plan_cmd import plan
from replicator.cli.state_cmd import state_app
from replicator.config import Settings, settings_from
from replicator.errors import ConfigError, ReplicatorError
from replicator.runner.events import EventHandler, Notice, RunSummary, ignore
from replicator.runner.snapshot import run_snapshot
from replicator.runner.stop import StopToken
from replicator.storage import redact

app = typer.Typer(
    name="replicate",
    help="Replicate the rows of files on object storage (S3, GCS, Azure, local) into a sink.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(show: bool) -> None:
    if show:
        from replicator.version import package_version  # noqa: PLC0415 - see _progress

        typer.echo(f"replicator {package_version()}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Print replicator's version and exit.",
        ),
    ] = False,
) -> None:
    """Replicate the rows of files on object storage (S3, GCS, Azure, local) into a sink."""


EXIT_FAILED_FILES = 1
EXIT_INTERRUPTED = 130


def _settings(config: Path | None, given: dict[str, Any]) -> Settings:
    return settings_from(config, given, origin="command line")


STOPPING = (
    "stopping: no new files are started, files read in full are being committed, files in "
    "the middle are left for the next run; Ctrl-C again to stop at once"
)


@contextmanager
def _signals(stop: StopToken, say: Callable[[str], None]) -> Iterator[None]:
    """First Ctrl-C/SIGTERM drains, the second aborts the files in work. The first says so
    (through ``say``, on a thread of its own: the handler may have interrupted the view
    while it held its lock)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        requests = stop.request()
        if requests == 1:
            threading.Thread(target=say, args=(STOPPING,), daemon=True).start()
        else:
            # Aborting: what is left (a commit in hand) should take a moment; if it hangs,
            # the next Ctrl-C ends the process (nothing is lost: unrecorded files are redone).
            for s in previous:
                signal.signal(s, signal.SIG_DFL)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextmanager
def _view(settings: Settings) -> Iterator[EventHandler]:
    """The run's progress output (live view, text or JSON lines) and metrics server, if any."""
    with _progress(settings) as view:
        if settings.metrics_port is None:
            yield view
            return
        from replicator.cli.logs import tee  # noqa: PLC0415 - see _progress
        from replicator.cli.metrics import Metrics, MetricsServer  # noqa: PLC0415

        metrics = Metrics()
        try:
            server_ = MetricsServer(metrics, settings.metrics_host, settings.metrics_port)
        except OSError as exc:
            address = f"{settings.metrics_host}:{settings.metrics_port}"
            raise ConfigError(
                f"--metrics-port: cannot serve metrics on {address}: {exc.strerror or exc}; "
                "pick another port (0 takes any free one)"
            ) from None
        with server_ as server:
            handler = tee(metrics, view)
            handler(Notice("info", f"metrics at {server.url}"))
            yield handler


@contextmanager
def _progress(settings: Settings) -> Iterator[EventHandler]:
    if settings.quiet:
        yield ignore
        return
    # Imported here, like the other parts a run may not use (rich among them): start-up time
    # is paid per run.
    from rich.console import Console  # noqa: PLC0415

    from replicator.cli.logs import JsonLogView, LogView  # noqa: PLC0415
    from replicator.cli.progress import LiveView  # noqa: PLC0415

    console = Console(stderr=True)
    if settings.log_format == "json":
        # Machines read stdout: only JSON lines there; the summary is the run_finished record.
        yield JsonLogView(sys.stdout)
    elif settings.log_format == "auto" and console.is_terminal:
        with LiveView(console) as live:
            yield live
    else:
        yield LogView(sys.stderr)


def _run(debug: bool, body: Callable[[], int]) -> None:
    try:
        code = body()
    except ReplicatorError as exc:
        if debug:
            sys.stderr.write(redact(traceback.format_exc()))
        # One line, never wrapped: scripts grep it and people read it.
        sys.stderr.write(f"error: {redact(str(exc))}\n")
        raise typer.Exit(exc.exit_code) from None
    except Exception:
        # A bug, not a user error: show where, but never the credentials in a message.
        sys.stderr.write(redact(traceback.format_exc()))
        raise typer.Exit(1) from None
    raise typer.Exit(code)


def _finish(summary: RunSummary, quiet: bool) -> int:
    if not quiet:
        from rich.console import Console  # noqa: PLC0415 - see _progress

        from replicator.cli.progress import render_summary  # noqa: PLC0415

        Console().print(render_summary(summary))
    else:
        # Plain lines: a reason is printed as it is, never read as markup.
        sys.stderr.writelines(f"warning: {line}\n" for line in summary.warnings)
        sys.stderr.writelines(f"failed {key}: {reason}\n" for key, reason in summary.failures)
    if summary.files_failed or summary.files_failed_before:
        return EXIT_FAILED_FILES
    if summary.interrupted:
        return EXIT_INTERRUPTED
    return 0


def _run_pipeline(
    options: dict[str, Any], run: Callable[[Settings, EventHandler, StopToken], RunSummary]
) -> None:
    config = options.pop("config")
    debug = options.pop("debug")

    def body() -> int:
        settings = _settings(config, options)
        stop = StopToken()
        with _view(settings) as view:

            def say(line: str) -> None:
                if settings.quiet:
                    sys.stderr.write(line + "\n")
                else:
                    view(Notice("warning", line))

            with _signals(stop, say):
                summary = run(settings, view, stop)
        return _finish(summary, settings.quiet or settings.log_format == "json")

    _run(debug, body)


@app.command(short_help="Replicate every file under SOURCE into DEST once.")
@opt.pipeline_command
def snapshot(
    full_refresh: opt.FullRefresh = None, retry_failed: opt.RetryFailed = None, **options: Any
) -> None:
    """Replicate every file under SOURCE into DEST once, skipping files already completed.

    Rerun after a crash or Ctrl-C: completed files (same key and etag) are skipped and the rest
    are redone; outputs are overwritten in place, so no row is written twice. Files that failed
    before at the same version are skipped (and reported, exit code 1) unless --retry-failed.
    """
    given = {**options, "full_refresh": full_refresh, "retry_failed": retry_failed}
    _run_pipeline(given, run_snapshot)


@app.command(short_help="Keep replicating new files, found by polling or from S3 events.")
@opt.pipeline_command
def watch(
    once: opt.Once = False,
    poll_interval: opt.PollInterval = None,
    max_poll_interval: opt.MaxPollInterval = None,
    poll_overlap: opt.PollOverlap = None,
    sqs: opt.Sqs = None,
    backfill: opt.Backfill = None,
    propagate_deletes: opt.PropagateDeletes = None,
    sqs_wait_seconds: opt.SqsWaitSeconds = None,
    visibility_timeout: opt.VisibilityTimeout = None,
    **options: Any,
) -> None:
    """Keep replicating: list SOURCE every --poll-interval (or read S3 events from --sqs) and
    replicate new and changed files.

    Files completed by an earlier snapshot or watch of the same pipeline are not read again.
    Ctrl-C or SIGTERM: no new files, chunks in flight reach the sink, completed files are
    committed, exit 0. A second Ctrl-C stops at once; unfinished files are redone next run.
    """
    given = {
        **options,
        "poll_interval": poll_interval,
        "max_poll_interval": max_poll_interval,
        "poll_overlap": poll_overlap,
        "sqs": sqs,
        "backfill": backfill,
        "propagate_deletes": propagate_deletes,
        "sqs_wait_seconds": sqs_wait_seconds,
        "visibility_timeout": visibility_timeout,
    }

    def run(settings: Settings, view: EventHandler, stop: StopToken) -> RunSummary:
        from replicator.runner.watch import run_watch  # noqa: PLC0415

        summary = run_watch(settings, view, stop, once=once)
        # A watcher stopped on purpose has done its job; failures still show in the code.
        return replace(summary, interrupted=False)

    _run_pipeline(given, run)


app.command("plan", short_help="Show what a snapshot would replicate now, and what it would skip.")(
    plan
)
app.add_typer(
    state_app,
    name="state",
    short_help="Inspect the state (pipelines, files, schema); forget or reset files.",
)


def main() -> None:
    app()


__all__ = ["app", "main"]
