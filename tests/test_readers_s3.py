"""Readers over s3fs, against the moto server on 127.0.0.1."""

from __future__ import annotations

import gzip
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from replicator.model import FileInfo
from replicator.readers import ReaderOptions, read_file
from replicator.storage import open_location
from tests.conftest import S3Bucket
from tests.corpus import rows_of, table_of


def _info(bucket: S3Bucket, key: str, body: bytes) -> tuple[FileInfo, object]:
    bucket.put(key, body)
    location = open_location(bucket.url())
    return FileInfo(path=location.path(key), key=key, size=len(body)), location.fs


def test_csv_gz_from_s3(s3_bucket: S3Bucket) -> None:
    key = "in/dä ta 1.csv.gz"
    body = gzip.compress(b"id,name\n" + b"".join(f"{i},n{i}\n".encode() for i in range(300)))
    file, fs = _info(s3_bucket, key, body)
    chunks = list(read_file(fs, file, ReaderOptions(chunk_size=256)))
    assert len(chunks) > 1
    assert chunks[-1].completed
    assert rows_of(chunks) == [
        {"id": i, "name": f"n{i}", "_file": key, "_row": i} for i in range(300)
    ]


def test_csv_gz_by_magic_from_s3(s3_bucket: S3Bucket) -> None:
    file, fs = _info(s3_bucket, "noext", gzip.compress(b"a\n1\n2\n"))
    chunks = list(read_file(fs, file, ReaderOptions(format="csv", system_columns=False)))
    assert rows_of(chunks) == [{"a": 1}, {"a": 2}]


def test_parquet_from_s3(s3_bucket: S3Bucket) -> None:
    table = pa.table({"id": list(range(50)), "s": [f"v{i}" for i in range(50)]})
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=20)
    file, fs = _info(s3_bucket, "p/t.parquet", out.getvalue())
    chunks = list(read_file(fs, file, ReaderOptions()))
    assert [c.offset.rows for c in chunks] == [20, 40, 50]
    assert table_of(chunks).select(["id", "s"]).equals(table)
    assert table_of(chunks).column("_row").to_pylist() == list(range(50))


def test_raw_from_s3_is_byte_identical(s3_bucket: S3Bucket) -> None:
    body = gzip.compress(bytes(range(256)) * 40)
    file, fs = _info(s3_bucket, "r.bin", body)
    chunks = list(read_file(fs, file, ReaderOptions(format="raw", chunk_size=1000)))
    assert b"".join(r["data"] for r in rows_of(chunks)) == body
    assert chunks[-1].offset.byte == len(body)


def test_vanished_s3_object_raises_file_not_found(s3_bucket: S3Bucket) -> None:
    location = open_location(s3_bucket.url())
    file = FileInfo(path=location.path("gone.csv"), key="gone.csv", size=10)
    with pytest.raises(FileNotFoundError):
        list(read_file(location.fs, file, ReaderOptions()))
