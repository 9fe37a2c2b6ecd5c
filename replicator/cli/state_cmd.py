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
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from replicator.checkpoint import FileRecord, SqliteCheckpointStore, Status, pipelines
from replicator.checkpoint.ledger import WATERMARK, Ledger
from replicator.checkpoint.location import default_state_path
from replicator.cli import options as opt
from replicator.errors import ConfigError, ReplicatorError

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
Json = Annotated[
    bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")
]
Key = Annotated[str, typer.Argument(help="The file's key (its path under the source).")]

_NAMES_SHOWN = 10


@contextmanager
def exit_on_error(debug: bool = False) -> Iterator[None]:
    """Turn a ``ReplicatorError`` into one ``error: ...`` line on stderr and its exit code."""
    try:
        yield
    except ReplicatorError as exc:
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"error: {exc}\n")
        raise typer.Exit(exc.exit_code) from None


def state_file(state: str | None) -> Path:
    """The state file to read: ``--state`` or the default; an error if it does not exist."""
    path = Path(state).expanduser() if state else default_state_path()
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
            raise ConfigError(f"no pipeline {name!r} in the state file {path}; {held}")
        return name
    if len(names) == 1:
        return names[0]
    if not names:
        raise ConfigError(f"the state file {path} holds no pipelines yet; run a snapshot first")
    raise ConfigError(
        f"the state file {path} holds {len(names)} pipelines ({shown}); pass --name to pick one"
    )


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


def _console() -> Console:
    return Console(highlight=False)


@state_app.command("list")
def list_records(
    state: opt.State = None,
    name: PipelineName = None,
    failed: Annotated[bool, typer.Option("--failed", help="Only failed files.")] = False,
    in_progress: Annotated[
        bool,
        typer.Option(
            "--in-progress",
            help="Only files in work. The store records completed and failed files only for"
            " now, so this shows none.",
        ),
    ] = False,
    completed: Annotated[bool, typer.Option("--completed", help="Only completed files.")] = False,
    json: Json = False,
) -> None:
    """List the files a pipeline has recorded, by key."""
    with exit_on_error():
        if failed + in_progress + completed > 1:
            raise ConfigError("give at most one of --failed, --in-progress, --completed")
        path = state_file(state)
        pipeline = resolve_pipeline(path, name)
        status: Status | None = "failed" if failed else "completed" if completed else None
        with SqliteCheckpointStore(path, pipeline) as store:
            records: Iterable[FileRecord] = () if in_progress else store.list(status)
            if json:
                _print_json_array(record_json(pipeline, r) for r in records)
            else:
                _print_records(pipeline, records, in_progress, status)


def _print_records(
    pipeline: str, records: Iterable[FileRecord], in_progress: bool, status: Status | None
) -> None:
    table = Table(title=f"pipeline {pipeline}", title_justify="left")
    for column in ("key", "status", "etag", "rows", "outputs", "updated", "attempts", "error"):
        table.add_column(column, overflow="fold", justify="right" if column == "rows" else "left")
    for r in records:
        table.add_row(
            Text(r.key),
            Text(r.status, style="red" if r.status == "failed" else "green"),
            Text(r.etag or ""),
            f"{r.rows:,}",
            Text("\n".join(r.outputs)),
            iso(r.updated_at),
            str(r.attempts),
            Text(r.error or ""),
        )
    console = _console()
    if table.row_count:
        console.print(table)
    elif in_progress:
        console.print(f"no files in progress in pipeline {pipeline}: the state file records"
                      " completed and failed files only")
    else:
        console.print(f"no {status or 'recorded'} files in pipeline {pipeline}")
