"""Pipeline settings: one frozen dataclass, loaded from a TOML file and overridden by the CLI.

Unknown keys are an error that names the key; values are checked once, here, so the rest of the
code can trust them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from replicator.deadletter.policy import BAD_ROW_POLICIES
from replicator.errors import ConfigError
from replicator.readers.base import COMPRESSIONS, DEFAULT_CHUNK_SIZE, ENCODINGS, FORMATS
from replicator.readers.csvtypes import TypeSpecError, parse_column_types
from replicator.schema.conform import MODES as EVOLUTION_MODES
from replicator.storage import protocol_of
from replicator.units import parse_duration, parse_size

OutputFormat = Literal["parquet", "jsonl", "csv", "raw"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("parquet", "jsonl", "csv", "raw")
LOG_FORMATS = ("auto", "text", "json")


def default_concurrency() -> int:
    # Parsing is CPU-bound but releases the GIL; S3 reads are I/O-bound: a few per core pays.
    return max(2, min(16, (os.cpu_count() or 2) * 2))


@dataclass(frozen=True)
class Settings:
    """Everything a run needs. Field names are the TOML keys (``-`` and ``_`` both accepted)."""

    source: str = ""
    dest: str = ""
    name: str | None = None
    state: str | None = None
    # reading
    format: str | None = None
    compression: str = "infer"
    chunk_size: int = DEFAULT_CHUNK_SIZE
    system_columns: bool = True
    csv_delimiter: str | None = None
    csv_quote_char: str | None = '"'
    csv_header: bool = True
    csv_column_names: tuple[str, ...] | None = None
    csv_null_values: tuple[str, ...] | None = None
    # (column, Arrow type name) pairs; from "a:int64,b:string" or a {column = type} table. An
    # alias of schema_hints, kept for CSV users.
    csv_column_types: tuple[tuple[str, str], ...] | None = None
    csv_newlines_in_values: bool = True
    encoding: str = "utf-8"  # of the text formats
    infer_types: bool = True  # False: every CSV and JSON column as text
    # discovery
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    modified_after: float | None = None
    skip_empty: bool = True
    # Files modified less than this long ago are left for a later pass (still being written).
    # None: 5 s for a polling watch, 0 for a snapshot and for S3 events (see ``min_age_for``).
    min_age: float | None = None
    follow_symlinks: bool = True
    # schema: hints (dotted paths for nested fields), evolution, rescued values, the sample
    schema_hints: tuple[tuple[str, str], ...] | None = None
    schema_evolution: str = "add-columns"
    rescued_data_column: str = "_rescued_data"  # "" switches it off
    schema_sample_files: int = 1000
    schema_sample_bytes: int = 256 * 1024 * 1024
    # writing
    output_format: str = "parquet"
    parquet_compression: str = "zstd"
    # running
    concurrency: int = field(default_factory=default_concurrency)
    inflight_limit: int = 256 * 1024 * 1024
    full_refresh: bool = False
    retry_failed: bool = False
    on_bad_rows: str = "dead-letter"
    dead_letter: str | None = None  # default: <dest>/_dead_letter
    quiet: bool = False
    log_format: str = "auto"  # auto: a live view on a terminal, text lines elsewhere
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    # watch
    poll_interval: float = 30.0
    max_poll_interval: float = 300.0
    poll_overlap: float = 3600.0
    sqs: str | None = None
    backfill: bool = False
    propagate_deletes: bool = False
    sqs_wait_seconds: int = 20
    visibility_timeout: int | None = None
    # storage
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    anonymous: bool = False
    verify_tls: bool = True

    def __post_init__(self) -> None:
        # The Python API passes raw values ("8MiB", "*.csv"): check and convert them as the
        # command line's are, with the same messages.
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and value != f.default:
                object.__setattr__(self, f.name, _convert(f.name, value, None))
        if self.format is not None and self.format not in FORMATS:
            raise ConfigError(f"format: {self.format!r} is not one of {', '.join(FORMATS)}")
        if self.compression not in COMPRESSIONS:
            raise ConfigError(
                f"compression: {self.compression!r} is not one of {', '.join(COMPRESSIONS)}"
            )
        if self.output_format not in OUTPUT_FORMATS:
            raise ConfigError(
                f"output-format: {self.output_format!r} is not one of {', '.join(OUTPUT_FORMATS)}"
            )
        if self.output_format == "raw" and self.format not in (None, "raw"):
            raise ConfigError(
                "output-format raw mirrors bytes; it needs --format raw (or no format)"
            )
        if self.concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1 (got {self.concurrency})")
        if self.chunk_size < 1024:
            raise ConfigError(f"chunk-size must be at least 1KiB (got {self.chunk_size})")
        if self.inflight_limit < 1:
            raise ConfigError("inflight-limit must be positive")
        if not 0 <= self.sqs_wait_seconds <= 20:
            raise ConfigError("sqs-wait-seconds must be from 0 to 20 (SQS long polling)")
        if (self.backfill or self.propagate_deletes) and not self.sqs:
            raise ConfigError("--backfill and --propagate-deletes go with --sqs QUEUE_URL")
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(
                f"log-format: {self.log_format!r} is not one of {', '.join(LOG_FORMATS)}"
            )
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ConfigError(f"metrics-port must be from 0 to 65535 (got {self.metrics_port})")
        if self.on_bad_rows not in BAD_ROW_POLICIES:
            raise ConfigError(
                f"on-bad-rows: {self.on_bad_rows!r} is not one of {', '.join(BAD_ROW_POLICIES)}"
            )
        if self.schema_evolution not in EVOLUTION_MODES:
            raise ConfigError(
                f"schema-evolution: {self.schema_evolution!r} is not one of "
                f"{', '.join(EVOLUTION_MODES)}"
            )
        if self.schema_sample_files < 1:
            raise ConfigError("schema-sample-files must be at least 1")
        if self.csv_column_types and self.schema_hints:
            clash = {n for n, _ in self.csv_column_types} & {n for n, _ in self.schema_hints}
            if any(dict(self.csv_column_types)[n] != dict(self.schema_hints)[n] for n in clash):
                raise ConfigError(
                    f"{', '.join(sorted(clash))}: typed differently in --csv-column-types and "
                    "--schema-hints; give each column once (--csv-column-types is an alias)"
                )
        if self.encoding not in ENCODINGS:
            raise ConfigError(f"encoding: {self.encoding!r} is not one of {', '.join(ENCODINGS)}")
        if self.csv_delimiter is not None and len(self.csv_delimiter) != 1:
            raise ConfigError(f"csv-delimiter must be one character (got {self.csv_delimiter!r})")

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def hints(self) -> tuple[tuple[str, str], ...]:
        """``schema_hints`` and ``csv_column_types`` (its alias), each column once."""
        merged = dict(self.csv_column_types or ())
        merged.update(dict(self.schema_hints or ()))
        return tuple(merged.items())


_FIELDS = {f.name: f for f in fields(Settings)}
_HINTS = typing.get_type_hints(Settings)
_SIZE_FIELDS = {"chunk_size", "inflight_limit", "schema_sample_bytes"}
_DURATION_FIELDS = {"poll_interval", "max_poll_interval", "poll_overlap", "min_age"}
# Settings naming places; in a config file a relative local path is relative to the file.
_PATH_FIELDS = ("source", "dest", "state", "dead_letter")


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a TOML config file into checked values keyed by ``Settings`` field names."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror or exc}") from None
    values = coerce(raw, origin=str(path))
    # As Docker Compose, Vector and dbt do: the file means the same wherever it is run from.
    folder = path.resolve().parent
    for name in _PATH_FIELDS:
        value = values.get(name)
        if isinstance(value, str) and _is_relative_local(value):
            values[name] = os.path.normpath(folder / value)
    return values


def _is_relative_local(value: str) -> bool:
    if not value or protocol_of(value) != "file" or value.startswith("file://"):
        return False
    return not os.path.isabs(os.path.expanduser(value))


def coerce(raw: Mapping[str, Any], *, origin: str) -> dict[str, Any]:
    """Check and convert raw values (from TOML or the CLI) to ``Settings`` field types."""
    values: dict[str, Any] = {}
    for key, value in _flatten(raw).items():
        name = key.replace("-", "_")
        if name not in _FIELDS:
            raise ConfigError(f"{origin}: unknown key {key!r}; {_suggest(name)}")
        values[name] = _convert(name, value, origin)
    return values


def _suggest(name: str) -> str:
    known = sorted(n.replace("_", "-") for n in _FIELDS)
    close = difflib.get_close_matches(name.replace("_", "-"), known, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"known keys: {', '.join(known)}"


def _flatten(raw: Mapping[str, Any]) -> dict[str, Any]:
    # A [csv] table is sugar for csv-* keys.
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "csv" and isinstance(value, Mapping):
            for sub, sub_value in value.items():
                flat[f"csv_{sub.replace('-', '_')}"] = sub_value
        else:
            flat[key] = value
    return flat


def _convert(name: str, value: Any, origin: str | None) -> Any:
    setting = name.replace("_", "-")
    if origin is not None:
        setting = f"{origin}: {setting}"
    if name in _SIZE_FIELDS:
        return parse_size(value, setting=setting)
    if name in _DURATION_FIELDS:
        return parse_duration(value, setting=setting)
    if name == "modified_after":
        return parse_timestamp(value, setting=setting)
    if name in ("csv_column_types", "schema_hints"):
        return _column_types(value, setting)
    return _check_type(_HINTS[name], value, setting)


def _column_types(value: Any, setting: str) -> tuple[tuple[str, str], ...]:
    try:
        return parse_column_types(value)
    except TypeSpecError as exc:
        raise ConfigError(f"{setting}: {exc}") from None


def _check_type(hint: Any, value: Any, setting: str) -> Any:
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _check_type(inner[0], value, setting)
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{setting} must be a list of strings (got {value!r})")
        return tuple(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{setting} must be true or false (got {value!r})")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{setting} must be a whole number (got {value!r})")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{setting} must be a number (got {value!r})")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{setting} must be a string (got {value!r})")
        return value
    return value


def parse_timestamp(value: Any, *, setting: str = "modified-after") -> float:
    """Seconds since the epoch from a number, an ISO 8601 string or a TOML datetime."""
    if isinstance(value, dt.datetime):
        stamp = value
    elif isinstance(value, dt.date):
        stamp = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    elif isinstance(value, str):
        try:
            stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(
                f"{setting}: cannot read {value!r} as a time; use ISO 8601, e.g. 2026-01-31T12:00:00Z"
            ) from None
    else:
        raise ConfigError(f"{setting}: cannot read {value!r} as a time")
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return stamp.timestamp()


def settings_from(
    config: str | os.PathLike[str] | None, given: Mapping[str, Any], *, origin: str
) -> Settings:
    """The config file's values (if any), then the ``given`` ones that are not None (checked
    with ``origin`` in their messages): what every command and the Python API run with."""
    from_file = load_config(config) if config else {}
    overrides = coerce({k: v for k, v in given.items() if v is not None}, origin=origin)
    return build_settings(from_file, overrides)


def build_settings(config: Mapping[str, Any], overrides: Mapping[str, Any]) -> Settings:
    """Defaults, then the config file's values, then the command line's (only those given)."""
    merged = {**config, **{k: v for k, v in overrides.items() if v is not None}}
    return Settings(**merged)
