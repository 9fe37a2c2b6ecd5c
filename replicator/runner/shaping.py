"""The settings that shape a pipeline's output, remembered in its state.

A rerun with other output settings (another output format, column types, null spellings, ...)
must not skip the files completed under the old ones as if they were done: their outputs are
not what the new settings would write. So the state keeps the shaping settings of the last run,
and a run whose settings differ stops with one line naming the change, unless it is a
``--full-refresh``. A full refresh then forgets what was done, redoes every file, and removes the
outputs the old settings wrote where the new ones write elsewhere (``x.parquet`` once the
output is jsonl), each when its file's new output is in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from replicator.checkpoint.base import CheckpointStore
from replicator.checkpoint.location import _canonical as canonical_url
from replicator.config import Settings
from replicator.deadletter.policy import default_dead_letter_url
from replicator.errors import ConfigError

SETTINGS_VALUE = "settings.output"
STALE_VALUE = "settings.stale"

# What decides the rows and where they land. Not here: which files are taken (include,
# exclude, ...) and how the run goes (concurrency, chunk size, logging).
_SHAPING = (
    "source",
    "dest",
    "format",
    "compression",
    "system_columns",
    "csv_delimiter",
    "csv_quote_char",
    "csv_header",
    "csv_column_names",
    "csv_null_values",
    "csv_newlines_in_values",
    "schema_hints",
    "schema_evolution",
    "rescued_data_column",
    "output_format",
    "parquet_compression",
    "on_bad_rows",
    "dead_letter",
)
_URLS = ("source", "dest", "dead_letter")


@dataclass(frozen=True, slots=True)
class Layout:
    """Where a pipeline's outputs were written: the destination and the output format."""

    dest: str
    output_format: str


def shaping_settings(settings: Settings) -> dict[str, Any]:
    """The output-shaping settings as JSON values; URLs without credentials or queries."""
    values: dict[str, Any] = {}
    for name in _SHAPING:
        # --csv-column-types is an alias of --schema-hints: both are the hints.
        value: Any = settings.hints or None if name == "schema_hints" else getattr(settings, name)
        if name == "dead_letter" and value is None and settings.on_bad_rows == "dead-letter":
            value = default_dead_letter_url(settings.dest)
        if name in _URLS and isinstance(value, str):
            value = canonical_url(value)
        if isinstance(value, tuple):
            value = [list(v) if isinstance(v, tuple) else v for v in value]
        values[name] = value
    return values


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
    stale: tuple[Layout, ...]  # layouts whose outputs a full refresh still has to remove
    full_refresh: bool = False

    @property
    def needs_reset(self) -> bool:
        """A full refresh starts over: what was done is forgotten first, so that an
        interrupted refresh is carried on by the next run (with its schema, re-inferred)."""
        return self.full_refresh


def check_settings(
    store: CheckpointStore | None, settings: Settings, *, command: str = "snapshot"
) -> SettingsCheck:
    """Compare ``settings`` with those stored; raise ``ConfigError`` (naming the change) when
    they differ and this is not a full refresh. Reads only."""
    current = shaping_settings(settings)
    stored_text = store.get_value(SETTINGS_VALUE) if store is not None else None
    stored = orjson.loads(stored_text) if stored_text else None
    stale = _stale_layouts(store)
    changed = tuple(changes(stored, current)) if stored is not None else ()
    if changed and not settings.full_refresh:
        pipeline = store.pipeline if store is not None else "?"
        remedy = (
            "pass --full-refresh to redo every file with the new settings (outputs the old "
            "ones wrote are removed)"
            if command in ("snapshot", "plan")
            else "run `replicate snapshot --full-refresh` with the new settings first"
        )
        raise ConfigError(
            f"the settings that shape the output changed since pipeline {pipeline} last ran "
            f"({'; '.join(changed)}): {remedy}, or run with the old settings"
        )
    if changed and stored is not None:
        old = Layout(str(stored.get("dest")), str(stored.get("output_format")))
        new = Layout(str(current["dest"]), str(current["output_format"]))
        if old != new and old not in stale:
            stale = (*stale, old)
    return SettingsCheck(stored, current, changed, stale, settings.full_refresh)


def remember(store: CheckpointStore, check: SettingsCheck) -> None:
    """Store this run's settings. For a full refresh, first forget every record of the
    pipeline, so that an interrupted refresh is carried on by the next run instead of counting
    files done before the refresh (or under the old settings) as done."""
    current = orjson.dumps(check.current).decode()
    if check.needs_reset:
        values = {SETTINGS_VALUE: current}
        if check.stale:
            values[STALE_VALUE] = orjson.dumps([_layout_json(s) for s in check.stale]).decode()
        store.reset(values)
    elif check.stored != check.current:
        store.set_value(SETTINGS_VALUE, current)


def forget_stale(store: CheckpointStore) -> None:
    """Every file has its output in the current layout: no stale output is left to remove."""
    if store.get_value(STALE_VALUE):
        store.set_value(STALE_VALUE, "[]")


def _stale_layouts(store: CheckpointStore | None) -> tuple[Layout, ...]:
    text = store.get_value(STALE_VALUE) if store is not None else None
    if not text:
        return ()
    return tuple(Layout(str(v["dest"]), str(v["output_format"])) for v in orjson.loads(text))


def _layout_json(layout: Layout) -> dict[str, str]:
    return {"dest": layout.dest, "output_format": layout.output_format}
