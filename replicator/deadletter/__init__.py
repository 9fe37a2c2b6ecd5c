"""Bad rows: what happens to a row the reader cannot parse (``--on-bad-rows``).

``fail`` fails its file (the reader raises), ``skip`` only counts it, ``dead-letter`` (the
default) counts it and writes it, with its file, line, byte offset, raw text and reason, to
``<dead-letter>/<key>.badrows.jsonl``. That object is published with the file's output, just
before it, so a file redone after a crash or a failure rewrites it instead of appending twice.
"""

from __future__ import annotations

from replicator.deadletter.policy import BAD_ROW_POLICIES, DEFAULT_FOLDER, BadRowPolicy
from replicator.deadletter.records import SCHEMA, dead_letter_key, to_batch
from replicator.deadletter.router import DeadLetter, Lettered

__all__ = [
    "BAD_ROW_POLICIES",
    "DEFAULT_FOLDER",
    "SCHEMA",
    "BadRowPolicy",
    "DeadLetter",
    "Lettered",
    "dead_letter_key",
    "to_batch",
]
