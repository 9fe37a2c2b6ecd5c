"""Credentials never reach the output, the error messages or the state file."""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from replicator.storage import redact
from tests.cli import run_cli
from tests.conftest import S3Bucket
from tests.datasets import csv_bytes, csv_rows

SECRET_KEY = "Sekr3t-QZX-secret-access-key-0001"
SESSION_TOKEN = "T0ken-QZX-session-token-0002"
SIGNATURE = "5ig-QZX-signature-0003"
URL_PASSWORD = "Pa55-QZX-userinfo-0004"
SECRETS = (SECRET_KEY, SESSION_TOKEN, SIGNATURE, URL_PASSWORD)


def _env(bucket: S3Bucket) -> dict[str, str]:
    env = bucket.env()
    env["AWS_SECRET_ACCESS_KEY"] = SECRET_KEY
    env["AWS_SESSION_TOKEN"] = SESSION_TOKEN
    return env


def _state_bytes(state: Path) -> bytes:
    # The database and its write-ahead log, whichever holds the latest pages.
    return b"".join(p.read_bytes() for p in state.parent.glob(state.name + "*"))


def _assert_clean(result: subprocess.CompletedProcess[str], state: Path) -> None:
    text = result.stdout + result.stderr
    stored = _state_bytes(state) if state.exists() else b""
    for secret in SECRETS:
        assert secret not in text, f"{secret} leaked into the output:\n{text}"
        assert secret.encode() not in stored, f"{secret} leaked into the state file"


@pytest.mark.slow
def test_secrets_stay_out_of_output_errors_and_state(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    s3_bucket.put("in/a.csv", csv_bytes(csv_rows(1, 5)))
    s3_bucket.put("in/bad.csv", b"id,name\n1,2,3,4\n\xff\xfe")
    env = _env(s3_bucket)
    state = tmp_path / "state.db"
    # One pipeline per source: a pipeline remembers its source and refuses another.
    common = ["--state", str(state), "--debug"]

    # A run that works (and fails one file): the plain log view shows the source and progress.
    ok = run_cli(
        ["snapshot", s3_bucket.url("in/"), str(tmp_path / "out"), "--name", "s1", *common], env=env
    )
    assert ok.returncode in (0, 1), ok.stderr
    assert s3_bucket.url("in/") in ok.stderr  # the log did name the source
    _assert_clean(ok, state)

    # Credentials pasted into an object-store URL: refused, without repeating them.
    pasted = f"s3://AKIAQZXUSERINFO:{URL_PASSWORD}@{s3_bucket.name}/in/"
    refused = run_cli(
        ["snapshot", pasted, str(tmp_path / "out2"), "--name", "s2", *common], env=env
    )
    assert refused.returncode == 2
    assert "credentials in the URL" in refused.stderr
    _assert_clean(refused, state)

    # A presigned URL as the source: logged and named in the state without its signature.
    signed = s3_bucket.client.generate_presigned_url(
        "get_object", Params={"Bucket": s3_bucket.name, "Key": "in/a.csv"}, ExpiresIn=600
    )
    query = parse_qs(urlsplit(signed).query)
    signature = (query.get("X-Amz-Signature") or query["Signature"])[0]
    presigned = run_cli(
        ["snapshot", signed, str(tmp_path / "out3"), "--name", "s3", *common], env=env
    )
    assert presigned.returncode == 0, presigned.stderr
    assert f"snapshot {signed.split('?')[0]} ->" in presigned.stderr  # named, query left out
    _assert_clean(presigned, state)
    assert signature not in presigned.stdout + presigned.stderr
    assert signature.encode() not in _state_bytes(state)

    # And the secret env values themselves are scrubbed wherever a message repeats them.
    wrong_bucket = run_cli(
        [
            "snapshot",
            f"s3://no-bucket-{SESSION_TOKEN.lower()}x/",
            str(tmp_path / "o4"),
            "--name",
            "s4",
            *common,
        ],
        env=env,
    )
    assert wrong_bucket.returncode == 2
    assert "Traceback" in wrong_bucket.stderr  # --debug: the traceback is there, redacted
    _assert_clean(wrong_bucket, state)


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("s3://AKIA:se/cr+et@bucket/p", "s3://***@bucket/p"),
        ("https://user:pw@host/x?a=1", "https://***@host/x?a=1"),
        (
            "GET https://h/k?X-Amz-Credential=AK%2Fx&X-Amz-Signature=abc&part=2 failed",
            "GET https://h/k?X-Amz-Credential=***&X-Amz-Signature=***&part=2 failed",
        ),
        (
            "https://acct.blob.core.windows.net/c/b?sv=2020&sig=xyz%3D",
            "https://acct.blob.core.windows.net/c/b?sv=***&sig=***",
        ),
        ("sorted(files, key=lambda f: f.key)", "sorted(files, key=lambda f: f.key)"),
        ("s3://bucket:8080/x", "s3://bucket:8080/x"),
    ],
)
def test_redact(text: str, clean: str) -> None:
    assert redact(text) == clean


def test_redact_scrubs_the_values_of_credential_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    assert redact(f"signature used {SECRET_KEY}!") == "signature used ***!"
