"""The settings that shape a pipeline's output, remembered in its state.

A rerun with other output settings (another output format, schema hints, null spellings, ...)
must not skip the files completed under the old ones as if they were done: their outputs are
not what the new settings would write. So the state keeps the shaping settings of the last run,
and a run whose settings differ stops with one line naming the change, unless it is a
``--full-refresh`` (or the pipeline has completed nothing yet).

A full refresh starts over: it forgets what was done (an interrupted refresh is carried on by
the next run) and, when only the output format changed, removes the output each file had in the
old format once its new output is in place (``x.csv.parquet`` once the output is jsonl).

Each settings write also stores a new *generation*; every later write of the run checks it
(``CheckpointStore.guard``), so a run that another process has refreshed under it stops instead
of recording files under settings that are no longer the pipeline's.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from replicator.checkpoint.base import CheckpointStore
from replicator.checkpoint.ledger import WATERMARK
from replicator.checkpoint.location import canonical_url
from replicator.config import Settings
from replicator.deadletter.policy import default_dead_letter_url
from replicator.errors import ConfigError
from replicator.storage import protocol_of

SETTINGS_VALUE = "settings.output"
STALE_VALUE = "settings.stale"
GENERATION_VALUE = "settings.generation"
FILTERS_VALUE = "settings.filters"  # of the last run

# What decides the rows and where they land. Not here: which files are taken (include,
# exclude, ...) and how the run goes (concurrency, chunk size, logging).
_SHAPING = (
    "source",
    "dest",
    "endpoint_url",
    "format",
    "compression",
    "system_columns",
    "csv_delimiter",
    "csv_quote_char",
    "csv_header",
    "csv_column_names",
    "csv_null_values",
    "csv_newlines_in_values",
    "encoding",
    "infer_types",
    "schema_hints",
    "schema_evolution",
    "rescued_data_column",
    "output_format",
    "parquet_compression",
    "on_bad_rows",
    "dead_letter",
)
_URLS = ("source", "dest", "dead_letter")
# Output formats that add an extension to the key: two of them never share an output path.
_SUFFIXED = ("parquet", "jsonl", "csv")
# The filters of a run: a refresh under narrower ones has not replaced every old output.
_FILTERS = ("include", "exclude", "modified_after")


def shaping_settings(settings: Settings) -> dict[str, Any]:
    """The output-shaping settings as JSON values; URLs without credentials or queries."""
    values: dict[str, Any] = {}
    for name in _SHAPING:
        value: Any = getattr(settings, name)
        if name == "schema_hints":
            value = settings.hints or None  # --csv-column-types is an alias
        elif name == "endpoint_url":
            value = _endpoint(settings)
        elif name == "dead_letter" and value is None and settings.on_bad_rows == "dead-letter":
            value = default_dead_letter_url(settings.dest)
        if name in _URLS and isinstance(value, str):
            value = same_place(value)
        if isinstance(value, tuple):
            value = [list(v) if isinstance(v, tuple) else v for v in value]
        values[name] = value
    return values


def same_place(url: str) -> str:
    """``url`` as a place: canonical (``canonical_url``), ``s3a://`` as ``s3://``."""
    canonical = canonical_url(url)
    return "s3://" + canonical[len("s3a://") :] if canonical.startswith("s3a://") else canonical


def _endpoint(settings: Settings) -> str | None:
    """The S3 endpoint in use where the pipeline touches S3 (another endpoint, other data)."""
    if not any(protocol_of(u) in ("s3", "s3a") for u in (settings.source, settings.dest) if u):
        return None
    return (
        settings.endpoint_url
        or os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
        or None
    )


