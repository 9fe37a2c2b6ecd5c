"""``replicate state ...``: look into the checkpoint store, and forget or reset what it holds.

Every command reads an existing state file and never creates one.
"""

from __future__ import annotations

import datetime as dt
import sys
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import pyarrow as pa
import typer

from replicator.checkpoint import FileRecord, SqliteCheckpointStore, Status, pipelines
from replicator.checkpoint.ledger import WATERMARK, Ledger
from replicator.checkpoint.location import default_pipeline_name
from replicator.cli import options as opt
from replicator.config import settings_from
from replicator.errors import ConfigError, ReplicatorError
from replicator.runner.pipeline import state_path
from replicator.storage import redact

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

state_app = typer.Typer(
    name="state",
    help="Inspect the state file: pipelines, completed and failed files; forget or reset them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PipelineName = Annotated[
    str | None,
    typer.Option(
        "--name",
        help="Pipeline to look at. Default: the only pipeline in the state file.",
        show_default=False,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")]
Key = Annotated[str, typer.Argument(help="The file's key (its path under the source).")]
Source = Annotated[
    str | None,
    typer.Argument(
        help="The pipeline's SOURCE, as given to snapshot or watch (with DEST it names the "
        "pipeline when it has no --name).",
        show_default=False,
    ),
]
Dest = Annotated[
    str | None,
    typer.Argument(help="The pipeline's DEST, as given to snapshot or watch.", show_default=False),
]
Config = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="The pipeline's config file: its name (or source and dest) and state file.",
        show_default=False,
    ),
]

_NAMES_SHOWN = 10


@contextmanager
def exit_on_error(debug: bool = False) -> Iterator[None]:
    """Turn a ``ReplicatorError`` into one ``error: ...`` line on stderr and its exit code."""
    try:
        yield
    except ReplicatorError as exc:
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"error: {redact(str(exc))}\n")
        raise typer.Exit(exc.exit_code) from None


def state_file(state: str | None) -> Path:
    """The state file to read: ``--state`` or the default; an error if it does not exist."""
    path = state_path(state)
    if not path.is_file():
        raise ConfigError(
            f"no state file at {path}; pass --state PATH (or set REPLICATOR_STATE) to the file"
            " your runs use"
        )
    return path


def resolve_pipeline(path: Path, name: str | None) -> str:
    """``name`` if the file holds it, else the file's only pipeline; an error otherwise."""
    names = pipelines(path)
    shown = ", ".join(names[:_NAMES_SHOWN]) + (", ..." if len(names) > _NAMES_SHOWN else "")
    if name is not None:
        if name not in names:
            held = f"it holds: {shown}" if names else "it holds no pipelines"
            raise ConfigError(
                f"no pipeline {name!r} in the state file {path} (has it run yet?); {held}"
            )
        return name
    if len(names) == 1:
        return names[0]
    if not names:
        raise ConfigError(f"the state file {path} holds no pipelines yet; run a snapshot first")
    raise ConfigError(
        f"the state file {path} holds {len(names)} pipelines ({shown}); pick one with --name, "
        "SOURCE DEST, or --config"
    )


def select_pipeline(
    state: str | None,
    name: str | None,
    config: Path | None = None,
    source: str | None = None,
    dest: str | None = None,
) -> tuple[Path, str]:
    """(state file, pipeline name), picked as ``replicate snapshot`` picks them: ``--name``,
    else the name SOURCE and DEST give (on the command line or in ``--config``), else the
    state file's only pipeline. The state file is ``--state``, else the config's, else the
    default."""
    if config is None and source is None and dest is None:
        path = state_file(state)
        return path, resolve_pipeline(path, name)
    if (source is None) != (dest is None) and config is None:
        raise ConfigError("give both SOURCE and DEST to name a pipeline (or --name)")
    given = {"source": source, "dest": dest, "name": name, "state": state}
    settings = settings_from(config, given, origin="command line")
    path = state_file(settings.state)
    if settings.name:
        return path, resolve_pipeline(path, settings.name)
    if not (settings.source and settings.dest):
        raise ConfigError(
            f"{config} names no pipeline: it sets neither name nor both source and dest; "
            "pass --name"
        )
    return path, resolve_pipeline(path, default_pipeline_name(settings.source, settings.dest))


