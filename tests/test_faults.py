"""Transient faults are retried; terminal ones stop the run with one line and exit code 2."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions as bce
import fsspec
import pyarrow as pa
import pytest

import replicator.sinks.files as files_sink
from replicator.checkpoint.sqlite import SqliteCheckpointStore
from replicator.config import Settings, build_settings
from replicator.errors import StorageError, TransientError
from replicator.model import Chunk
from replicator.retry import Backoff
from replicator.runner import file_task
from replicator.runner.events import Event, FileFailed, Notice
from replicator.runner.snapshot import run_snapshot
from replicator.storage import (
    S3_MAX_ATTEMPTS,
    StorageOptions,
    is_transient,
    open_location,
    translate_error,
)
from tests.cli import run_cli
from tests.conftest import S3Bucket
from tests.datasets import assert_rows_equal, local_put, make_files, read_parquet_outputs
from tests.faultproxy import FaultProxy, Faults

LOCAL = fsspec.filesystem("file")


def _settings(source: str, dest: Path, state: Path, **extra: Any) -> Settings:
    return build_settings(
        {}, {"source": source, "dest": str(dest), "state": str(state), "name": "faults", **extra}
    )


def _outputs(dest: Path) -> pa.Table:
    return read_parquet_outputs(LOCAL, str(dest))


# -- transient faults --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_snapshot_through_a_faulty_proxy_matches_the_source(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    expected = make_files(lambda key, data: s3_bucket.put(f"in/{key}", data), 240, 30)
    faults = Faults(error_rate=0.08, drop_rate=0.08, delay_rate=0.04, delay=0.05, seed=7)
    with FaultProxy(s3_bucket.endpoint, faults) as proxy:
        settings = _settings(
            s3_bucket.url("in/"),
            tmp_path / "out",
            tmp_path / "state.db",
            endpoint_url=proxy.url,
            concurrency=8,
        )
        summary = run_snapshot(settings)
    assert (summary.files_completed, summary.files_failed) == (240, 0)
    # The faults did happen: 503 SlowDown answers and bodies cut off part way.
    assert proxy.counts.errors >= 10, proxy.counts
    assert proxy.counts.drops >= 10, proxy.counts
    assert_rows_equal(_outputs(tmp_path / "out"), expected)


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> Backoff:
    backoff = Backoff(attempts=3, base=0.01, cap=0.05)
    monkeypatch.setattr(file_task, "FILE_RETRIES", backoff)
    return backoff


def _flaky_reader(monkeypatch: pytest.MonkeyPatch, fail_times: dict[str, int]) -> None:
    """Readers of the keys in ``fail_times`` break after their first chunk, that many times."""
    real = file_task.read_file  # type: ignore[attr-defined]

    def read_file(fs: Any, file: Any, *args: Any) -> Iterator[Chunk]:
        chunks = real(fs, file, *args)
        yield next(chunks)
        if fail_times.get(file.key, 0) > 0:
            fail_times[file.key] -= 1
            raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
        yield from chunks

    monkeypatch.setattr(file_task, "read_file", read_file)


def test_a_file_broken_off_mid_read_is_redone_from_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quick_retries: Backoff
) -> None:
    expected = make_files(local_put(tmp_path / "src"), 6, 40)
    flaky = sorted(expected)[1]
    _flaky_reader(monkeypatch, {flaky: 2})
    seen: list[Event] = []
    settings = _settings(
        str(tmp_path / "src"), tmp_path / "out", tmp_path / "state.db", chunk_size=1024
    )
    summary = run_snapshot(settings, seen.append)
    assert (summary.files_completed, summary.files_failed) == (6, 0)
    # Every row once: the partial first tries left nothing behind.
    assert_rows_equal(_outputs(tmp_path / "out"), expected)
    notices = [e.message for e in seen if isinstance(e, Notice)]
    assert [n for n in notices if n.startswith(f"{flaky}: ConnectionResetError")] == [
        notices[0],
        notices[1],
    ]
    assert "try 2 of 3" in notices[0]
    assert "try 3 of 3" in notices[1]


def test_a_file_failing_every_try_is_failed_and_the_others_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quick_retries: Backoff
) -> None:
    expected = make_files(local_put(tmp_path / "src"), 4, 40)
    flaky = sorted(expected)[0]
    _flaky_reader(monkeypatch, {flaky: 99})
    seen: list[Event] = []
    state = tmp_path / "state.db"
    settings = _settings(str(tmp_path / "src"), tmp_path / "out", state, chunk_size=1024)
    summary = run_snapshot(settings, seen.append)
    assert (summary.files_completed, summary.files_failed) == (3, 1)
    failed = [e for e in seen if isinstance(e, FileFailed)]
    assert [e.file.key for e in failed] == [flaky]
    assert "ConnectionResetError" in failed[0].error
    store = SqliteCheckpointStore(state, "faults")
    try:
        record = store.get(flaky)
    finally:
        store.close()
    assert record is not None
    assert record.status == "failed"
    del expected[flaky]
    assert_rows_equal(_outputs(tmp_path / "out"), expected)


def test_a_sink_failing_mid_file_leaves_it_uncommitted_and_a_rerun_completes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = make_files(local_put(tmp_path / "src"), 5, 400)
    victim = sorted(expected)[2]
    real_open_writer = files_sink.open_writer  # type: ignore[attr-defined]

    class FullDisk:
        """Writes one batch, then the destination is full."""

        def __init__(self, inner: Any) -> None:
            self.inner, self.batches = inner, 0

        def write(self, batch: pa.RecordBatch) -> None:
            self.batches += 1
            if self.batches > 1:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.inner.write(batch)

        def finish(self) -> None:
            self.inner.finish()

        def abandon(self) -> None:
            self.inner.abandon()

    def open_writer(fmt: Any, stream: Any, schema: Any, *, key: str, **kw: Any) -> Any:
        writer = real_open_writer(fmt, stream, schema, key=key, **kw)
        return FullDisk(writer) if key == victim else writer

    monkeypatch.setattr(files_sink, "open_writer", open_writer)
    state, out = tmp_path / "state.db", tmp_path / "out"
    settings = _settings(str(tmp_path / "src"), out, state, chunk_size=1024, concurrency=1)
    with pytest.raises(StorageError, match="No space left on device") as info:
        run_snapshot(settings)
    assert "has space" in str(info.value)
    store = SqliteCheckpointStore(state, "faults")
    try:
        record = store.get(victim)
        assert record is not None
        assert record.status == "in_progress", "a file whose output failed is not recorded done"
        done = {r.key for r in store.list("completed")}
    finally:
        store.close()
    assert victim not in done
    written = _outputs(out)
    if written.num_rows:
        assert victim not in set(written.column("_file").to_pylist())

    monkeypatch.setattr(files_sink, "open_writer", real_open_writer)
    summary = run_snapshot(settings)
    assert summary.files_completed == 5 - len(done)
    assert_rows_equal(_outputs(out), expected)


# -- storage configuration and error translation ------------------------------------------------


def test_s3_filesystems_retry_and_verify_tls_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    fs: Any = open_location("s3://bucket/prefix").fs
    assert fs.config_kwargs["retries"] == {
        "mode": "standard",
        "total_max_attempts": S3_MAX_ATTEMPTS,
    }
    assert fs.retries > 5
    assert "verify" not in fs.client_kwargs
    insecure: Any = open_location("s3://bucket/", StorageOptions(verify_tls=False)).fs
    assert insecure.client_kwargs["verify"] is False
    # The usual AWS variables win over our defaults.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    overridden: Any = open_location("s3://bucket/").fs
    assert overridden.config_kwargs["retries"] == {}


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ConnectionResetError(errno.ECONNRESET, "reset"), True),
        (OSError(errno.EBUSY, "Please reduce your request rate."), True),
        (OSError(errno.EREMOTEIO, "We encountered an internal error"), True),
        (bce.ReadTimeoutError(endpoint_url="http://x"), True),
        (TransientError("busy"), True),
        (FileNotFoundError("gone"), False),
        (PermissionError("denied"), False),
        (OSError(errno.ENOSPC, "full"), False),
        (bce.NoCredentialsError(), False),
        (ValueError("bad row"), False),
    ],
)
def test_is_transient(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


def test_a_transient_error_wrapped_by_another_is_still_transient() -> None:
    outer = OSError("reading the stream failed")
    outer.__cause__ = ConnectionResetError(errno.ECONNRESET, "reset")
    assert is_transient(outer)


def test_translated_errors_name_the_url_and_what_to_check() -> None:
    url = "s3://bkt/in/"
    cases = {
        FileNotFoundError("NoSuchBucket"): "check the bucket and path",
        PermissionError("Access Denied"): "check the credentials",
        bce.NoCredentialsError(): "AWS_ACCESS_KEY_ID",
        bce.EndpointConnectionError(endpoint_url="http://h:1"): "check --endpoint-url",
        OSError(errno.ENOTDIR, "Not a directory"): "is a folder",
    }
    for error, hint in cases.items():
        translated = translate_error(error, url, "cannot list")
        assert isinstance(translated, StorageError), error
        assert str(translated).startswith(f"cannot list {url}: ")
        assert hint in str(translated)
    assert isinstance(translate_error(ConnectionResetError(), url, "reading"), TransientError)
    assert translate_error(ValueError("x"), url, "reading") is None


# -- terminal errors through the CLI -------------------------------------------------------------


def _assert_one_line_exit_2(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.slow
def test_missing_bucket_exits_2_with_one_line(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    args = ["snapshot", "s3://no-such-bucket-here/in/", str(tmp_path / "out"), "-q"]
    args += ["--state", str(tmp_path / "s.db")]
    result = run_cli(args, env=s3_bucket.env())
    _assert_one_line_exit_2(result, "s3://no-such-bucket-here/in/", "check the bucket and path")
    debug = run_cli([*args, "--debug"], env=s3_bucket.env())
    assert debug.returncode == 2
    assert "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1].startswith("error: ")


@pytest.mark.slow
def test_unreachable_endpoint_exits_2_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "AWS_MAX_ATTEMPTS": "2"}
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    args = ["snapshot", "s3://bkt/in/", str(tmp_path / "out"), "-q", "--endpoint-url", endpoint]
    result = run_cli([*args, "--state", str(tmp_path / "s.db")], env=env, timeout=60)
    _assert_one_line_exit_2(result, "s3://bkt/in/", "cannot reach the storage endpoint")


@pytest.fixture(scope="module")
def authenticating_moto() -> Iterator[str]:
    """A moto server that checks credentials (IAM auth on from the first request)."""
    port = _closed_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.slow
def test_wrong_credentials_exit_2_with_one_line(authenticating_moto: str, tmp_path: Path) -> None:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIANOTAREALKEY00000"}
    args = ["snapshot", "s3://bkt/in/", str(tmp_path / "out"), "-q"]
    args += ["--endpoint-url", authenticating_moto, "--state", str(tmp_path / "s.db")]
    result = run_cli(args, env=env)
    _assert_one_line_exit_2(result, "s3://bkt/in/", "access denied", "check the credentials")


@pytest.mark.slow
def test_no_credentials_exit_2_with_one_line(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    }
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    args = ["snapshot", "s3://bkt/in/", str(tmp_path / "out"), "-q", "--endpoint-url", endpoint]
    result = run_cli([*args, "--state", str(tmp_path / "s.db")], env=env)
    _assert_one_line_exit_2(result, "s3://bkt/in/", "no credentials found")


@pytest.mark.slow
def test_unwritable_destination_exits_2_and_a_rerun_completes(tmp_path: Path) -> None:
    expected = make_files(local_put(tmp_path / "src"), 3, 20)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the destination's parent folder should be")
    dest = blocker / "out"
    args = ["snapshot", str(tmp_path / "src"), str(dest), "-q", "--name", "w"]
    args += ["--state", str(tmp_path / "s.db")]
    result = run_cli(args)
    _assert_one_line_exit_2(result, str(dest), "Not a directory")
    debug = run_cli([*args, "--debug"])
    assert debug.returncode == 2
    assert "Traceback (most recent call last)" in debug.stderr
    # The fault gone, a rerun writes everything once.
    blocker.unlink()
    rerun = run_cli(args)
    assert rerun.returncode == 0, rerun.stderr
    assert_rows_equal(read_parquet_outputs(LOCAL, str(dest)), expected)
