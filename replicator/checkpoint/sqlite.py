"""The default checkpoint store: one SQLite file, WAL, rows namespaced by pipeline name."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import orjson

from replicator.checkpoint.base import FileRecord, SchemaVersion, Status
from replicator.errors import ConfigError, ReplicatorError, StateConflict, TransientError

# PRAGMA application_id marks the file as ours ("RPLC"), so a foreign SQLite file is refused.
APPLICATION_ID = 0x52504C43

# Migration N (0-based) takes the schema from user_version N to N + 1. Append, never edit.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE files (
            pipeline   TEXT NOT NULL,
            key        TEXT NOT NULL,
            etag       TEXT,
            size       INTEGER NOT NULL,
            mtime      REAL,
            status     TEXT NOT NULL CHECK (status IN ('completed', 'failed')),
            rows       INTEGER NOT NULL DEFAULT 0,
            outputs    TEXT NOT NULL DEFAULT '[]',
            error      TEXT,
            updated_at REAL NOT NULL,
            attempts   INTEGER NOT NULL DEFAULT 1,
            PRIMARY KEY (pipeline, key)
        ) WITHOUT ROWID""",
        "CREATE INDEX files_by_status ON files (pipeline, status, key)",
        """CREATE TABLE vals (
            pipeline TEXT NOT NULL,
            name     TEXT NOT NULL,
            value    TEXT NOT NULL,
            PRIMARY KEY (pipeline, name)
        ) WITHOUT ROWID""",
    ),
    # 1 -> 2: files get an 'in_progress' status while they are being replicated.
    (
        """CREATE TABLE files_v2 (
            pipeline   TEXT NOT NULL,
            key        TEXT NOT NULL,
            etag       TEXT,
            size       INTEGER NOT NULL,
            mtime      REAL,
            status     TEXT NOT NULL CHECK (status IN ('completed', 'failed', 'in_progress')),
            rows       INTEGER NOT NULL DEFAULT 0,
            outputs    TEXT NOT NULL DEFAULT '[]',
            error      TEXT,
            updated_at REAL NOT NULL,
            attempts   INTEGER NOT NULL DEFAULT 1,
            PRIMARY KEY (pipeline, key)
        ) WITHOUT ROWID""",
        "INSERT INTO files_v2 SELECT * FROM files",
        "DROP TABLE files",
        "ALTER TABLE files_v2 RENAME TO files",
        "CREATE INDEX files_by_status ON files (pipeline, status, key)",
    ),
    # 2 -> 3: the pipeline schema and its history, one row per version.
    (
        """CREATE TABLE schemas (
            pipeline   TEXT NOT NULL,
            version    INTEGER NOT NULL,
            created_at REAL NOT NULL,
            schema     BLOB NOT NULL,
            changes    TEXT NOT NULL DEFAULT '[]',
            cause      TEXT,
            PRIMARY KEY (pipeline, version)
        ) WITHOUT ROWID""",
    ),
)
SCHEMA_VERSION = len(_MIGRATIONS)

_COLUMNS = "key, etag, size, mtime, status, rows, outputs, error, updated_at, attempts"
_UPSERT = f"""
    INSERT INTO files (pipeline, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (pipeline, key) DO UPDATE SET
        etag = excluded.etag, size = excluded.size, mtime = excluded.mtime,
        status = excluded.status, rows = excluded.rows, outputs = excluded.outputs,
        error = excluded.error, updated_at = excluded.updated_at, attempts = excluded.attempts
"""
# Longest wait of an in-progress record for a write to ride along with (see record_started).
STARTED_DELAY = 0.5
# Pages for list(): bounded memory for pipelines with millions of files.
_PAGE = 1000