def changes(before: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """What differs, as ``name: old -> new``. A setting ``before`` lacks (it was added to
    replicator since) counts as unchanged: runs before it had no such choice."""
    return [
        f"{name.replace('_', '-')}: {_shown(before[name])} -> {_shown(value)}"
        for name, value in now.items()
        if name in before and before[name] != value
    ]


def _shown(value: Any) -> str:
    if value is None:
        return "(default)"
    if isinstance(value, list):
        return ",".join(":".join(v) if isinstance(v, list) else str(v) for v in value) or "(none)"
    return str(value)


@dataclass(frozen=True)
class SettingsCheck:
    """How this run's settings compare with the pipeline's last run."""

    stored: dict[str, Any] | None  # None: the pipeline never ran (or ran before this check)
    current: dict[str, Any]
    changed: tuple[str, ...]
    # Output formats whose outputs, beside the current ones in the same destination, are
    # still to remove as files are redone.
    stale: tuple[str, ...]
    full_refresh: bool = False
    filters: dict[str, Any] | None = None  # this run's filters
    # The filters under which the outputs now stale were written (the runs before the change).
    stale_filters: dict[str, Any] | None = None

    @property
    def needs_reset(self) -> bool:
        """A full refresh starts over: what was done is forgotten first, so that an
        interrupted refresh is carried on by the next run (with its schema, re-inferred)."""
        return self.full_refresh or bool(self.changed)


def check_settings(
    store: CheckpointStore | None, settings: Settings, *, command: str = "snapshot"
) -> SettingsCheck:
    """Compare ``settings`` with those stored; raise ``ConfigError`` (naming the change) when
    they differ, the pipeline has completed files, and this is not a full refresh. Reads only."""
    current = shaping_settings(settings)
    stored_text = store.get_value(SETTINGS_VALUE) if store is not None else None
    stored = orjson.loads(stored_text) if stored_text else None
    stale_entry = _stale_entry(store)
    stale: tuple[str, ...] = tuple(stale_entry.get("formats", ()))
    filters = _filters(settings)
    stale_filters = stale_entry.get("filters")
    changed = tuple(changes(stored, current)) if stored is not None else ()
    if changed and not settings.full_refresh and _has_done_anything(store):
        pipeline = store.pipeline if store is not None else "?"
        remedy = (
            "pass --full-refresh to redo every file with the new settings (outputs of the old "
            "format are removed as files are redone)"
            if command in ("snapshot", "plan")
            else "run `replicate snapshot --full-refresh` with the new settings first"
        )
        raise ConfigError(
            f"the settings that shape the output changed since pipeline {pipeline} last ran "
            f"({'; '.join(changed)}): {remedy}, or run with the old settings"
        )
    if changed and stored is not None:
        old, new = stored.get("output_format"), current["output_format"]
        same_dest = stored.get("dest") == current["dest"]
        if same_dest and old != new and old in _SUFFIXED and new in _SUFFIXED:
            stale = tuple(dict.fromkeys((*stale, str(old))))
            if stale_filters is None:
                last = store.get_value(FILTERS_VALUE) if store is not None else None
                stale_filters = orjson.loads(last) if last else filters
        elif not same_dest:
            stale = ()  # another destination: the old one is left as it is
    stale = tuple(s for s in stale if s != current["output_format"])
    return SettingsCheck(
        stored, current, changed, stale, settings.full_refresh, filters, stale_filters
    )


def remember(store: CheckpointStore, check: SettingsCheck) -> str:
    """Store this run's settings, and guard the run's later writes with their generation
    (returned). A full refresh, or a change, first forgets every record of the pipeline."""
    current = orjson.dumps(check.current).decode()
    generation = store.get_value(GENERATION_VALUE)
    if check.needs_reset or generation is None or check.stored != check.current:
        generation = uuid.uuid4().hex
        values = {SETTINGS_VALUE: current, GENERATION_VALUE: generation}
        if check.stale:
            entry = {"formats": list(check.stale), "filters": check.stale_filters}
            values[STALE_VALUE] = orjson.dumps(entry).decode()
        if check.needs_reset:
            store.reset(values)
        else:
            for name, value in values.items():
                store.set_value(name, value)
    filters = orjson.dumps(check.filters).decode()
    if store.get_value(FILTERS_VALUE) != filters:
        store.set_value(FILTERS_VALUE, filters)
    store.guard(
        GENERATION_VALUE,
        generation,
        f"pipeline {store.pipeline} was refreshed, or its settings changed, by another run "
        "since this one started; this run stops without recording more files: start it again",
    )
    return generation


def forget_stale(store: CheckpointStore, check: SettingsCheck) -> None:
    """A run took every file under the filters the old outputs were written under: no old
    output is left (files since deleted at the source aside, as always)."""
    entry = _stale_entry(store)
    if entry and entry.get("filters") == check.filters:
        store.set_value(STALE_VALUE, "{}")


def _has_done_anything(store: CheckpointStore | None) -> bool:
    if store is None:
        return False
    return any(True for _ in store.list("completed")) or store.get_value(WATERMARK) is not None


def _stale_entry(store: CheckpointStore | None) -> dict[str, Any]:
    text = store.get_value(STALE_VALUE) if store is not None else None
    entry = orjson.loads(text) if text else {}
    return entry if isinstance(entry, dict) else {}


def _filters(settings: Settings) -> dict[str, Any]:
    return {
        name: list(v) if isinstance(v := getattr(settings, name), tuple) else v for name in _FILTERS
    }
