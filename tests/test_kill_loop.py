"""kill -9 at random moments, over and over, then let it finish: every row once, state sound."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import fsspec
import pytest

from replicator.checkpoint.sqlite import SqliteCheckpointStore
from tests.cli import replicate_cmd, run_cli
from tests.datasets import (
    assert_rows_equal,
    completed_count,
    local_put,
    make_files,
    read_parquet_outputs,
)

FILES = 200
KILLS = 20


def _completed(state: Path) -> int:
    return completed_count(state, "kill")


@pytest.mark.slow
@pytest.mark.timeout(110)
def test_repeated_kill_9_then_finish(tmp_path: Path) -> None:
    src, out, state = tmp_path / "src", tmp_path / "out", tmp_path / "state.db"
    expected = make_files(local_put(src), FILES, 5000)
    args = ["snapshot", str(src), str(out), "--state", str(state), "--name", "kill", "-q"]
    # One file at a time in small chunks: slow enough that most kills land mid-work.
    args += ["--concurrency", "1", "--chunk-size", "4KiB"]
    rng = random.Random(20240601)
    mid_work = 0
    for _ in range(KILLS):
        if _completed(state) == FILES:
            break  # nothing left to interrupt
        proc = subprocess.Popen(
            replicate_cmd(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        # Start-up takes most of a second; the kills land before, during and after the work.
        time.sleep(rng.uniform(0.3, 1.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        mid_work += proc.returncode == -signal.SIGKILL and _completed(state) < FILES
    # How many runs finish before their kill depends on the machine; enough must not.
    assert mid_work >= 8, f"only {mid_work} kills landed before the work was done"

    final = run_cli(args, timeout=60)
    assert final.returncode == 0, final.stderr
    assert_rows_equal(read_parquet_outputs(fsspec.filesystem("file"), str(out)), expected)
    # No temp file is left: a killed run's hidden ".*.tmp" is removed by the next run that
    # writes into its folder (each killed file is redone there). Every completed record's
    # output exists.
    assert sorted(p.name for p in out.rglob(".*.tmp")) == []
    visible = [p for p in out.rglob("*") if p.is_file() and p.name != "_common_metadata"]
    assert len(visible) == FILES
    assert (out / "_common_metadata").is_file()  # the pipeline's schema, for readers
    assert all(p.suffix == ".parquet" for p in visible)
    store = SqliteCheckpointStore(state, "kill")
    try:
        completed = list(store.list("completed"))
    finally:
        store.close()
    assert sorted(r.key for r in completed) == sorted(expected)
    for record in completed:
        assert record.outputs, record.key
        for output in record.outputs:
            assert Path(output).is_file(), f"{record.key}: {output} is missing"
