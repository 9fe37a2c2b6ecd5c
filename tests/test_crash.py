"""kill -9 in the middle of a snapshot, then rerun: every source row is in the output once."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import fsspec
import orjson
import pytest

from replicator.runner.committer import CAPACITY
from tests.cli import replicate_cmd, run_cli
from tests.datasets import (
    assert_rows_equal,
    completed_count,
    local_put,
    make_files,
    read_parquet_outputs,
)

FILES = 300


def _completed(state: Path) -> int:
    return completed_count(state, "crash")


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_kill_9_mid_run_then_rerun(tmp_path: Path) -> None:
    src, out, state = tmp_path / "src", tmp_path / "out", tmp_path / "state.db"
    expected = make_files(local_put(src), FILES, 400)
    args = [
        "snapshot",
        str(src),
        str(out),
        "--state",
        str(state),
        "--name",
        "crash",
        "-q",
        "--concurrency",
        "2",
    ]

    proc = subprocess.Popen(
        replicate_cmd(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while _completed(state) < 20 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run was killed, not finished"
    done_before = _completed(state)
    assert 0 < done_before < FILES, f"killed part way: {done_before} of {FILES} done"
    # The files in work at the kill are on record as in progress, never as completed.
    listed = run_cli(
        ["state", "list", "--state", str(state), "--name", "crash", "--in-progress", "--json"]
    )
    in_progress = {r["key"] for r in orjson.loads(listed.stdout)}
    # Two files were being read (--concurrency 2); more may have been read and be waiting for
    # their batch to be made durable and recorded (one batch in hand, a full backlog behind).
    assert 1 <= len(in_progress) <= 2 + 2 * CAPACITY

    rerun = run_cli(args, timeout=180)
    assert rerun.returncode == 0, rerun.stderr
    assert _completed(state) == FILES
    again = run_cli(
        ["state", "list", "--state", str(state), "--name", "crash", "--in-progress", "--json"]
    )
    assert orjson.loads(again.stdout) == []
    assert_rows_equal(read_parquet_outputs(fsspec.filesystem("file"), str(out)), expected)
    # The second run did only what the first had not finished.
    summary = run_cli([*args[:-3], "--concurrency", "2"], timeout=60)
    assert summary.returncode == 0
