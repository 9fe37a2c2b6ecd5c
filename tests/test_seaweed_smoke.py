"""The SeaweedFS fixture serves a real S3: boto3 and s3fs round trips, multipart, credentials."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
import s3fs
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from tests import seaweed
from tests.conftest import DUMMY_AWS, make_bucket
from tests.seaweed import SeaweedBucket, SeaweedServer, SeaweedUnavailable, drop_bucket

MiB = 1024 * 1024
# s3fs's smallest legal part size; anything written past it goes out as a multipart upload.
PART_SIZE = 5 * MiB


def payload(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.fixture
def fs(seaweed_bucket: SeaweedBucket) -> s3fs.S3FileSystem:
    return s3fs.S3FileSystem(
        client_kwargs={"endpoint_url": seaweed_bucket.endpoint}, skip_instance_cache=True
    )


def test_endpoint_is_loopback(seaweed_endpoint: str) -> None:
    assert seaweed_endpoint.startswith("http://127.0.0.1:")
    assert int(seaweed_endpoint.rsplit(":", 1)[1]) > 0


def test_boto3_put_get_list(seaweed_bucket: SeaweedBucket) -> None:
    objects = {"a.csv": b"x,y\n1,2\n", "dir/b.jsonl": b'{"k": 1}\n', "dir/sub/c.bin": bytes(256)}
    for key, body in objects.items():
        seaweed_bucket.put(key, body)

    assert {key: seaweed_bucket.get(key) for key in objects} == objects
    assert seaweed_bucket.keys() == ["a.csv", "dir/b.jsonl", "dir/sub/c.bin"]
    assert seaweed_bucket.keys("dir/") == ["dir/b.jsonl", "dir/sub/c.bin"]


def test_s3fs_put_get_list(seaweed_bucket: SeaweedBucket, fs: s3fs.S3FileSystem) -> None:
    root = seaweed_bucket.name
    fs.pipe(f"{root}/in/one.txt", b"one\n")
    fs.pipe(f"{root}/in/two.txt", b"two\n")
    seaweed_bucket.put("in/three.txt", b"three\n")  # written by boto3, read by s3fs

    assert fs.cat(f"{root}/in/one.txt") == b"one\n"
    assert fs.cat(f"{root}/in/three.txt") == b"three\n"
    assert seaweed_bucket.get("in/two.txt") == b"two\n"  # written by s3fs, read by boto3
    assert sorted(fs.find(f"{root}/in")) == [
        f"{root}/in/one.txt",
        f"{root}/in/three.txt",
        f"{root}/in/two.txt",
    ]
    assert fs.info(f"{root}/in/three.txt")["size"] == 6


def test_s3fs_multipart_upload_round_trips(
    seaweed_bucket: SeaweedBucket, fs: s3fs.S3FileSystem
) -> None:
    data = payload(12 * MiB, seed=1)
    with fs.open(f"{seaweed_bucket.name}/big.bin", "wb", block_size=PART_SIZE) as f:
        for start in range(0, len(data), MiB):
            f.write(data[start : start + MiB])

    etag = seaweed_bucket.client.head_object(Bucket=seaweed_bucket.name, Key="big.bin")["ETag"]
    # A multipart object's ETag ends in "-<number of parts>".
    assert int(etag.strip('"').rsplit("-", 1)[1]) >= 2
    assert fs.cat(f"{seaweed_bucket.name}/big.bin") == data
    assert seaweed_bucket.get("big.bin") == data


def test_object_in_multipart_upload_is_not_listed_before_close(
    seaweed_bucket: SeaweedBucket, fs: s3fs.S3FileSystem
) -> None:
    data = payload(8 * MiB, seed=2)
    path = f"{seaweed_bucket.name}/out/part.bin"
    f = fs.open(path, "wb", block_size=PART_SIZE)
    try:
        f.write(data[: 6 * MiB])
        f.flush()  # sends the first part
        uploads = seaweed_bucket.client.list_multipart_uploads(Bucket=seaweed_bucket.name)
        assert [u["Key"] for u in uploads.get("Uploads", [])] == ["out/part.bin"]
        assert seaweed_bucket.keys() == []
        fs.invalidate_cache()
        assert not fs.exists(path)
        f.write(data[6 * MiB :])
    finally:
        f.close()

    assert seaweed_bucket.keys() == ["out/part.bin"]
    assert seaweed_bucket.get("out/part.bin") == data


def test_drop_bucket_removes_a_non_empty_bucket(seaweed_endpoint: str) -> None:
    bucket = make_bucket(seaweed_endpoint)
    bucket.put("a.txt", b"a")
    bucket.put("deep/b.txt", b"b")
    drop_bucket(bucket)
    names = [b["Name"] for b in bucket.client.list_buckets()["Buckets"]]
    assert bucket.name not in names
    with pytest.raises(ClientError) as info:
        bucket.client.head_bucket(Bucket=bucket.name)
    assert info.value.response["Error"]["Code"] == "404"
    drop_bucket(bucket)  # already gone: no error


def _client(endpoint: str, **client_args: Any) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **client_args)


@pytest.mark.parametrize(
    ("client_args", "code"),
    [
        ({"aws_access_key_id": "someone-else", "aws_secret_access_key": "x"}, "InvalidAccessKeyId"),
        (
            {"aws_access_key_id": DUMMY_AWS["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": "bad"},
            "SignatureDoesNotMatch",
        ),
        # Why seaweed_bucket drops AWS_SESSION_TOKEN: weed takes any token for an STS session.
        (
            {
                "aws_access_key_id": DUMMY_AWS["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": DUMMY_AWS["AWS_SECRET_ACCESS_KEY"],
                "aws_session_token": "testing-session-token",
            },
            "InvalidAccessKeyId",
        ),
        ({"config": Config(signature_version=UNSIGNED)}, "AccessDenied"),
    ],
    ids=["unknown-key", "wrong-secret", "session-token", "anonymous"],
)
def test_only_the_dummy_identity_is_accepted(
    seaweed_bucket: SeaweedBucket, client_args: dict[str, Any], code: str
) -> None:
    seaweed_bucket.put("secret.txt", b"s")
    client = _client(seaweed_bucket.endpoint, **client_args)
    with pytest.raises(ClientError) as info:
        client.get_object(Bucket=seaweed_bucket.name, Key="secret.txt")
    assert info.value.response["Error"]["Code"] == code


def test_bucket_env_reaches_seaweed_from_a_subprocess(seaweed_bucket: SeaweedBucket) -> None:
    seaweed_bucket.put("hello.txt", b"hello from seaweed")
    env = seaweed_bucket.env()
    assert env["AWS_ENDPOINT_URL"] == seaweed_bucket.endpoint
    assert "AWS_SESSION_TOKEN" not in env
    script = (
        "import sys, boto3; "
        "body = boto3.client('s3').get_object(Bucket=sys.argv[1], Key='hello.txt')['Body']; "
        "sys.stdout.buffer.write(body.read())"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, seaweed_bucket.name],
        env=env,
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert result.stdout == b"hello from seaweed"


def _fake_weed(tmp_path: Path, body: str) -> str:
    script = tmp_path / "weed"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_a_weed_that_dies_is_reported_with_its_log(tmp_path: Path) -> None:
    server = SeaweedServer(_fake_weed(tmp_path, "echo 'bind: address already in use'; exit 3"))
    with pytest.raises(SeaweedUnavailable) as info:
        server.start(timeout=30)
    server.stop()
    assert info.value.exited
    assert "exited with code 3" in str(info.value)
    assert "bind: address already in use" in str(info.value)
    assert not server.workdir.exists()


def test_a_weed_that_never_answers_times_out_and_is_killed(tmp_path: Path) -> None:
    server = SeaweedServer(_fake_weed(tmp_path, "echo starting; exec sleep 60"))
    with pytest.raises(SeaweedUnavailable) as info:
        server.start(timeout=1)
    process = server.process
    server.stop()
    assert not info.value.exited
    assert "not ready" in str(info.value)
    assert "starting" in str(info.value)
    assert process is not None
    assert process.returncode == -signal.SIGTERM
    assert not server.workdir.exists()


def test_a_missing_weed_binary_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seaweed, "find_weed", lambda: None)
    with pytest.raises(SeaweedUnavailable, match="weed binary was not found"):
        seaweed.start_seaweed()
