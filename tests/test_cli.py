"""The command line, run as a subprocess."""

from __future__ import annotations

import os
from pathlib import Path

import fsspec

from tests.cli import run_cli
from tests.datasets import assert_rows_equal, local_put, make_files, read_parquet_outputs


def test_snapshot_cli_prints_summary_and_exit_codes(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    expected = make_files(local_put(src), 6, 20)
    result = run_cli(["snapshot", str(src), str(out), "--state", str(tmp_path / "s.db")])
    assert result.returncode == 0, result.stderr
    assert "files completed" in result.stdout
    assert_rows_equal(read_parquet_outputs(fsspec.filesystem("file"), str(out)), expected)

    # A bad row is dead-lettered (the default): the file completes, the run succeeds.
    (src / "bad.jsonl").write_text('{"a": 1}\nthis is not json\n')
    lettered = run_cli(["snapshot", str(src), str(out), "--state", str(tmp_path / "s.db")])
    assert lettered.returncode == 0, lettered.stderr
    assert "bad rows (skipped or dead-lettered)" in lettered.stdout
    assert (out / "_dead_letter" / "bad.jsonl.badrows.jsonl").read_text().count("\n") == 1

    # A file that cannot be read fails the run; the next run skips it unless --retry-failed.
    (src / "broken.csv.gz").write_bytes(b"\x1f\x8b\x08\x00 not gzip")
    failed = run_cli(["snapshot", str(src), str(out), "--state", str(tmp_path / "s.db")])
    assert failed.returncode == 1
    assert "broken.csv.gz" in failed.stdout
    assert "files skipped (already done)" in failed.stdout
    wide = {**os.environ, "COLUMNS": "250"}
    again = run_cli(["snapshot", str(src), str(out), "--state", str(tmp_path / "s.db")], wide)
    assert again.returncode == 1
    assert "files skipped (failed before)" in again.stdout
    assert "broken.csv.gz │ skipped (failed before; --retry-failed to retry)" in again.stdout
    retried = run_cli(
        ["snapshot", str(src), str(out), "--state", str(tmp_path / "s.db"), "--retry-failed"]
    )
    assert retried.returncode == 1
    assert "failed before" not in retried.stdout
    assert "cannot decompress" in retried.stdout


def test_config_file_and_override(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    expected = make_files(local_put(src), 4, 5)
    config = tmp_path / "p.toml"
    config.write_text(f'source = "{src}"\ndest = "{tmp_path / "elsewhere"}"\ninclude = ["*.csv"]\n')
    result = run_cli(
        [
            "snapshot",
            str(src),
            str(out),
            "--config",
            str(config),
            "-q",
            "--state",
            str(tmp_path / "s.db"),
        ]
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    only_csv = {k: v for k, v in expected.items() if k.endswith(".csv")}
    assert_rows_equal(read_parquet_outputs(fsspec.filesystem("file"), str(out)), only_csv)
    assert not (tmp_path / "elsewhere").exists()


def test_wrong_settings_give_one_line(tmp_path: Path) -> None:
    config = tmp_path / "p.toml"
    config.write_text('source = "a"\ndest = "b"\nconcurency = 3\n')
    result = run_cli(["snapshot", "--config", str(config)])
    assert result.returncode == 2
    assert "unknown key 'concurency'; did you mean 'concurrency'?" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1

    result = run_cli(["snapshot", str(tmp_path), str(tmp_path / "o"), "--inflight-limit", "lots"])
    assert result.returncode == 2
    assert "inflight-limit" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_explains_every_option() -> None:
    result = run_cli(["snapshot", "--help"], timeout=30)
    assert result.returncode == 0
    for option in (
        "--include",
        "--exclude",
        "--full-refresh",
        "--state",
        "--name",
        "--endpoint-url",
        "--concurrency",
        "--format",
        "--output-format",
    ):
        assert option in result.stdout