class SqliteCheckpointStore:
    """A ``CheckpointStore`` in a SQLite file, bound to one pipeline name.

    Several pipelines (and several processes) may share one file: every row carries the pipeline
    name, and a busy timeout makes concurrent writers wait for each other instead of failing.
    ``updated_at`` of 0 in a record means "now" (``clock()``); ``record_completed`` stores the
    records' ``attempts`` as given.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        pipeline: str,
        *,
        busy_timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not pipeline:
            raise ConfigError("the pipeline name is empty; give a name like 'logs-to-lake'")
        self.path = Path(path)
        self.pipeline = pipeline
        self._clock = clock
        self._lock = threading.Lock()
        self._conn = _connect(self.path, busy_timeout)
        self._closed = False
        # In-progress records not yet written (see record_started), when they are due, and the
        # thread that writes them then if no other write has (started with the first of them).
        self._started: dict[str, FileRecord] = {}
        self._due: float | None = None
        self._wake = threading.Condition(self._lock)
        self._flusher: threading.Thread | None = None
        self._guards: dict[str, tuple[str, str]] = {}  # name -> (value, message)

    # -- reads -----------------------------------------------------------------------------

    def get(self, key: str) -> FileRecord | None:
        """The record for ``key``, or None."""
        self._flush_started_of((key,))
        rows = self._query(
            f"SELECT {_COLUMNS} FROM files WHERE pipeline = ? AND key = ?", (self.pipeline, key)
        )
        return _record(rows[0]) if rows else None

    def get_many(self, keys: Sequence[str]) -> dict[str, FileRecord]:
        """Records for those of ``keys`` that have one."""
        if not keys:
            return {}
        self._flush_started_of(keys)
        # One JSON parameter instead of one per key: no limit on the number of SQL variables.
        rows = self._query(
            f"SELECT {_COLUMNS} FROM files WHERE pipeline = ?"
            " AND key IN (SELECT value FROM json_each(?))",
            (self.pipeline, orjson.dumps(list(keys)).decode()),
        )
        return {row[0]: _record(row) for row in rows}

    def list(self, status: Status | None = None) -> Iterator[FileRecord]:
        """Records of this pipeline, by key, read a page at a time (never holding the lock)."""
        where = "pipeline = ? AND key > ?" + (" AND status = ?" if status else "")
        sql = f"SELECT {_COLUMNS} FROM files WHERE {where} ORDER BY key LIMIT {_PAGE}"
        after = ""
        self._flush_started()
        while True:
            params = (self.pipeline, after, status) if status else (self.pipeline, after)
            rows = self._query(sql, params)
            for row in rows:
                yield _record(row)
            if len(rows) < _PAGE:
                return
            after = rows[-1][0]

    def stats(self) -> dict[str, int]:
        """How many records this pipeline has, by status (every status present, maybe 0)."""
        counts = {"completed": 0, "failed": 0, "in_progress": 0}
        self._flush_started()
        rows = self._query(
            "SELECT status, count(*) FROM files WHERE pipeline = ? GROUP BY status",
            (self.pipeline,),
        )
        counts.update({status: n for status, n in rows})
        return counts

    def get_value(self, name: str) -> str | None:
        """A named value of this pipeline (discovery watermarks and the like)."""
        rows = self._query(
            "SELECT value FROM vals WHERE pipeline = ? AND name = ?", (self.pipeline, name)
        )
        return cast(str, rows[0][0]) if rows else None

    # -- writes ----------------------------------------------------------------------------

    def record_completed(self, records: Sequence[FileRecord]) -> None:
        """Record files as completed, all in one transaction. Call only after the sink committed."""
        if not records:
            return
        now = self._clock()
        params = [
            self._params(record, status="completed", updated_at=record.updated_at or now)
            for record in records
        ]
        with self._transaction(superseded={r.key for r in records}) as conn:
            conn.executemany(_UPSERT, params)

    def record_started(self, record: FileRecord) -> None:
        """Record a file as in progress: it is being replicated now, and is not done.

        Keeps the count of earlier failed attempts of the same version, so a retry's failure
        still counts up; a completed record of the same version is replaced (a full refresh).

        Written with this store's next write, and at the latest ``STARTED_DELAY`` seconds from
        now: a file that completes sooner costs one transaction instead of two (its in-progress
        record is then never written). Reads of this store see it at once.
        """
        stamped = replace(record, updated_at=record.updated_at or self._clock())
        with self._lock:
            if self._closed:
                raise ConfigError(f"the state file {self.path} is closed")
            self._started[record.key] = stamped
            if self._due is None:
                self._due = time.monotonic() + STARTED_DELAY
                if self._flusher is None:
                    self._flusher = threading.Thread(
                        target=self._flush_when_due, name="state-flusher", daemon=True
                    )
                    self._flusher.start()
                else:
                    self._wake.notify()

    def record_failed(self, record: FileRecord) -> None:
        """Record a file as failed (never overwrites a completed record of the same version).

        A repeated failure of the same version counts up ``attempts``; a failure of another
        version replaces the old record.
        """
        attempts = record.attempts
        with self._transaction() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM files WHERE pipeline = ? AND key = ?",
                (self.pipeline, record.key),
            ).fetchone()
            if row is not None:
                previous = _record(row)
                if previous.version == record.version:
                    if previous.status == "completed":
                        return
                    attempts = previous.attempts + 1
            params = self._params(
                record,
                status="failed",
                updated_at=record.updated_at or self._clock(),
                attempts=attempts,
            )
            conn.execute(_UPSERT, params)

    def forget(self, key: str) -> bool:
        """Remove ``key``'s record so it is replicated again. True if there was one."""
        with self._transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM files WHERE pipeline = ? AND key = ?", (self.pipeline, key)
            )
            return cursor.rowcount > 0

    def reset(self, values: Mapping[str, str] | None = None) -> int:
        """Remove every record of this pipeline, and its named values (watermarks), so that
        everything is replicated again; then store ``values``. One transaction. Returns how
        many file records were removed."""
        with self._transaction() as conn:
            cursor = conn.execute("DELETE FROM files WHERE pipeline = ?", (self.pipeline,))
            conn.execute("DELETE FROM vals WHERE pipeline = ?", (self.pipeline,))
            conn.executemany(
                "INSERT INTO vals (pipeline, name, value) VALUES (?, ?, ?)",
                [(self.pipeline, name, value) for name, value in (values or {}).items()],
            )
            return cursor.rowcount

    def compact_completed(self, *, before_mtime: float) -> int:
        """Drop completed records of files modified before ``before_mtime``; failures stay."""
        with self._transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM files WHERE pipeline = ? AND status = 'completed' AND mtime < ?",
                (self.pipeline, before_mtime),
            )
            return cursor.rowcount

    def schema_versions(self, *, latest_only: bool = False) -> tuple[SchemaVersion, ...]:
        """The pipeline schema's versions, oldest first (only the newest with ``latest_only``)."""
        order = "DESC LIMIT 1" if latest_only else "ASC"
        rows = self._query(
            "SELECT version, created_at, schema, changes, cause FROM schemas"
            f" WHERE pipeline = ? ORDER BY version {order}",
            (self.pipeline,),
        )
        return tuple(
            SchemaVersion(version, created_at, bytes(schema), tuple(orjson.loads(changes)), cause)
            for version, created_at, schema, changes, cause in rows
        )

    def add_schema_version(self, version: SchemaVersion) -> bool:
        """Store a new version of the pipeline schema. False when that version number is
        taken already (another process evolved the schema first: read it and try again)."""
        try:
            with self._transaction() as conn:
                conn.execute(
                    "INSERT INTO schemas (pipeline, version, created_at, schema, changes, cause)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        self.pipeline,
                        version.version,
                        version.created_at or self._clock(),
                        version.schema,
                        orjson.dumps(list(version.changes)).decode(),
                        version.cause,
                    ),
                )
        except sqlite3.IntegrityError:
            return False
        return True

    def guard(self, name: str, value: str, message: str) -> None:
        """From now on, every write of this store first checks that the named value is still
        ``value``, and raises ``StateConflict(message)`` (writing nothing) when it is not."""
        with self._lock:
            self._guards[name] = (value, message)

    def set_value(self, name: str, value: str) -> None:
        """Store a named value of this pipeline."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO vals (pipeline, name, value) VALUES (?, ?, ?)"
                " ON CONFLICT (pipeline, name) DO UPDATE SET value = excluded.value",
                (self.pipeline, name, value),
            )

    def close(self) -> None:
        """Write pending in-progress records and release the store. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            try:
                if self._started:
                    with self._locked_transaction():
                        pass
            except Exception:
                # An in-progress record only informs; failing to write it must not mask why
                # the run is closing the store (a full disk, say).
                pass
            finally:
                self._closed = True
                self._wake.notify_all()
                self._conn.close()
        if self._flusher is not None:
            self._flusher.join(timeout=5)

    def __enter__(self) -> SqliteCheckpointStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------------------

    def _params(
        self, record: FileRecord, *, status: Status, updated_at: float, attempts: int | None = None
    ) -> tuple[Any, ...]:
        return (
            self.pipeline,
            record.key,
            record.etag,
            record.size,
            record.mtime,
            status,
            record.rows,
            orjson.dumps(list(record.outputs)).decode(),
            record.error,
            updated_at,
            record.attempts if attempts is None else attempts,
        )

    def _query(self, sql: str, params: Sequence[Any]) -> Sequence[Any]:
        with self._lock, _translated(self.path):
            return self._conn.execute(sql, params).fetchall()

    def _flush_started_of(self, keys: Iterable[str]) -> None:
        """Write the pending in-progress records first if any of ``keys`` has one, so reads
        see what this store was told (other reads never wait for the write lock)."""
        if self._started and any(key in self._started for key in keys):
            self._flush_started()

    def _flush_started(self) -> None:
        with self._lock:
            if not self._started:
                self._due = None
                return
        with self._transaction():
            pass  # a transaction writes the pending in-progress records first

    def _flush_when_due(self) -> None:
        """The flusher thread: writes pending in-progress records no other write has taken."""
        while True:
            with self._lock:
                while not self._closed and (self._due is None or self._due > time.monotonic()):
                    self._wake.wait(None if self._due is None else self._due - time.monotonic())
                if self._closed:
                    return
            try:
                self._flush_started()
            except Exception:  # kept pending and tried again later: never fatal here
                with self._lock:
                    self._due = time.monotonic() + STARTED_DELAY

    def _check_guards(self, conn: sqlite3.Connection) -> None:
        for name, (value, message) in self._guards.items():
            row = conn.execute(
                "SELECT value FROM vals WHERE pipeline = ? AND name = ?", (self.pipeline, name)
            ).fetchone()
            if row is None or row[0] != value:
                raise StateConflict(message)

    def _write_started(self, conn: sqlite3.Connection, superseded: Collection[str]) -> None:
        """Write the pending in-progress records, except those of ``superseded`` keys.

        A record that cannot be stored (a key SQLite cannot take, say) is dropped: it only
        informs, and the write it rides with must not fail for it. Errors of the file itself
        (busy, full disk) propagate, and the records stay pending.
        """
        pending = [r for key, r in self._started.items() if key not in superseded]
        for record in pending:
            try:
                row = conn.execute(
                    f"SELECT {_COLUMNS} FROM files WHERE pipeline = ? AND key = ?",
                    (self.pipeline, record.key),
                ).fetchone()
                attempts = 0
                if row is not None:
                    previous = _record(row)
                    if previous.version == record.version and previous.status != "completed":
                        attempts = previous.attempts
                params = self._params(
                    record, status="in_progress", updated_at=record.updated_at, attempts=attempts
                )
                conn.execute(_UPSERT, params)
            except (UnicodeError, ValueError, OverflowError, sqlite3.IntegrityError):
                continue

    @contextlib.contextmanager
    def _transaction(self, superseded: Collection[str] = ()) -> Iterator[sqlite3.Connection]:
        with self._lock, self._locked_transaction(superseded) as conn:
            yield conn

    @contextlib.contextmanager
    def _locked_transaction(self, superseded: Collection[str] = ()) -> Iterator[sqlite3.Connection]:
        """A write transaction; the caller holds ``_lock``."""
        # IMMEDIATE takes the write lock up front, so a second writer waits in the busy handler
        # instead of failing with SQLITE_BUSY when its read transaction tries to upgrade.
        with _translated(self.path):
            if self._closed:
                raise ConfigError(f"the state file {self.path} is closed")
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._check_guards(self._conn)
                # Pending in-progress records go first: the write that follows may replace them.
                self._write_started(self._conn, superseded)
                yield self._conn
                self._conn.execute("COMMIT")
                self._started.clear()
                self._due = None
            except BaseException:
                _rollback(self._conn)
                raise


