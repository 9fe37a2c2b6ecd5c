"""The SQLite checkpoint store and the default state location and pipeline names."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from replicator.checkpoint import (
    CheckpointStore,
    FileRecord,
    SqliteCheckpointStore,
    default_pipeline_name,
    default_state_path,
    pipelines,
)
from replicator.checkpoint import sqlite as sqlite_module
from replicator.errors import ConfigError, ReplicatorError, TransientError


def done(key: str, etag: str | None = "e1", **fields: object) -> FileRecord:
    values: dict[str, object] = {"size": 10, "mtime": 1.5, "status": "completed"}
    values.update(fields)
    return FileRecord(key=key, etag=etag, **values)  # type: ignore[arg-type]


def failed(key: str, etag: str | None = "e1", **fields: object) -> FileRecord:
    return done(key, etag, **{"error": "boom", **fields, "status": "failed"})


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "state.db"


@pytest.fixture
def store(db: Path) -> Iterator[SqliteCheckpointStore]:
    with SqliteCheckpointStore(db, "p1", clock=lambda: 1000.0) as s:
        yield s


# -- records ---------------------------------------------------------------------------------


def test_round_trip_of_every_field(store: SqliteCheckpointStore, db: Path) -> None:
    record = FileRecord(
        key="dir/a file ü.csv",
        etag='"abc-2"',
        size=123,
        mtime=1700000000.25,
        status="completed",
        rows=42,
        outputs=("s3://out/a.parquet", "s3://out/a-1.parquet"),
        error=None,
        updated_at=1700000001.5,
        attempts=3,
    )
    bare = FileRecord(key="b", etag=None, size=0, mtime=None, status="completed")
    typed: CheckpointStore = store
    typed.record_completed([record, bare])
    stamped = FileRecord(
        key="b", etag=None, size=0, mtime=None, status="completed", updated_at=1000.0
    )
    assert store.get(record.key) == record
    assert store.get("b") == stamped  # updated_at 0 means "now", from the injected clock
    assert store.get("missing") is None
    assert store.get_many(["b", "missing", record.key]) == {record.key: record, "b": stamped}
    assert store.get_many([]) == {}
    assert list(store.list()) == [stamped, record]  # by key
    store.close()
    with SqliteCheckpointStore(db, "p1") as reopened:
        assert reopened.get(record.key) == record
        assert reopened.stats() == {"completed": 2, "failed": 0, "in_progress": 0}


def test_failed_record_keeps_its_error(store: SqliteCheckpointStore) -> None:
    store.record_failed(failed("a", rows=5, outputs=("x",)))
    assert store.get("a") == failed("a", rows=5, outputs=("x",), updated_at=1000.0)
    assert store.stats() == {"completed": 0, "failed": 1, "in_progress": 0}


def test_record_completed_overwrites_and_ignores_status_given(
    store: SqliteCheckpointStore,
) -> None:
    store.record_failed(failed("a"))
    store.record_completed([done("a", "e2", rows=7, status="failed")])
    assert store.get("a") == done("a", "e2", rows=7, updated_at=1000.0)


def test_batch_is_one_transaction(store: SqliteCheckpointStore, db: Path) -> None:
    store.record_completed([done("first", rows=1)])
    # A trigger aborts the second insert of the batch, after the first row was written.
    raw = sqlite3.connect(db)
    raw.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON files WHEN NEW.key = 'bad'"
        " BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    raw.commit()
    raw.close()
    with pytest.raises(sqlite3.IntegrityError, match="refused"):
        store.record_completed([done("first", rows=2), done("new"), done("bad")])
    assert [(r.key, r.rows) for r in store.list()] == [("first", 1)]
    with SqliteCheckpointStore(db, "p1") as other:
        assert [(r.key, r.rows) for r in other.list()] == [("first", 1)]
    # The store is usable afterwards: the transaction was rolled back, not left open.
    store.record_completed([done("new")])
    assert [r.key for r in store.list()] == ["first", "new"]


def test_failed_never_overwrites_completed_of_same_version(store: SqliteCheckpointStore) -> None:
    store.record_completed([done("a", "v1", rows=3)])
    store.record_failed(failed("a", "v1"))
    assert store.get("a") == done("a", "v1", rows=3, updated_at=1000.0)
    # A new version that fails replaces the completed record of the old one.
    store.record_failed(failed("a", "v2", error="first"))
    assert store.get("a") == failed("a", "v2", error="first", updated_at=1000.0)


def test_failed_again_counts_attempts_per_version(store: SqliteCheckpointStore) -> None:
    store.record_failed(failed("a", "v1", error="one"))
    store.record_failed(failed("a", "v1", error="two"))
    store.record_failed(failed("a", "v1", error="three"))
    assert store.get("a") == failed("a", "v1", error="three", attempts=3, updated_at=1000.0)
    store.record_failed(failed("a", "v2", error="new"))
    assert store.get("a") == failed("a", "v2", error="new", attempts=1, updated_at=1000.0)
    store.record_completed([done("a", "v2")])
    assert store.get("a") == done("a", "v2", updated_at=1000.0)


def test_version_without_etag_is_size_and_mtime(store: SqliteCheckpointStore) -> None:
    store.record_completed([done("a", None, size=5, mtime=1.0)])
    store.record_failed(failed("a", None, size=5, mtime=1.0))
    assert store.get("a") == done("a", None, size=5, mtime=1.0, updated_at=1000.0)
    store.record_failed(failed("a", None, size=5, mtime=2.0))
    assert store.get("a") == failed("a", None, size=5, mtime=2.0, updated_at=1000.0)


def test_list_filters_by_status_and_pages(
    store: SqliteCheckpointStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "_PAGE", 3)
    keys = [f"k{i:02d}" for i in range(10)]
    store.record_completed([done(k) for k in keys if int(k[1:]) % 3])
    for k in keys:
        if int(k[1:]) % 3 == 0:
            store.record_failed(failed(k))
    assert [r.key for r in store.list()] == keys
    assert [r.key for r in store.list("failed")] == ["k00", "k03", "k06", "k09"]
    assert [r.key for r in store.list("completed")] == [
        k for k in keys if k not in {"k00", "k03", "k06", "k09"}
    ]
    assert {r.status for r in store.list("failed")} == {"failed"}
    assert store.stats() == {"completed": 6, "failed": 4, "in_progress": 0}


def test_forget_and_reset(store: SqliteCheckpointStore) -> None:
    store.record_completed([done("a"), done("b"), done("c")])
    store.set_value("watermark", "2024-01-01")
    assert store.forget("b") is True
    assert store.forget("b") is False
    assert [r.key for r in store.list()] == ["a", "c"]
    assert store.reset() == 2
    assert list(store.list()) == []
    # Reset means "replicate everything again", so discovery watermarks go too.
    assert store.get_value("watermark") is None
    assert store.reset() == 0


def test_values(store: SqliteCheckpointStore, db: Path) -> None:
    assert store.get_value("w") is None
    store.set_value("w", "1")
    store.set_value("w", "2")
    store.set_value("other", "x")
    assert (store.get_value("w"), store.get_value("other")) == ("2", "x")
    store.close()
    with SqliteCheckpointStore(db, "p1") as reopened:
        assert reopened.get_value("w") == "2"


def test_pipelines_are_isolated(db: Path) -> None:
    with (
        SqliteCheckpointStore(db, "a", clock=lambda: 1000.0) as a,
        SqliteCheckpointStore(db, "b", clock=lambda: 1000.0) as b,
    ):
        a.record_completed([done("same", "ea", rows=1), done("only-a")])
        b.record_completed([done("same", "eb", rows=2)])
        b.record_failed(failed("same", "eb"))  # same version as b's completed: ignored
        a.set_value("w", "a")
        b.set_value("w", "b")
        assert a.get("same") == done("same", "ea", rows=1, updated_at=1000.0)
        assert b.get("same") == done("same", "eb", rows=2, updated_at=1000.0)
        assert b.get("only-a") is None
        assert b.get_many(["only-a", "same"]).keys() == {"same"}
        assert [r.key for r in b.list()] == ["same"]
        assert (a.get_value("w"), b.get_value("w")) == ("a", "b")
        assert b.forget("only-a") is False
        assert b.reset() == 1
        assert [r.key for r in a.list()] == ["only-a", "same"]
        assert a.get_value("w") == "a"
        assert a.stats() == {"completed": 2, "failed": 0, "in_progress": 0}
        b.set_value("w", "again")
    assert pipelines(db) == ["a", "b"]


def test_pipelines_of_missing_file_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "none" / "state.db"
    assert pipelines(path) == []
    assert not path.exists()


# -- durability and concurrency ----------------------------------------------------------------


def test_record_survives_sigkill_right_after_commit(db: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal
        from replicator.checkpoint import FileRecord, SqliteCheckpointStore
        store = SqliteCheckpointStore({str(db)!r}, "p1")
        store.record_completed([FileRecord(key="k", etag="e", size=1, mtime=None,
                                           status="completed", rows=9, outputs=("o",))])
        store.set_value("w", "v")
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, timeout=60
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    with SqliteCheckpointStore(db, "p1") as store:
        record = store.get("k")
        assert record is not None
        assert (record.etag, record.rows, record.outputs) == ("e", 9, ("o",))
        assert store.get_value("w") == "v"


def test_two_stores_in_two_threads_lose_nothing(db: Path) -> None:
    stores = [SqliteCheckpointStore(db, "p1"), SqliteCheckpointStore(db, "p1")]
    batches, per_batch = 60, 5
    errors: list[BaseException] = []

    def work(n: int) -> None:
        store = stores[n]
        try:
            for i in range(batches):
                store.record_completed(
                    [done(f"t{n}-{i:03d}-{j}", rows=i * per_batch + j) for j in range(per_batch)]
                )
                # Both threads fail the same version of one key: every failure must count.
                store.record_failed(failed("shared"))
                store.set_value(f"w{n}", str(i))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    assert errors == []
    with SqliteCheckpointStore(db, "p1") as store:
        got = {r.key: r.rows for r in store.list("completed")}
        expected = {
            f"t{n}-{i:03d}-{j}": i * per_batch + j
            for n in range(2)
            for i in range(batches)
            for j in range(per_batch)
        }
        assert got == expected
        shared = store.get("shared")
        assert shared is not None
        assert shared.attempts == 2 * batches
        assert (store.get_value("w0"), store.get_value("w1")) == (str(batches - 1),) * 2


def test_one_store_shared_by_threads(store: SqliteCheckpointStore) -> None:
    def work(n: int) -> None:
        for i in range(50):
            store.record_completed([done(f"{n}-{i:02d}")])
            assert store.get(f"{n}-{i:02d}") is not None

    threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.key for r in store.list()] == sorted(
        f"{n}-{i:02d}" for n in range(3) for i in range(50)
    )


def test_locked_file_is_a_transient_error(db: Path) -> None:
    with SqliteCheckpointStore(db, "p1", busy_timeout=0.05) as store:
        raw = sqlite3.connect(db, isolation_level=None)
        raw.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(TransientError, match="locked"):
                store.record_completed([done("a")])
        finally:
            raw.execute("ROLLBACK")
            raw.close()
        store.record_completed([done("a")])
        assert store.get("a") is not None


def test_uses_wal(store: SqliteCheckpointStore, db: Path) -> None:
    raw = sqlite3.connect(db)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert raw.execute("PRAGMA user_version").fetchone() == (sqlite_module.SCHEMA_VERSION,)
    finally:
        raw.close()


# -- bad state files --------------------------------------------------------------------------


def test_corrupt_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a database, just some text " * 200)
    with pytest.raises(ConfigError, match=re.escape(str(path))) as info:
        SqliteCheckpointStore(path, "p1")
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        pipelines(path)


def test_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE mine (x)")
    raw.commit()
    raw.close()
    with pytest.raises(ConfigError, match="not a replicator state file"):
        SqliteCheckpointStore(path, "p1")


def test_newer_schema_is_refused(db: Path) -> None:
    SqliteCheckpointStore(db, "p1").close()
    raw = sqlite3.connect(db)
    raw.execute(f"PRAGMA user_version = {sqlite_module.SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(ConfigError, match="upgrade replicator"):
        SqliteCheckpointStore(db, "p1")


def test_uncreatable_directory_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    path = blocker / "sub" / "state.db"
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        SqliteCheckpointStore(path, "p1")


def test_directory_as_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape(str(tmp_path))):
        SqliteCheckpointStore(tmp_path, "p1")


def test_empty_pipeline_name_is_refused(db: Path) -> None:
    with pytest.raises(ConfigError, match="pipeline name"):
        SqliteCheckpointStore(db, "")


# -- default location and pipeline names --------------------------------------------------------


def test_default_state_path_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("REPLICATOR_STATE", str(tmp_path / "explicit.db"))
    assert default_state_path() == tmp_path / "explicit.db"
    monkeypatch.setenv("REPLICATOR_STATE", "~/mine.db")
    assert default_state_path() == tmp_path / "home" / "mine.db"
    monkeypatch.delenv("REPLICATOR_STATE")
    assert default_state_path() == tmp_path / "xdg" / "replicator" / "state.db"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/is/invalid")
    home_default = tmp_path / "home" / ".local" / "state" / "replicator" / "state.db"
    assert default_state_path() == home_default
    monkeypatch.delenv("XDG_STATE_HOME")
    assert default_state_path() == home_default


NAME = re.compile(r"[A-Za-z0-9._-]+")


def test_pipeline_name_is_readable_and_stable() -> None:
    name = default_pipeline_name("s3://bucket/logs/2024/", "s3://lake/raw")
    # A golden value: changing it orphans every user's existing state.
    assert name == "logs-2024_to_lake-raw_3baf4985"
    assert name == default_pipeline_name("s3://bucket/logs/2024", "s3://lake/raw/")
    assert name != default_pipeline_name("s3://other/logs/2024/", "s3://lake/raw")
    assert name != default_pipeline_name("s3://lake/raw", "s3://bucket/logs/2024/")


def test_pipeline_name_drops_credentials_and_queries() -> None:
    secret = "wJalr/XUtnFEMI+K7MDENG"
    with_creds = default_pipeline_name(
        f"s3://AKIAEXAMPLE:{secret}@bucket/in?X-Amz-Signature=deadbeef",
        "https://user:hunter2@example.com:8443/out/?sig=abc",
    )
    plain = default_pipeline_name("s3://bucket/in", "https://example.com:8443/out")
    assert with_creds == plain
    for fragment in ("AKIAEXAMPLE", "wJalr", "XUtnFEMI", "MDENG", "hunter2", "deadbeef", "abc"):
        assert fragment not in with_creds
    assert NAME.fullmatch(with_creds)


def test_pipeline_name_is_sanitised() -> None:
    for source, dest in [
        ("s3://b/weird path/ü*?[x].csv", "memory://out"),
        ("s3://bucket", "/"),
        ("gs://b/a:b/c;d", "file:///tmp/x y"),
        ("s3://b/" + "x" * 300, "-"),
    ]:
        name = default_pipeline_name(source, dest)
        assert NAME.fullmatch(name), name
        assert len(name) < 100


def test_pipeline_name_resolves_local_paths(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    monkeypatch.chdir(tmp_path / "one")
    first = default_pipeline_name("data", "out")
    assert first == default_pipeline_name(
        str(tmp_path / "one" / "data"), "file://" + str(tmp_path / "one" / "out")
    )
    assert first.startswith("one-data_to_one-out_")
    monkeypatch.chdir(tmp_path / "two")
    assert default_pipeline_name("data", "out") != first


def test_in_progress_records_and_attempts(store: SqliteCheckpointStore) -> None:
    store.record_started(failed("a"))
    assert store.get("a") is not None
    assert (store.get("a").status, store.get("a").attempts) == ("in_progress", 0)  # type: ignore[union-attr]
    store.record_failed(failed("a"))
    store.record_started(failed("a"))
    store.record_failed(failed("a"))
    record = store.get("a")
    assert record is not None
    assert (record.status, record.attempts) == ("failed", 2), "retries keep counting"
    store.record_completed([done("a")])
    assert [r.key for r in store.list("in_progress")] == []
    # A full refresh starts a completed file again: in progress until it completes anew.
    store.record_started(done("a"))
    assert [r.key for r in store.list("in_progress")] == ["a"]
    assert store.stats() == {"completed": 0, "failed": 0, "in_progress": 1}


def _status_seen_elsewhere(db: Path, key: str) -> str | None:
    """The status another connection (another process) reads for ``key``."""
    conn = sqlite3.connect(db)
    try:
        row = conn.execute("SELECT status FROM files WHERE key = ?", (key,)).fetchone()
    finally:
        conn.close()
    return None if row is None else str(row[0])


def test_in_progress_records_ride_with_the_next_write(
    db: Path, store: SqliteCheckpointStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "STARTED_DELAY", 60.0)  # only a write can write them
    store.record_started(done("quick"))
    store.record_started(done("slow"))
    assert _status_seen_elsewhere(db, "slow") is None  # not written yet
    store.record_completed([done("quick")])
    # The completion's transaction carried the other file's in-progress record along.
    assert _status_seen_elsewhere(db, "quick") == "completed"
    assert _status_seen_elsewhere(db, "slow") == "in_progress"


def test_in_progress_records_are_written_within_the_delay_without_other_writes(
    db: Path, store: SqliteCheckpointStore
) -> None:
    store.record_started(done("a"))
    deadline = time.monotonic() + sqlite_module.STARTED_DELAY + 5
    while _status_seen_elsewhere(db, "a") is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _status_seen_elsewhere(db, "a") == "in_progress"


def test_closing_the_store_writes_pending_in_progress_records(db: Path) -> None:
    with SqliteCheckpointStore(db, "p1") as store:
        store.record_started(failed("a"))
    assert _status_seen_elsewhere(db, "a") == "in_progress"
    with pytest.raises(ConfigError, match="closed"):
        store.record_started(failed("b"))


def test_a_failed_write_keeps_in_progress_records_pending(
    db: Path, store: SqliteCheckpointStore
) -> None:
    store.record_started(done("a"))
    blocker = sqlite3.connect(db, timeout=0)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    store._conn.execute("PRAGMA busy_timeout = 0")
    try:
        with pytest.raises(ReplicatorError):
            store.set_value("w", "1")
    finally:
        blocker.rollback()
        blocker.close()
    store.set_value("w", "2")
    assert _status_seen_elsewhere(db, "a") == "in_progress"
    assert store.get_value("w") == "2"


def test_an_in_progress_record_that_cannot_be_stored_does_not_block_other_writes(
    db: Path,
) -> None:
    store = SqliteCheckpointStore(db, "p1")
    # A local file name that is not UTF-8 reaches Python with a lone surrogate.
    store.record_started(done("bad\udcff.csv"))
    store.record_started(done("good.csv"))
    store.record_completed([done("other.csv")])
    assert _status_seen_elsewhere(db, "other.csv") == "completed"
    assert _status_seen_elsewhere(db, "good.csv") == "in_progress"
    store.close()  # nothing pending is left to fail
    with SqliteCheckpointStore(db, "p1") as reopened:
        assert [r.key for r in reopened.list("in_progress")] == ["good.csv"]


def test_a_version_1_state_file_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA application_id = {sqlite_module.APPLICATION_ID}")
    for statement in sqlite_module._MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute(
        "INSERT INTO files VALUES ('p', 'k', 'e1', 10, 1.5, 'completed', 3, '[\"o\"]', NULL, 2.0, 1)"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with SqliteCheckpointStore(path, "p") as store:
        record = store.get("k")
        assert record is not None
        assert (record.status, record.rows, record.outputs) == ("completed", 3, ("o",))
        store.record_started(done("other"))
        assert [r.key for r in store.list("in_progress")] == ["other"]