def iso(timestamp: float | None) -> str | None:
    """``timestamp`` (seconds since the epoch) as ISO 8601 UTC, to the second."""
    if timestamp is None:
        return None
    stamp = dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="seconds")
    return stamp.replace("+00:00", "Z")


def record_json(pipeline: str, record: FileRecord) -> dict[str, Any]:
    """A record as plain JSON values. ``mtime`` stays a number: with size it is the version."""
    return {
        "pipeline": pipeline,
        "key": record.key,
        "status": record.status,
        "etag": record.etag,
        "size": record.size,
        "mtime": record.mtime,
        "rows": record.rows,
        "outputs": list(record.outputs),
        "updated_at": iso(record.updated_at),
        "attempts": record.attempts,
        "error": record.error,
    }


def count_files(n: int) -> str:
    return f"{n:,} file" if n == 1 else f"{n:,} files"


def _print_json(value: object) -> None:
    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def _print_json_array(items: Iterable[object]) -> None:
    # Streamed item by item: a pipeline may hold millions of records.
    out = sys.stdout
    separator = "\n  "
    out.write("[")
    for item in items:
        out.write(separator)
        out.write(orjson.dumps(item).decode())
        separator = ",\n  "
    out.write("]\n" if separator == "\n  " else "\n]\n")


def stdout_console() -> Console:
    """A console for stdout; where stdout is no terminal, as wide as any line needs, so that
    keys are never wrapped or cut for the programs reading it."""
    # rich is imported where it is used: `replicate snapshot`, which loads this module for its
    # command line, should not pay for it at start-up.
    from rich.console import Console  # noqa: PLC0415

    if stdout_is_terminal():
        return Console(highlight=False)
    return Console(highlight=False, width=_UNWRAPPED)


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


_UNWRAPPED = 100_000


@state_app.command("list")
def list_records(
    source: Source = None,
    dest: Dest = None,
    config: Config = None,
    state: opt.State = None,
    name: PipelineName = None,
    failed: Annotated[bool, typer.Option("--failed", help="Only failed files.")] = False,
    in_progress: Annotated[
        bool,
        typer.Option(
            "--in-progress",
            help="Only files in work: being replicated now, or left unfinished by a run that"
            " was killed (the next run redoes them).",
        ),
    ] = False,
    completed: Annotated[bool, typer.Option("--completed", help="Only completed files.")] = False,
    json: Json = False,
) -> None:
    """List the files a pipeline has recorded, by key."""
    with exit_on_error():
        if failed + in_progress + completed > 1:
            raise ConfigError("give at most one of --failed, --in-progress, --completed")
        path, pipeline = select_pipeline(state, name, config, source, dest)
        status: Status | None = (
            "failed"
            if failed
            else "completed"
            if completed
            else "in_progress"
            if in_progress
            else None
        )
        with SqliteCheckpointStore(path, pipeline) as store:
            records: Iterable[FileRecord] = store.list(status)
            if json:
                _print_json_array(record_json(pipeline, r) for r in records)
            elif not stdout_is_terminal():
                _print_record_lines(records)
            else:
                _print_records(pipeline, records, in_progress, status)


_STATUS_STYLE = {"completed": "green", "failed": "red", "in_progress": "yellow"}


def _print_records(
    pipeline: str, records: Iterable[FileRecord], in_progress: bool, status: Status | None
) -> None:
    from rich import box  # noqa: PLC0415 - see _console
    from rich.table import Table  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    table = Table(title=f"pipeline {pipeline}", title_justify="left", box=box.SIMPLE_HEAD)
    # Short values never wrap; etag, outputs and error share one folding "details" column, so
    # even an 80-column terminal shows every character of each.
    table.add_column("key", overflow="fold", ratio=2)
    table.add_column("status", no_wrap=True)
    table.add_column("rows", justify="right", no_wrap=True)
    table.add_column("tries", justify="right", no_wrap=True)
    table.add_column("updated", no_wrap=True)
    table.add_column("details", overflow="fold", ratio=3)
    for r in records:
        table.add_row(
            Text(r.key),
            Text(r.status, style=_STATUS_STYLE[r.status]),
            f"{r.rows:,}",
            str(r.attempts),
            iso(r.updated_at),
            _details(r),
        )
    console = stdout_console()
    if table.row_count:
        console.print(table)
    elif in_progress:
        console.print(f"no files in progress in pipeline {pipeline}")
    else:
        console.print(f"no {status or 'recorded'} files in pipeline {pipeline}")