def pipelines(path: str | os.PathLike[str]) -> list[str]:
    """The pipeline names that have records or values in the state file at ``path``, sorted.

    A missing file has none (and is not created).
    """
    if not Path(path).exists():
        return []
    conn = _connect(Path(path), busy_timeout=30.0)
    try:
        with _translated(Path(path)):
            rows = conn.execute(
                "SELECT pipeline FROM files UNION SELECT pipeline FROM vals"
                " UNION SELECT pipeline FROM schemas ORDER BY 1"
            ).fetchall()
    finally:
        conn.close()
    return [row[0] for row in rows]


def _connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """Open (creating if need be) the state file and bring its schema up to date."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the folder of the state file {path}: {exc.strerror or exc};"
            " choose a writable state path (REPLICATOR_STATE)"
        ) from None
    try:
        # Autocommit mode (isolation_level=None): transactions are explicit, see _transaction.
        conn = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise _unreadable(path, exc) from None
    try:
        # WAL lets readers work while a writer commits. With WAL, synchronous=NORMAL writes each
        # commit to the WAL before COMMIT returns but fsyncs only at checkpoints: a committed
        # record survives kill -9 of the process (the OS holds the data); only a power loss or
        # OS crash can drop the last transactions, never corrupt the file. A lost record only
        # means that file is replicated again (at least once), never skipped.
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        _migrate(conn, path)
    except sqlite3.Error as exc:
        conn.close()
        raise _unreadable(path, exc) from None
    except ReplicatorError:
        conn.close()
        raise
    return conn


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if app_id == 0 and version == 0:
            if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise ConfigError(
                    f"{path} is an SQLite file but not a replicator state file;"
                    " choose another state path"
                )
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        elif app_id != APPLICATION_ID:
            raise ConfigError(f"{path} is not a replicator state file; choose another state path")
        if version > SCHEMA_VERSION:
            raise ConfigError(
                f"the state file {path} has schema version {version}, newer than this"
                f" replicator knows ({SCHEMA_VERSION}); upgrade replicator"
            )
        for step in range(version, SCHEMA_VERSION):
            for statement in _MIGRATIONS[step]:
                conn.execute(statement)
        # PRAGMA takes no parameters; SCHEMA_VERSION is our own integer.
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


def _rollback(conn: sqlite3.Connection) -> None:
    # A failed COMMIT may or may not have ended the transaction already.
    if conn.in_transaction:
        conn.execute("ROLLBACK")


@contextlib.contextmanager
def _translated(path: Path) -> Iterator[None]:
    """SQLite errors as replicator's: a busy file may clear up, anything else will not."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise TransientError(
                f"the state file {path} stayed locked by another process: {exc};"
                " retry, or give each run its own state file"
            ) from None
        raise _unreadable(path, exc) from None
    except (sqlite3.IntegrityError, sqlite3.ProgrammingError):
        raise  # a bad record or a closed store: a bug to see as it is, not a bad file
    except sqlite3.DatabaseError as exc:
        raise _unreadable(path, exc) from None


def _unreadable(path: Path, exc: sqlite3.Error) -> ConfigError:
    return ConfigError(
        f"cannot use the state file {path}: {exc}; fix its permissions, or move it away"
        " to start from scratch"
    )


def _record(row: tuple[Any, ...]) -> FileRecord:
    key, etag, size, mtime, status, rows, outputs, error, updated_at, attempts = row
    return FileRecord(
        key=key,
        etag=etag,
        size=size,
        mtime=mtime,
        status=status,
        rows=rows,
        outputs=tuple(orjson.loads(outputs)),
        error=error,
        updated_at=updated_at,
        attempts=attempts,
    )
