"""Sinks: where chunks are written and made durable per source file."""

from replicator.sinks.base import Committed, Sink
from replicator.sinks.files import FilesSink
from replicator.sinks.paths import OUTPUT_FORMATS, OutputFormat, output_key
from replicator.sinks.writers import SinkError

__all__ = [
    "OUTPUT_FORMATS",
    "Committed",
    "FilesSink",
    "OutputFormat",
    "Sink",
    "SinkError",
    "output_key",
]
