"""The pipeline schema during a run: its current version, how it changes, who hears of it.

The stage sits between readers and sinks. At the start of a run it takes the stored schema, or
infers one from a sample of the files to do (and stores it as a new version). Each file is read
with the version current when it starts (``target()``), and conformed to it (``conformer``).
When a file needs the schema to change (``Evolve``), ``evolve`` widens the *current* version
(another file may have changed it meanwhile: changes merge, none is lost), stores the new
version with what changed and why, tells the listeners (the sink writes its schema before any
row needs it), and the file is read again under it. Older outputs keep their types, each of
which casts to the new one without loss: evolution only widens and adds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyarrow as pa

from replicator.checkpoint.base import CheckpointStore, SchemaVersion
from replicator.errors import ConfigError
from replicator.schema.conform import Change, Conformer, Mode, Target
from replicator.schema.hints import Hint, apply_hints, hinted_paths
from replicator.schema.types import normalize, widen

Listener = Callable[[Target], None]


@dataclass(frozen=True)
class StageOptions:
    mode: Mode = Mode.ADD_COLUMNS
    hints: tuple[Hint, ...] = ()
    rescue_column: str | None = "_rescued_data"
    reserved: frozenset[str] = frozenset()  # the system columns' names, when they are on


class SchemaStage:
    """Thread-safe. ``store`` keeps the versions; listeners hear of each new one."""

    def __init__(self, store: CheckpointStore, options: StageOptions = StageOptions()) -> None:
        self._store = store
        self._options = options
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._target: Target | None = None
        self.changes = 0  # versions added by this run

    # -- start -----------------------------------------------------------------------------

    def stored(self) -> Target | None:
        """The newest stored version, if any (one with no field yet does not count)."""
        latest = self._store.schema_versions(latest_only=True)
        target = self._target_of(latest[0]) if latest else None
        return target if target is not None and len(target.schema) else None

    def start(self, infer: Callable[[], tuple[pa.Schema, int]], *, reinfer: bool = False) -> Target:
        """The stored schema, or (none stored, or ``reinfer``) the one ``infer()`` returns
        (with the number of files it sampled), stored as a new version. Blocks while it
        infers."""
        stored = None if reinfer else self.stored()
        if stored is not None:
            self._target = stored
            return stored
        previous = self._store.schema_versions(latest_only=True)
        skip = {*self._options.reserved, self._options.rescue_column}
        inferred, sampled = infer()
        schema = pa.schema([f for f in inferred if f.name not in skip])
        schema = apply_hints(schema, self._options.hints)
        how = "re-inferred (full refresh)" if reinfer and previous else "inferred"
        what = f"{how} from the first blocks of {sampled:,} file{'' if sampled == 1 else 's'}"
        target = self._save(previous[0].version if previous else 0, schema, (what,), None)
        self._target = target
        return target

    def listen(self, listener: Listener) -> None:
        """Call ``listener(target)`` on each new version (on the evolving thread, before the
        rows that need it are read); and once now, with the current one."""
        with self._lock:
            self._listeners.append(listener)
            current = self._target
        if current is not None:
            listener(current)

    # -- during the run --------------------------------------------------------------------

    def target(self) -> Target:
        """The current version. ``start`` first."""
        target = self._target
        if target is None:
            raise RuntimeError("the schema stage was not started")
        return target

    def conformer(self, key: str) -> Conformer:
        """A conformer of one file to the current version."""
        return Conformer(self.target(), key)

    def evolve(self, changes: Sequence[Change], cause: str) -> Target:
        """The current version widened by ``changes`` (stored, and told to the listeners), or
        the current one when it holds them already."""
        with self._lock:
            current = self.target()
            schema = current.schema
            done: list[str] = []
            for change in changes:
                schema, what = _widened(schema, change)
                if what:
                    done.append(what)
            if not done:
                return current
            target = self._save(current.version, schema, tuple(done), cause)
            self._target = target
            self.changes += 1
            listeners = list(self._listeners)
        for listener in listeners:
            listener(target)
        return target

    # -- plumbing --------------------------------------------------------------------------

    def _save(
        self, after: int, schema: pa.Schema, changes: tuple[str, ...], cause: str | None
    ) -> Target:
        """Store ``schema`` as the version after ``after`` (the next free one, should another
        process have taken that number: a shared state is read again, never overwritten)."""
        version = after + 1
        record = SchemaVersion(version, time.time(), bytes(schema.serialize()), changes, cause)
        while not self._store.add_schema_version(record):
            latest = self._store.schema_versions(latest_only=True)
            version = latest[0].version + 1 if latest else version + 1
            record = SchemaVersion(version, time.time(), record.schema, changes, cause)
        return self._build(version, schema, changes, cause)

    def _target_of(self, version: SchemaVersion) -> Target:
        try:
            schema = pa.ipc.read_schema(pa.py_buffer(version.schema))
        except pa.ArrowInvalid as exc:
            raise ConfigError(
                f"the stored schema (version {version.version}) cannot be read: {exc}; "
                "pass --full-refresh to infer it again"
            ) from None
        return self._build(version.version, schema, version.changes, version.cause)

    def _build(
        self, version: int, schema: pa.Schema, changes: tuple[str, ...], cause: str | None
    ) -> Target:
        options = self._options
        return Target(
            version=version,
            schema=apply_hints(schema, options.hints),
            mode=options.mode,
            hinted=hinted_paths(schema, options.hints),
            rescue_column=options.rescue_column,
            reserved=options.reserved,
            changes=changes,
            cause=cause,
        )


def _widened(schema: pa.Schema, change: Change) -> tuple[pa.Schema, str]:
    """``schema`` with ``change`` applied by widening (a no-op when it holds it already), and
    the change as said in the history ("" for none)."""
    fields = list(schema)
    fields, old, new = _widen_in(fields, change.path, change.new)
    if old is not None and old.equals(new):
        return schema, ""
    name = ".".join(change.path)
    what = f"new column {name} ({new})" if old is None else f"column {name}: {old} -> {new}"
    return pa.schema(fields, metadata=schema.metadata), what


def _widen_in(
    fields: list[pa.Field], path: tuple[str, ...], dtype: pa.DataType
) -> tuple[list[pa.Field], pa.DataType | None, pa.DataType]:
    head, rest = path[0], path[1:]
    names = [f.name for f in fields]
    if head not in names:
        new_type = normalize(dtype) if not rest else _nested(rest, dtype)
        return [*fields, pa.field(head, new_type)], None, new_type
    index = names.index(head)
    field = fields[index]
    if rest and pa.types.is_struct(field.type):
        inner, old, new = _widen_in(list(field.type), rest, dtype)
        fields = [*fields]
        fields[index] = field.with_type(pa.struct(inner))
        return fields, old, new
    wider = widen(field.type, dtype) if not rest else None
    if wider is None:
        # The conformer asks only for widenings; anything else is a bug to see, not to hide.
        raise ValueError(f"cannot widen {'.'.join(path)} from {field.type} to hold {dtype}")
    fields = [*fields]
    fields[index] = field.with_type(wider)
    return fields, field.type, wider


def _nested(path: tuple[str, ...], dtype: pa.DataType) -> pa.DataType:
    if not path:
        return normalize(dtype)
    return pa.struct([pa.field(path[0], _nested(path[1:], dtype))])
