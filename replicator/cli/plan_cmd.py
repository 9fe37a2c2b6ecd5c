"""``replicate plan``: what a snapshot with the same options would replicate now, and skip.

It lists the source and applies the same ``Ledger.split`` as the snapshot, so both agree. It
writes nothing: the state file is opened only if it exists, the destination is never touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from replicator.checkpoint.ledger import Ledger
from replicator.checkpoint.location import _canonical as without_secrets
from replicator.cli import options as opt
from replicator.cli.state_cmd import count_files, exit_on_error, iso
from replicator.config import Settings, build_settings, coerce, load_config
from replicator.discovery.listing import list_files
from replicator.model import FileInfo
from replicator.runner.pipeline import Pipeline

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.table import Table

DEFAULT_SHOWN = 50


@dataclass(frozen=True)
class Plan:
    """The outcome of a plan: files to replicate and files already done, in listing order."""

    pipeline: str
    state_path: Path
    state_exists: bool
    source: str
    dest: str
    full_refresh: bool
    todo: tuple[FileInfo, ...]
    done: tuple[FileInfo, ...]


def make_plan(settings: Settings) -> Plan:
    """List the source and split it as ``replicate snapshot`` would. Writes nothing."""
    pipeline = Pipeline.from_settings(settings)
    files = list_files(pipeline.source, pipeline.key_filter)
    exists = pipeline.state_path.is_file()
    if exists:
        with pipeline.open_store() as store:
            # The overlap is the pipeline's, as watch uses it: a shorter one would count files
            # as done that the watermark does not vouch for.
            ledger = Ledger(store, settings.poll_overlap)
            todo, done = ledger.split(files, full_refresh=settings.full_refresh)
    else:
        # Opening the store would create the file: with no file, nothing is done yet.
        todo, done = list(files), []
    return Plan(
        pipeline=pipeline.name,
        state_path=pipeline.state_path,
        state_exists=exists,
        # URLs may carry credentials or signed queries; those never reach the output.
        source=_shown_url(settings.source),
        dest=_shown_url(settings.dest),
        full_refresh=settings.full_refresh,
        todo=tuple(todo),
        done=tuple(done),
    )


def _shown_url(url: str) -> str:
    return without_secrets(url).removeprefix("file://")


def plan_json(plan: Plan, shown: int | None = DEFAULT_SHOWN) -> dict[str, Any]:
    """The plan as JSON values, with at most ``shown`` keys per list (None: all)."""
    return {
        "pipeline": plan.pipeline,
        "state": str(plan.state_path),
        "state_exists": plan.state_exists,
        "source": plan.source,
        "dest": plan.dest,
        "full_refresh": plan.full_refresh,
        "to_replicate": _group_json(plan.todo, shown),
        "already_done": _group_json(plan.done, shown),
    }


def _group_json(files: Sequence[FileInfo], shown: int | None) -> dict[str, Any]:
    listed = files if shown is None else files[:shown]
    return {
        "files": len(files),
        "bytes": sum(f.size for f in files),
        "keys": [f.key for f in listed],
        "keys_omitted": len(files) - len(listed),
    }


def render_plan(plan: Plan, shown: int | None = DEFAULT_SHOWN) -> RenderableType:
    """The plan for a person: a summary, then the keys (at most ``shown`` per list)."""
    # rich is imported where it is used: `replicate snapshot`, which loads this module for its
    # command line, should not pay for it at start-up.
    from rich.console import Group  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    header = Text.assemble(("plan for pipeline ", "bold"), (plan.pipeline, "bold cyan"))
    summary = Table(show_header=False, box=None)
    summary.add_column("what", style="bold")
    summary.add_column("value", overflow="fold")
    summary.add_row("source", Text(plan.source))
    summary.add_row("destination", Text(plan.dest))
    state = str(plan.state_path) + ("" if plan.state_exists else " (absent: nothing done yet)")
    summary.add_row("state", Text(state))
    summary.add_row("to replicate", _count(plan.todo))
    done = _count(plan.done) + (" (--full-refresh)" if plan.full_refresh else "")
    summary.add_row("already done", done)
    parts: list[RenderableType] = [header, summary]
    for title, files in (("to replicate", plan.todo), ("already done", plan.done)):
        if files:
            parts.append(_keys_table(title, files, shown))
    return Group(*parts)


def _count(files: Sequence[FileInfo]) -> str:
    from rich.filesize import decimal  # noqa: PLC0415 - see render_plan

    return f"{count_files(len(files))}, {decimal(sum(f.size for f in files))}"


def _keys_table(title: str, files: Sequence[FileInfo], shown: int | None) -> Table:
    from rich.filesize import decimal  # noqa: PLC0415 - see render_plan
    from rich.table import Table  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    listed = files if shown is None else files[:shown]
    if len(listed) < len(files):
        title += f" (first {len(listed):,} of {len(files):,}; --all shows every key)"
    table = Table(title=title, title_justify="left")
    table.add_column("key", overflow="fold")
    table.add_column("size", justify="right")
    table.add_column("modified")
    for f in listed:
        table.add_row(Text(f.key), decimal(f.size), iso(f.mtime) or "")
    return table


@opt.pipeline_command
def plan(
    full_refresh: opt.FullRefresh = None,
    all_keys: Annotated[
        bool, typer.Option("--all", help=f"List every key, not only the first {DEFAULT_SHOWN}.")
    ] = False,
    json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    **options: Any,
) -> None:
    """Show what `replicate snapshot` with these options would replicate now and skip.

    Takes the snapshot's options: a snapshot command line works with `plan` in its place.

    Options that only shape the run (--concurrency, --quiet, ...) change nothing here.

    Writes nothing: creates no state file and does not touch the destination.
    """
    config, debug = options.pop("config"), options.pop("debug")
    given = {**options, "full_refresh": full_refresh}
    with exit_on_error(debug):
        from_file = load_config(config) if config else {}
        from_cli = coerce({k: v for k, v in given.items() if v is not None}, origin="command line")
        result = make_plan(build_settings(from_file, from_cli))
        shown = None if all_keys else DEFAULT_SHOWN
        if json:
            typer.echo(orjson.dumps(plan_json(result, shown), option=orjson.OPT_INDENT_2).decode())
        else:
            from rich.console import Console  # noqa: PLC0415 - see render_plan

            Console(highlight=False).print(render_plan(result, shown))


__all__ = ["DEFAULT_SHOWN", "Plan", "make_plan", "plan", "plan_json", "render_plan"]
