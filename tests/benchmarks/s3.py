"""A moto S3 server on loopback, and a corpus uploaded to it, for the S3-source rows."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from tests.benchmarks.corpus import Corpus

DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "bench-access-key",
    "AWS_SECRET_ACCESS_KEY": "bench-secret-key",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    # Never ask the instance metadata service: no traffic may leave loopback.
    "AWS_EC2_METADATA_DISABLED": "true",
}
_UPLOAD_THREADS = 8


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on 127.0.0.1 (in a thread of this process); yields its endpoint URL."""
    # werkzeug logs every request at INFO, thousands of lines per run.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_env(endpoint: str) -> dict[str, str]:
    """This process's environment with only dummy credentials and the loopback endpoint."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(DUMMY_AWS)
    env["AWS_ENDPOINT_URL"] = endpoint
    return env


def upload(endpoint: str, corpus: Corpus) -> str:
    """Put every file of ``corpus`` into a new bucket; returns the ``s3://`` URL of its folder."""
    client: Any = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=DUMMY_AWS["AWS_REGION"],
        aws_access_key_id=DUMMY_AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_AWS["AWS_SECRET_ACCESS_KEY"],
    )
    bucket = f"bench-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)

    def put(key: str) -> None:
        client.upload_file(str(corpus.root / key), bucket, f"{corpus.name}/{key}")

    with ThreadPoolExecutor(_UPLOAD_THREADS) as pool:
        list(pool.map(put, [f.key for f in corpus.files]))
    return f"s3://{bucket}/{corpus.name}/"
