"""Checkpoint stores: durable per-pipeline state of which files are done."""

from replicator.checkpoint.base import CheckpointStore, FileRecord, SchemaVersion, Status
from replicator.checkpoint.location import default_pipeline_name, default_state_path
from replicator.checkpoint.sqlite import SqliteCheckpointStore, pipelines

__all__ = [
    "CheckpointStore",
    "FileRecord",
    "SchemaVersion",
    "SqliteCheckpointStore",
    "Status",
    "default_pipeline_name",
    "default_state_path",
    "pipelines",
]
