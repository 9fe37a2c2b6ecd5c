"""The Python API: ``import replicator`` gives the commands as functions, with checked options."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import replicator
from replicator.config import Settings
from tests.datasets import csv_bytes, csv_rows, local_put

REPO = Path(__file__).resolve().parent.parent


def test_settings_take_sizes_durations_and_a_single_glob_as_strings() -> None:
    settings = Settings(chunk_size="8MiB", include="*.csv", poll_interval="5m", min_age="10s")
    assert settings.chunk_size == 8 * 1024 * 1024
    assert settings.include == ("*.csv",)
    assert settings.poll_interval == 300.0
    assert settings.min_age == 10.0
    with pytest.raises(
        replicator.ConfigError, match="chunk-size: cannot read '8 apples' as a size"
    ):
        Settings(chunk_size="8 apples")
    with pytest.raises(replicator.ConfigError, match="concurrency must be a whole number"):
        Settings(concurrency="four")  # type: ignore[arg-type]


def test_snapshot_plan_and_watch_as_functions(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    put = local_put(src)
    put("a.csv", csv_bytes(csv_rows(1, 5)))
    put("b.jsonl", b'{"id": 1}\n')
    state = str(tmp_path / "state.db")
    planned = replicator.plan(str(src), str(out), state=state, include="*.csv")
    assert [f.key for f in planned.todo] == ["a.csv"]
    summary = replicator.snapshot(str(src), str(out), state=state, include="*.csv")
    assert isinstance(summary, replicator.RunSummary)
    assert (summary.files_completed, summary.rows, summary.ok) == (1, 5, True)
    ids = pq.read_table(out / "a.csv.parquet").column("id").to_pylist()
    assert ids == [r["id"] for r in csv_rows(1, 5)]
    watched = replicator.watch(str(src), str(out), state=state, once=True, min_age=0)
    # The jsonl file is new to this pipeline (no --include); the csv is done.
    assert (watched.files_completed, watched.files_skipped) == (1, 0)
    with pytest.raises(replicator.ConfigError, match="unknown key 'chunk_sise'"):
        replicator.snapshot(str(src), str(out), chunk_sise="1MiB")
    with pytest.raises(replicator.StorageError, match="does not exist"):
        replicator.snapshot(str(tmp_path / "nowhere"), str(out), state=state)


def test_the_readme_example_runs(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Python API", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None, "README has no Python API example"
    shutil.copytree(REPO / "configs" / "demo", tmp_path / "configs" / "demo")
    result = subprocess.run(
        [sys.executable, "-c", code.group(1)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    outputs = sorted((tmp_path / "demo-output" / "api").rglob("*.parquet"))
    rows = sum(pq.read_metadata(p).num_rows for p in outputs)
    assert [p.name for p in outputs] == ["orders-2026-11.csv.parquet"]
    assert result.stdout.splitlines() == [
        f"1 files, {rows} rows",
        "0 to replicate, 1 already done",
    ]
