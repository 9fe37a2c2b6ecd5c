"""What a snapshot would do now, without doing it: ``replicate plan`` and ``replicator.plan``."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from replicator.checkpoint.location import canonical_url as without_secrets
from replicator.config import Settings
from replicator.discovery.listing import list_source, require_source
from replicator.model import FileInfo
from replicator.runner.pipeline import Pipeline
from replicator.runner.planning import plan_files
from replicator.runner.shaping import check_settings
from replicator.storage import redact


@dataclass(frozen=True)
class Plan:
    """The outcome of a plan: each listed file's group, in listing order."""

    pipeline: str
    state_path: Path
    state_exists: bool
    source: str
    dest: str
    full_refresh: bool
    todo: tuple[FileInfo, ...]
    done: tuple[FileInfo, ...]
    failed_before: tuple[FileInfo, ...] = ()
    unknown_format: tuple[FileInfo, ...] = ()
    too_new: tuple[FileInfo, ...] = ()
    changed: tuple[str, ...] = ()  # output settings changed since the last run (full refresh)
    stale: tuple[str, ...] = ()  # output formats whose outputs are removed as files are redone
    warnings: tuple[str, ...] = ()


def make_plan(settings: Settings) -> Plan:
    """List the source and group its files as ``replicate snapshot`` would (the same
    ``plan_files``), with the same errors. Writes nothing."""
    pipeline = Pipeline.from_settings(settings)
    exists = pipeline.state_path.is_file()
    # Opening the store would create the file: with no file, nothing is done yet.
    with contextlib.ExitStack() as stack:
        store = stack.enter_context(pipeline.open_store()) if exists else None
        check = check_settings(store, settings, command="plan")
        listing = list_source(
            pipeline.source, pipeline.key_filter, follow_symlinks=settings.follow_symlinks
        )
        require_source(pipeline.source, listing)
        if check.needs_reset:
            store = None  # a full refresh after a change forgets every record first
        planned = plan_files(
            listing,
            store,
            settings,
            pipeline.reader_options,
            pipeline.key_filter,
            source=redact(settings.source),
        )
    return Plan(
        pipeline=pipeline.name,
        state_path=pipeline.state_path,
        state_exists=exists,
        # URLs may carry credentials or signed queries; those never reach the output.
        source=_shown_url(settings.source),
        dest=_shown_url(settings.dest),
        full_refresh=settings.full_refresh,
        todo=planned.todo,
        done=planned.done,
        failed_before=tuple(f for f, _ in planned.failed_before),
        unknown_format=planned.unknown_format,
        too_new=planned.too_new,
        changed=check.changed,
        stale=check.stale,
        warnings=planned.warnings,
    )


def _shown_url(url: str) -> str:
    return without_secrets(url).removeprefix("file://")


__all__ = ["Plan", "make_plan"]
