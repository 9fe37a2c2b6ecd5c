"""The schema stage in a run: opened from the settings, started on the files to do, heard by
the sink, and giving each file its reader options and conformer."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pyarrow as pa

from replicator.checkpoint.base import CheckpointStore
from replicator.model import FileInfo
from replicator.readers.base import ReaderOptions
from replicator.readers.columns import FILE_COLUMN, ROW_COLUMN, SYSTEM_COLUMNS
from replicator.runner.events import EventHandler, SchemaChanged
from replicator.runner.pipeline import Pipeline
from replicator.schema.conform import Mode, Target
from replicator.schema.hints import hints_from
from replicator.schema.sample import SampleLimits, sample_schema
from replicator.schema.stage import SchemaStage, StageOptions
from replicator.sinks.base import Sink


def open_stage(pipeline: Pipeline, store: CheckpointStore) -> SchemaStage | None:
    """The pipeline's schema stage; None for a byte-for-byte mirror, which has no rows."""
    settings = pipeline.settings
    if pipeline.reader_options.format == "raw":
        return None
    options = StageOptions(
        mode=Mode(settings.schema_evolution),
        hints=hints_from(settings.hints),
        rescue_column=settings.rescued_data_column or None,
        reserved=frozenset(SYSTEM_COLUMNS) if settings.system_columns else frozenset(),
    )
    return SchemaStage(store, options)


def start_stage(
    stage: SchemaStage,
    pipeline: Pipeline,
    files: Sequence[FileInfo],
    sink: Sink,
    events: EventHandler,
    *,
    reinfer: bool = False,
) -> Target:
    """The stored schema, or one inferred from a sample of ``files``; the sink hears of it
    and of every later version (as does ``events``)."""
    settings = pipeline.settings
    limits = SampleLimits(files=settings.schema_sample_files, bytes=settings.schema_sample_bytes)

    def infer() -> tuple[pa.Schema, int]:
        sample = sample_schema(
            pipeline.source.fs,
            files,
            pipeline.reader_options,
            limits,
            threads=settings.concurrency,
        )
        return sample.schema, sample.files

    target = stage.start(infer, reinfer=reinfer)
    system = settings.system_columns

    def heard(target: Target) -> None:
        sink.schema_changed(output_schema(target, system_columns=system), target.version)

    stage.listen(heard)
    stage.listen(lambda t: events(SchemaChanged(t.version, t.changes, t.cause)))
    return target


def output_schema(target: Target, *, system_columns: bool) -> pa.Schema:
    """The schema the destination's readers should use: the published one, then the system
    columns."""
    schema = target.published_schema()
    if system_columns:
        schema = schema.append(pa.field(FILE_COLUMN, pa.string()))
        schema = schema.append(pa.field(ROW_COLUMN, pa.int64()))
    return schema


def file_options(options: ReaderOptions, target: Target | None) -> ReaderOptions:
    """The reader options of a file read under ``target``: its known column types."""
    if target is None:
        return options
    known = pa.schema([f for f in target.schema if not pa.types.is_null(f.type)])
    return dataclasses.replace(options, schema=known)