def _print_record_lines(records: Iterable[FileRecord]) -> None:
    """One tab-separated line per record, never wrapped: for grep, cut and awk."""
    out = sys.stdout
    out.write("key\tstatus\trows\ttries\tupdated\tetag\toutputs\terror\n")
    for r in records:
        fields = (
            r.key,
            r.status,
            str(r.rows),
            str(r.attempts),
            iso(r.updated_at) or "",
            r.etag or "",
            ",".join(r.outputs),
            r.error or "",
        )
        out.write("\t".join(_one_line(f) for f in fields) + "\n")


def _one_line(text: str) -> str:
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def _details(record: FileRecord) -> Text:
    from rich.text import Text  # noqa: PLC0415 - see _console

    lines = [Text(f"etag {record.etag}", style="dim")] if record.etag else []
    lines += [Text(f"-> {output}") for output in record.outputs]
    if record.error:
        lines.append(Text(record.error, style="red"))
    return Text("\n").join(lines)


@state_app.command("pipelines")
def list_pipelines(state: opt.State = None, config: Config = None, json: Json = False) -> None:
    """List the pipelines in the state file, with their files counted by status."""
    with exit_on_error():
        if state is None and config is not None:
            state = settings_from(config, {}, origin="command line").state
        path = state_file(state)
        summaries = [_pipeline_summary(path, name) for name in pipelines(path)]
        if json:
            _print_json(summaries)
            return
        if not summaries:
            stdout_console().print(f"the state file {path} holds no pipelines yet")
            return
        from rich.table import Table  # noqa: PLC0415 - see _console
        from rich.text import Text  # noqa: PLC0415

        table = Table(title=f"state file {path}", title_justify="left")
        table.add_column("pipeline", overflow="fold")
        for column in ("completed", "failed", "in progress", "total"):
            table.add_column(column, justify="right")
        table.add_column("watermark")
        for s in summaries:
            table.add_row(
                Text(s["pipeline"]),
                f"{s['completed']:,}",
                f"{s['failed']:,}",
                f"{s['in_progress']:,}",
                f"{s['total']:,}",
                s["watermark"] or "",
            )
        stdout_console().print(table)


def _pipeline_summary(path: Path, pipeline: str) -> dict[str, Any]:
    with SqliteCheckpointStore(path, pipeline) as store:
        counts = store.stats()
        watermark = store.get_value(WATERMARK)
    return {
        "pipeline": pipeline,
        **counts,
        "total": sum(counts.values()),
        # Files modified before it (less the overlap window) count as done without a record.
        "watermark": iso(float(watermark)) if watermark is not None else None,
    }


@state_app.command("show")
def show(
    key: Key,
    source: Source = None,
    dest: Dest = None,
    config: Config = None,
    state: opt.State = None,
    name: PipelineName = None,
    json: Json = False,
) -> None:
    """Show everything recorded about one file."""
    with exit_on_error():
        path, pipeline = select_pipeline(state, name, config, source, dest)
        with SqliteCheckpointStore(path, pipeline) as store:
            record = store.get(key)
        if record is None:
            raise ReplicatorError(f"no record of {key!r} in pipeline {pipeline}")
        if json:
            _print_json(record_json(pipeline, record))
            return
        from rich.table import Table  # noqa: PLC0415 - see _console
        from rich.text import Text  # noqa: PLC0415

        table = Table(show_header=False, title=f"pipeline {pipeline}", title_justify="left")
        table.add_column("field", style="bold")
        table.add_column("value", overflow="fold")
        shown = {
            **record_json(pipeline, record),
            "mtime": iso(record.mtime),
            "outputs": "\n".join(record.outputs),
        }
        for field, value in shown.items():
            table.add_row(field, Text("" if value is None else str(value)))
        stdout_console().print(table)


