"""``replicate plan``: what a snapshot with the same options would replicate now, and skip.

The plan itself is ``runner.preview.make_plan``, which groups the files with the snapshot's own
``plan_files``, so both agree. It writes nothing: the state file is opened only if it exists,
the destination is never touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from replicator.cli import options as opt
from replicator.cli.state_cmd import count_files, exit_on_error, iso, stdout_console
from replicator.config import settings_from
from replicator.model import FileInfo
from replicator.runner.preview import Plan, make_plan

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.table import Table

DEFAULT_SHOWN = 50


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
        "failed_before": _group_json(plan.failed_before, shown),
        "skipped_unknown_format": _group_json(plan.unknown_format, shown),
        "skipped_too_new": _group_json(plan.too_new, shown),
        "settings_changed": list(plan.changed),
        "stale_output_formats": list(plan.stale),
        "warnings": list(plan.warnings),
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
    if plan.changed:
        summary.add_row("settings changed", Text("; ".join(plan.changed)))
    if plan.stale:
        old = ", ".join(plan.stale)
        summary.add_row("old outputs", Text(f"{old} outputs are removed as their files are redone"))
    summary.add_row("to replicate", _count(plan.todo))
    done = _count(plan.done) + (" (--full-refresh)" if plan.full_refresh else "")
    summary.add_row("already done", done)
    summary.add_row("failed before", _count(plan.failed_before) + _retry_hint(plan))
    skipped = len(plan.unknown_format) + len(plan.too_new)
    summary.add_row("skipped", count_files(skipped))
    parts: list[RenderableType] = [header, summary]
    parts += [Text(f"warning: {line}", style="yellow") for line in plan.warnings]
    groups = (
        ("to replicate", plan.todo),
        ("already done", plan.done),
        ("failed before", plan.failed_before),
        ("skipped: unknown format", plan.unknown_format),
        ("skipped: modified too recently", plan.too_new),
    )
    for title, files in groups:
        if files:
            parts.append(_keys_table(title, files, shown))
    return Group(*parts)


def _retry_hint(plan: Plan) -> str:
    return " (skipped; --retry-failed retries them)" if plan.failed_before else ""


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
    retry_failed: opt.RetryFailed = None,
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
    given = {**options, "full_refresh": full_refresh, "retry_failed": retry_failed}
    with exit_on_error(debug):
        result = make_plan(settings_from(config, given, origin="command line"))
        shown = None if all_keys else DEFAULT_SHOWN
        if json:
            typer.echo(orjson.dumps(plan_json(result, shown), option=orjson.OPT_INDENT_2).decode())
        else:
            stdout_console().print(render_plan(result, shown))


__all__ = ["DEFAULT_SHOWN", "Plan", "make_plan", "plan", "plan_json", "render_plan"]
