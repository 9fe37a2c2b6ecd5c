"""A pipeline: the pieces a run wires together, built once from ``Settings``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from replicator.checkpoint.location import STATE_ENV, default_pipeline_name, default_state_path
from replicator.checkpoint.sqlite import SqliteCheckpointStore
from replicator.config import Settings
from replicator.deadletter import DeadLetter
from replicator.deadletter.policy import default_dead_letter_url
from replicator.discovery.filters import KeyFilter
from replicator.errors import ConfigError
from replicator.readers.base import CsvOptions, ReaderOptions
from replicator.sinks.files import FilesSink
from replicator.storage import Location, StorageOptions, open_location, protocol_of, redact


@dataclass(frozen=True)
class Pipeline:
    settings: Settings
    name: str
    state_path: Path
    source: Location
    dest: Location
    reader_options: ReaderOptions
    key_filter: KeyFilter
    storage: StorageOptions
    # Where bad rows are written (with --on-bad-rows dead-letter), else None.
    dead_letter: Location | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Pipeline:
        if not settings.source:
            raise ConfigError("no source given; pass SOURCE or set 'source' in the config file")
        if not settings.dest:
            raise ConfigError("no destination given; pass DEST or set 'dest' in the config file")
        storage = StorageOptions(
            endpoint_url=settings.endpoint_url,
            region=settings.region,
            profile=settings.profile,
            anonymous=settings.anonymous,
            verify_tls=settings.verify_tls,
        )
        source = open_location(settings.source, storage)
        dest = open_location(settings.dest, storage)
        if source.protocol == dest.protocol and _overlaps(source.root, dest.root):
            raise ConfigError(
                f"the destination {settings.dest} lies inside the source {settings.source} "
                "(or the reverse); pick a destination outside the source"
            )
        reader_options = ReaderOptions(
            format=settings.format,  # type: ignore[arg-type]
            compression=settings.compression,  # type: ignore[arg-type]
            chunk_size=settings.chunk_size,
            system_columns=settings.system_columns,
            csv=CsvOptions(
                delimiter=settings.csv_delimiter,
                quote_char=settings.csv_quote_char,
                header=settings.csv_header,
                column_names=settings.csv_column_names,
                null_values=settings.csv_null_values,
                column_types=settings.csv_column_types,
                newlines_in_values=settings.csv_newlines_in_values,
            ),
            encoding=settings.encoding,  # type: ignore[arg-type]
            infer_types=settings.infer_types,
        )
        dead_letter = None
        if settings.on_bad_rows == "dead-letter":
            url = settings.dead_letter or default_dead_letter_url(settings.dest)
            dead_letter = open_location(url, storage)
            if dead_letter.protocol == source.protocol and _overlaps(source.root, dead_letter.root):
                raise ConfigError(
                    f"the dead-letter location {url} lies inside the source {settings.source} "
                    "(or the reverse); pass --dead-letter with a place outside the source"
                )
        if settings.output_format == "raw":
            reader_options = ReaderOptions(
                format="raw", chunk_size=settings.chunk_size, system_columns=False
            )
        return cls(
            settings=settings,
            name=settings.name or default_pipeline_name(settings.source, settings.dest),
            state_path=state_path(settings.state),
            source=source,
            dest=dest,
            reader_options=reader_options,
            key_filter=KeyFilter(
                include=settings.include,
                exclude=settings.exclude,
                modified_after=settings.modified_after,
                skip_empty=settings.skip_empty,
            ),
            storage=storage,
            dead_letter=dead_letter,
        )

    def open_store(self) -> SqliteCheckpointStore:
        return SqliteCheckpointStore(self.state_path, self.name)

    def open_dead_letter(self) -> DeadLetter:
        """Where this run's bad rows go, by ``--on-bad-rows``; close it with the run."""
        if self.dead_letter is None:
            return DeadLetter(self.settings.on_bad_rows)  # type: ignore[arg-type]
        return DeadLetter("dead-letter", FilesSink(self.dead_letter, output_format="jsonl"))

    def open_sink(self, stale: Sequence[str] = ()) -> FilesSink:
        """The sink; outputs of the ``stale`` output formats are removed as files are redone."""
        return FilesSink(
            self.dest,
            output_format=self.settings.output_format,  # type: ignore[arg-type]
            parquet_compression=self.settings.parquet_compression,
            stale=[(self.dest, fmt) for fmt in stale],  # type: ignore[misc]
        )


def state_path(setting: str | None) -> Path:
    """The SQLite state file: ``--state``, else ``$REPLICATOR_STATE``, else the default. A
    URL other than ``file://`` is refused: the state is a file on a local disk."""
    given, origin = setting, "--state"
    if not given:
        given, origin = os.environ.get(STATE_ENV) or None, STATE_ENV
    if not given:
        return default_state_path()
    if given.startswith("file://"):
        given = given.removeprefix("file://")
    elif protocol_of(given) != "file":
        raise ConfigError(
            f"{origin} {redact(given)}: the state is an SQLite file on a local disk; give a "
            "local path such as ./state.db (the destination may still be remote)"
        )
    return Path(given).expanduser()


def _overlaps(a: str, b: str) -> bool:
    a, b = a.rstrip("/") + "/", b.rstrip("/") + "/"
    return a.startswith(b) or b.startswith(a)
