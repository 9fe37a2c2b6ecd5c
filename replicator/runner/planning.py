"""What a snapshot does with each listed file: replicate it, or skip it and why.

``replicate snapshot`` and ``replicate plan`` both call ``plan_files``, so for the same command
line they give the same counts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from replicator.checkpoint.base import CheckpointStore
from replicator.checkpoint.ledger import Ledger
from replicator.config import Settings
from replicator.discovery.filters import KeyFilter, too_new
from replicator.discovery.listing import Listing
from replicator.model import FileInfo
from replicator.readers.base import ReaderOptions
from replicator.readers.formats import infer_format

# Files modified this recently are probably still being written (see ``min_age_for``).
WATCH_MIN_AGE = 5.0
# Keys named in one line of a message; the rest are counted.
_NAMED = 5


@dataclass(frozen=True)
class RunPlan:
    """The listed files, each in one group, in listing order."""

    listing: Listing
    todo: tuple[FileInfo, ...] = ()
    done: tuple[FileInfo, ...] = ()
    # Failed before at the same version: skipped unless --retry-failed. With the stored reason.
    failed_before: tuple[tuple[FileInfo, str], ...] = ()
    unknown_format: tuple[FileInfo, ...] = ()
    too_new: tuple[FileInfo, ...] = ()
    warnings: tuple[str, ...] = ()


def readable(key: str, options: ReaderOptions) -> bool:
    """Whether a reader knows the format of ``key``: given, or named by its extension."""
    return options.format is not None or infer_format(key) is not None


def min_age_for(settings: Settings, *, polling: bool) -> float:
    """``--min-age``, else its default: a polling watch leaves files modified in the last
    few seconds for its next pass (a file still being copied in has a fresh mtime); a
    snapshot, or a watch on S3 events (sent once an upload is complete), takes every file."""
    if settings.min_age is not None:
        return settings.min_age
    return WATCH_MIN_AGE if polling else 0.0


def split_unready(
    files: Sequence[FileInfo], options: ReaderOptions, min_age: float, now: float
) -> tuple[list[FileInfo], list[FileInfo], list[FileInfo]]:
    """(ready, of unknown format, too new) of ``files``, keeping their order."""
    ready: list[FileInfo] = []
    unknown: list[FileInfo] = []
    young: list[FileInfo] = []
    for file in files:
        if not readable(file.key, options):
            unknown.append(file)
        elif too_new(file.mtime, now, min_age):
            young.append(file)
        else:
            ready.append(file)
    return ready, unknown, young


def plan_files(
    listing: Listing,
    store: CheckpointStore | None,
    settings: Settings,
    options: ReaderOptions,
    key_filter: KeyFilter,
    *,
    source: str,
    now: float | None = None,
) -> RunPlan:
    """Group the listed files as a snapshot with ``settings`` would. Reads the store only.

    ``store`` is None when the state holds nothing yet. Failed files are never counted as
    done: they are retried with ``--retry-failed`` (or ``--full-refresh``), else skipped and
    reported.
    """
    now = time.time() if now is None else now
    min_age = min_age_for(settings, polling=False)
    ready, unknown, young = split_unready(listing.files, options, min_age, now)
    done: list[FileInfo] = []
    failed: list[tuple[FileInfo, str]] = []
    todo = ready
    if store is not None:
        todo, done = Ledger(store, settings.poll_overlap).split(
            ready, full_refresh=settings.full_refresh
        )
        if not (settings.retry_failed or settings.full_refresh):
            todo, failed = _leave_failed(store, todo)
    plan = RunPlan(listing, tuple(todo), tuple(done), tuple(failed), tuple(unknown), tuple(young))
    return replace(plan, warnings=tuple(plan_warnings(plan, key_filter, source, min_age)))


def plan_warnings(plan: RunPlan, key_filter: KeyFilter, source: str, min_age: float) -> list[str]:
    """What the user should hear about files left alone, one line each."""
    lines: list[str] = []
    nothing = filters_warning(plan.listing, key_filter, source)
    if nothing:
        lines.append(nothing)
    if plan.unknown_format:
        lines.append(unknown_format_warning(plan.unknown_format))
    if plan.too_new:
        lines.append(
            f"{_files(len(plan.too_new))} modified in the last {min_age:g} s left for the next "
            f"run (--min-age): {_named(plan.too_new)}"
        )
    return lines


def filters_warning(listing: Listing, key_filter: KeyFilter, source: str) -> str | None:
    """The warning for a listing that took no file, naming the filters; None if it took some."""
    if listing.files:
        return None
    if not listing.seen:
        return f"no files under {source}; check the path"
    hidden = (
        f", {listing.hidden:,} of them with names starting with '.' or '_'"
        if listing.hidden
        else ""
    )
    return (
        f"no file under {source} matches the filters ({key_filter.describe()}): "
        f"{listing.seen:,} listed, none taken{hidden}; check the filters"
    )


def unknown_format_warning(files: Sequence[FileInfo]) -> str:
    return (
        f"{_files(len(files))} of unknown format skipped: {_named(files)}; pass --format to read "
        "them, or --exclude to leave them out quietly"
    )


def _files(n: int) -> str:
    return f"{n:,} file" if n == 1 else f"{n:,} files"


def _named(files: Sequence[FileInfo]) -> str:
    keys = ", ".join(f.key for f in files[:_NAMED])
    return keys + (f", and {len(files) - _NAMED:,} more" if len(files) > _NAMED else "")


def _leave_failed(
    store: CheckpointStore, todo: list[FileInfo]
) -> tuple[list[FileInfo], list[tuple[FileInfo, str]]]:
    """(to do, failed before) of ``todo``: files that failed at this same version are left out
    (retrying them is ``--retry-failed``'s job); a changed file is always tried again."""
    records = store.get_many([f.key for f in todo])
    keep: list[FileInfo] = []
    left: list[tuple[FileInfo, str]] = []
    for file in todo:
        record = records.get(file.key)
        if record is not None and record.status == "failed" and record.matches(file):
            left.append((file, record.error or ""))
        else:
            keep.append(file)
    return keep, left
