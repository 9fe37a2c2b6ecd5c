"""Snapshots against real S3 APIs on loopback: moto server, and SeaweedFS (disk-backed)."""

from __future__ import annotations

from pathlib import Path

import fsspec
import pytest
import s3fs

from replicator.config import Settings
from replicator.runner.snapshot import run_snapshot
from tests.conftest import S3Bucket
from tests.datasets import assert_rows_equal, local_put, make_files, read_parquet_outputs


def _s3fs(bucket: S3Bucket) -> s3fs.S3FileSystem:
    return s3fs.S3FileSystem(
        client_kwargs={"endpoint_url": bucket.endpoint}, skip_instance_cache=True
    )


def _snapshot(source: str, dest: str, tmp_path: Path) -> None:
    # No endpoint option: AWS_ENDPOINT_URL, set by the fixture, must be enough.
    summary = run_snapshot(
        Settings(source=source, dest=dest, state=str(tmp_path / "s.db"), concurrency=4)
    )
    assert summary.ok, summary.failures


def test_s3_to_local(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    expected = make_files(lambda k, b: s3_bucket.put(f"in/{k}", b), 8, 30)
    s3_bucket.put("elsewhere/skip.csv", b"id,name,score\n1,x,2\n")
    _snapshot(s3_bucket.url("in/"), str(tmp_path / "out"), tmp_path)
    assert_rows_equal(
        read_parquet_outputs(fsspec.filesystem("file"), str(tmp_path / "out")), expected
    )


def test_local_to_s3_is_atomic_and_complete(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    expected = make_files(local_put(tmp_path / "src"), 8, 30)
    _snapshot(str(tmp_path / "src"), s3_bucket.url("out/"), tmp_path)
    keys = s3_bucket.keys("out/")
    assert sorted(keys) == sorted([*(f"out/{k}.parquet" for k in expected), "out/_common_metadata"])
    assert_rows_equal(read_parquet_outputs(_s3fs(s3_bucket), f"{s3_bucket.name}/out"), expected)


def test_s3_to_s3_and_rerun_skips(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    expected = make_files(lambda k, b: s3_bucket.put(f"raw/{k}", b), 6, 25)
    _snapshot(s3_bucket.url("raw"), s3_bucket.url("tables"), tmp_path)
    assert_rows_equal(read_parquet_outputs(_s3fs(s3_bucket), f"{s3_bucket.name}/tables"), expected)
    again = run_snapshot(
        Settings(
            source=s3_bucket.url("raw"), dest=s3_bucket.url("tables"), state=str(tmp_path / "s.db")
        )
    )
    assert (again.files_completed, again.files_skipped) == (0, 6)


@pytest.mark.slow
def test_seaweedfs_round_trip(seaweed_bucket: S3Bucket, tmp_path: Path) -> None:
    expected = make_files(local_put(tmp_path / "src"), 6, 40)
    _snapshot(str(tmp_path / "src"), seaweed_bucket.url("copy/"), tmp_path)
    assert_rows_equal(
        read_parquet_outputs(_s3fs(seaweed_bucket), f"{seaweed_bucket.name}/copy"), expected
    )
    # And back out of the disk-backed store, as a source.
    _snapshot(seaweed_bucket.url("copy/"), str(tmp_path / "back"), tmp_path)
    back = read_parquet_outputs(fsspec.filesystem("file"), str(tmp_path / "back"))
    assert back.num_rows == sum(len(r) for r in expected.values())