@state_app.command("forget")
def forget(
    key: Key,
    source: Source = None,
    dest: Dest = None,
    config: Config = None,
    state: opt.State = None,
    name: PipelineName = None,
) -> None:
    """Forget one file, so that the next run replicates it again."""
    with exit_on_error():
        path, pipeline = select_pipeline(state, name, config, source, dest)
        with SqliteCheckpointStore(path, pipeline) as store:
            record = store.get(key)
            if record is None or not store.forget(key):
                raise ReplicatorError(
                    f"no record of {key!r} in pipeline {pipeline}; nothing to forget"
                    " (see `replicate state list`)"
                )
            horizon = Ledger(store).horizon
        stdout_console().print(f"forgot {key} in pipeline {pipeline}", markup=False)
        if horizon is not None and record.mtime is not None and record.mtime < horizon:
            # The watermark still vouches for a file this old: forgetting it is not enough.
            sys.stderr.write(
                f"warning: {key} is older than the pipeline's watermark, so runs still count it"
                " as done; use --full-refresh or `replicate state reset` to replicate it again\n"
            )


@state_app.command("reset")
def reset(
    source: Source = None,
    dest: Dest = None,
    config: Config = None,
    state: opt.State = None,
    name: PipelineName = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Forget every file of a pipeline (and its watermark): the next run replicates all again."""
    with exit_on_error():
        path, pipeline = select_pipeline(state, name, config, source, dest)
        if not yes:
            if not _interactive():
                raise ConfigError("reset needs confirmation; pass --yes to reset without asking")
            question = f"Forget every file of pipeline {pipeline} in {path}?"
            if not typer.confirm(question, default=False):
                sys.stderr.write("nothing was reset\n")
                raise typer.Exit(1)
        with SqliteCheckpointStore(path, pipeline) as store:
            removed = store.reset()
        stdout_console().print(
            f"reset pipeline {pipeline}: forgot {count_files(removed)}", markup=False
        )


@state_app.command("schema")
def schema(
    source: Source = None,
    dest: Dest = None,
    config: Config = None,
    state: opt.State = None,
    name: PipelineName = None,
    json: Json = False,
) -> None:
    """Show the pipeline's schema (its current version) and the history of its changes."""
    with exit_on_error():
        path, pipeline = select_pipeline(state, name, config, source, dest)
        with SqliteCheckpointStore(path, pipeline) as store:
            versions = store.schema_versions()
        if not versions:
            raise ReplicatorError(
                f"pipeline {pipeline} has no schema yet: its first run with files to replicate "
                "infers it"
            )
        current = pa.ipc.read_schema(pa.py_buffer(versions[-1].schema))
        columns = [_column_json(f) for f in current]
        history: list[dict[str, Any]] = [
            {
                "version": v.version,
                "at": iso(v.created_at),
                "changes": list(v.changes),
                "cause": v.cause,
            }
            for v in versions
        ]
        if json:
            _print_json(
                {
                    "pipeline": pipeline,
                    "version": versions[-1].version,
                    "columns": columns,
                    "history": history,
                }
            )
            return
        from rich.table import Table  # noqa: PLC0415 - see stdout_console
        from rich.text import Text  # noqa: PLC0415

        table = Table()
        table.add_column("column", overflow="fold")
        table.add_column("type", overflow="fold")
        for field in current:
            column = _column_json(field)
            table.add_row(Text(column["name"]), Text(column["type"]))
        changes = Table(title="history", title_justify="left")
        for heading in ("version", "at", "changes", "needed by"):
            changes.add_column(heading, overflow="fold")
        for v in versions:
            changes.add_row(
                str(v.version), iso(v.created_at), Text("\n".join(v.changes)), Text(v.cause or "")
            )
        console = stdout_console()
        console.print(Text(f"pipeline {pipeline}: schema version {versions[-1].version}"))
        console.print(table)
        console.print(changes)


def _column_json(field: pa.Field) -> dict[str, str]:
    """A column as JSON: its name and Arrow type; a type not known yet says so."""
    if pa.types.is_null(field.type):
        return {"name": field.name, "type": "unknown (no value yet; published as string)"}
    return {"name": field.name, "type": str(field.type)}


def _interactive() -> bool:
    """Whether a person can answer a question (both ends are a terminal)."""
    return sys.stdin.isatty() and sys.stdout.isatty()


__all__ = [
    "count_files",
    "exit_on_error",
    "iso",
    "record_json",
    "resolve_pipeline",
    "select_pipeline",
    "state_app",
    "state_file",
    "stdout_console",
]
