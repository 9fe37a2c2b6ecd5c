"""``replicate state ...`` and ``replicate plan``, run through typer's CliRunner."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer
from typer.testing import CliRunner, Result

from replicator.checkpoint import FileRecord, SqliteCheckpointStore, default_state_path
from replicator.checkpoint.ledger import WATERMARK
from replicator.checkpoint.location import default_pipeline_name
from replicator.cli import plan_cmd, state_cmd
from replicator.cli.plan_cmd import plan, plan_json
from replicator.cli.state_cmd import state_app
from replicator.config import Settings
from replicator.discovery.listing import list_files
from replicator.model import FileInfo
from replicator.runner.preview import make_plan
from replicator.runner.snapshot import run_snapshot
from replicator.storage import open_location
from tests.datasets import local_put, make_files

# 2026-01-01T00:00:00Z and one hour later.
T0 = 1_767_225_600.0
T1 = T0 + 3600

app = typer.Typer()


@app.callback()
def _root() -> None:
    """The commands under test, mounted as the lead mounts them in replicator.cli.app."""


app.add_typer(state_app, name="state")
app.command("plan")(plan)


def invoke(*args: str, answer: str | None = None) -> Result:
    # Wide and colourless, so table cells are neither wrapped nor wrapped in escape codes.
    env = {"COLUMNS": "250", "FORCE_COLOR": None, "TTY_COMPATIBLE": None}
    return CliRunner().invoke(app, list(args), input=answer, env=env)


def completed(key: str, **fields: Any) -> FileRecord:
    return FileRecord(key=key, etag=f"etag-{key}", size=10, mtime=T0, status="completed", **fields)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """Two pipelines: alpha (2 completed, 1 failed twice, a watermark) and beta (1 completed)."""
    path = tmp_path / "state.db"
    with SqliteCheckpointStore(path, "alpha", clock=lambda: T1) as store:
        store.record_completed(
            [
                completed("a/one.csv", rows=3, outputs=("out/a/one.csv.parquet",), updated_at=T0),
                completed("b.jsonl", rows=5, outputs=("out/b.jsonl.parquet",), updated_at=T1),
            ]
        )
        bad = FileRecord(key="bad.csv", etag="e-bad", size=7, mtime=T0, status="failed")
        store.record_failed(FileRecord(**{**_fields(bad), "error": "cannot read as csv: line 2"}))
        store.record_failed(FileRecord(**{**_fields(bad), "error": "cannot read as csv: line 3"}))
        store.set_value(WATERMARK, repr(T0))
    with SqliteCheckpointStore(path, "beta", clock=lambda: T1) as store:
        store.record_completed([completed("z.parquet", rows=1)])
    return path


def _fields(record: FileRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in FileRecord.__slots__}


ALPHA_JSON = [
    {
        "pipeline": "alpha",
        "key": "a/one.csv",
        "status": "completed",
        "etag": "etag-a/one.csv",
        "size": 10,
        "mtime": T0,
        "rows": 3,
        "outputs": ["out/a/one.csv.parquet"],
        "updated_at": "2026-01-01T00:00:00Z",
        "attempts": 1,
        "error": None,
    },
    {
        "pipeline": "alpha",
        "key": "b.jsonl",
        "status": "completed",
        "etag": "etag-b.jsonl",
        "size": 10,
        "mtime": T0,
        "rows": 5,
        "outputs": ["out/b.jsonl.parquet"],
        "updated_at": "2026-01-01T01:00:00Z",
        "attempts": 1,
        "error": None,
    },
    {
        "pipeline": "alpha",
        "key": "bad.csv",
        "status": "failed",
        "etag": "e-bad",
        "size": 7,
        "mtime": T0,
        "rows": 0,
        "outputs": [],
        "updated_at": "2026-01-01T01:00:00Z",
        "attempts": 2,
        "error": "cannot read as csv: line 3",
    },
]


# -- state pipelines ------------------------------------------------------------------------


def test_pipelines_counts_by_status(state: Path) -> None:
    result = invoke("state", "pipelines", "--state", str(state), "--json")
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout) == [
        {
            "pipeline": "alpha",
            "completed": 2,
            "failed": 1,
            "in_progress": 0,
            "total": 3,
            "watermark": "2026-01-01T00:00:00Z",
        },
        {
            "pipeline": "beta",
            "completed": 1,
            "failed": 0,
            "in_progress": 0,
            "total": 1,
            "watermark": None,
        },
    ]

    table = invoke("state", "pipelines", "--state", str(state))
    assert table.exit_code == 0, table.output
    lines = [line.split() for line in table.stdout.splitlines()]
    alpha = ["│", "alpha", "│", "2", "│", "1", "│", "0", "│", "3", "│", "2026-01-01T00:00:00Z", "│"]
    assert alpha in lines
    assert ["│", "beta", "│", "1", "│", "0", "│", "0", "│", "1", "│", "│"] in lines


# -- state list -----------------------------------------------------------------------------


def test_list_json_gives_every_field(state: Path) -> None:
    result = invoke("state", "list", "--state", str(state), "--name", "alpha", "--json")
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout) == ALPHA_JSON


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """stdout is a terminal: tables, as a person sees them."""
    monkeypatch.setattr(state_cmd, "stdout_is_terminal", lambda: True)


@pytest.mark.usefixtures("terminal")
def test_list_filters_by_status(state: Path) -> None:
    base = ("state", "list", "--state", str(state), "--name", "alpha", "--json")
    failed = invoke(*base, "--failed")
    assert orjson.loads(failed.stdout) == [ALPHA_JSON[2]]
    done = invoke(*base, "--completed")
    assert orjson.loads(done.stdout) == ALPHA_JSON[:2]
    in_progress = invoke(*base, "--in-progress")
    assert in_progress.exit_code == 0
    assert orjson.loads(in_progress.stdout) == []

    table = invoke("state", "list", "--state", str(state), "--name", "alpha", "--in-progress")
    assert "no files in progress in pipeline alpha" in table.stdout

    both = invoke(*base, "--failed", "--completed")
    assert both.exit_code == 2
    assert both.stderr == "error: give at most one of --failed, --in-progress, --completed\n"


@pytest.mark.usefixtures("terminal")
def test_list_table_shows_records(state: Path) -> None:
    result = invoke("state", "list", "--state", str(state), "--name", "alpha")
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip()}
    assert rows["a/one.csv"][:5] == ["a/one.csv", "completed", "3", "1", "2026-01-01T00:00:00Z"]
    assert rows["b.jsonl"][:5] == ["b.jsonl", "completed", "5", "1", "2026-01-01T01:00:00Z"]
    assert rows["bad.csv"][:5] == ["bad.csv", "failed", "0", "2", "2026-01-01T01:00:00Z"]
    # The details column: etag, then outputs, then the error, one per line.
    assert rows["a/one.csv"][5:] == ["etag", "etag-a/one.csv"]
    assert rows["bad.csv"][5:] == ["etag", "e-bad"]
    assert "-> out/a/one.csv.parquet" in result.stdout
    assert "cannot read as csv: line 3" in result.stdout


def test_list_needs_a_name_when_the_file_holds_several(state: Path) -> None:
    result = invoke("state", "list", "--state", str(state))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"error: the state file {state} holds 2 pipelines (alpha, beta); pick one with --name, "
        "SOURCE DEST, or --config\n"
    )
    unknown = invoke("state", "list", "--state", str(state), "--name", "gamma")
    assert unknown.exit_code == 2
    assert unknown.stderr == (
        f"error: no pipeline 'gamma' in the state file {state} (has it run yet?); "
        "it holds: alpha, beta\n"
    )


def test_list_takes_the_only_pipeline_and_the_default_state_file() -> None:
    path = default_state_path()
    with SqliteCheckpointStore(path, "solo", clock=lambda: T0) as store:
        store.record_completed([completed("only.csv", rows=2)])
    result = invoke("state", "list", "--json")
    assert result.exit_code == 0, result.output
    assert [(r["pipeline"], r["key"], r["rows"]) for r in orjson.loads(result.stdout)] == [
        ("solo", "only.csv", 2)
    ]


def test_missing_state_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "state.db"
    for command in (["list"], ["pipelines"], ["show", "k"], ["forget", "k"], ["reset", "--yes"]):
        result = invoke("state", *command, "--state", str(missing))
        assert result.exit_code == 2, command
        assert result.stderr.startswith(f"error: no state file at {missing}; pass --state")
    assert not missing.parent.exists()


# -- state show / forget / reset ------------------------------------------------------------


def test_show_one_record(state: Path) -> None:
    base = ("state", "show", "bad.csv", "--state", str(state), "--name", "alpha")
    as_json = invoke(*base, "--json")
    assert as_json.exit_code == 0, as_json.output
    assert orjson.loads(as_json.stdout) == ALPHA_JSON[2]

    table = invoke(*base)
    fields = {
        parts[1]: " ".join(parts[3:-1])
        for parts in (line.split() for line in table.stdout.splitlines())
        if len(parts) > 3
    }
    assert fields["status"] == "failed"
    assert fields["attempts"] == "2"
    assert fields["mtime"] == "2026-01-01T00:00:00Z"
    assert fields["error"] == "cannot read as csv: line 3"

    missing = invoke("state", "show", "nope.csv", "--state", str(state), "--name", "beta")
    assert missing.exit_code == 1
    assert missing.stderr == "error: no record of 'nope.csv' in pipeline beta\n"


def test_forget_then_list(state: Path) -> None:
    base = ("--state", str(state), "--name", "alpha")
    result = invoke("state", "forget", "b.jsonl", *base)
    assert result.exit_code == 0, result.output
    assert result.stdout == "forgot b.jsonl in pipeline alpha\n"
    listed = invoke("state", "list", *base, "--json")
    assert orjson.loads(listed.stdout) == [ALPHA_JSON[0], ALPHA_JSON[2]]

    again = invoke("state", "forget", "b.jsonl", *base)
    assert again.exit_code == 1
    assert again.stderr.startswith("error: no record of 'b.jsonl' in pipeline alpha;")
    # The other pipeline kept its record.
    beta = invoke("state", "list", "--state", str(state), "--name", "beta", "--json")
    assert [r["key"] for r in orjson.loads(beta.stdout)] == ["z.parquet"]


def test_forget_warns_when_the_watermark_still_covers_the_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SqliteCheckpointStore(path, "p") as store:
        store.record_completed([completed("old.csv")])
        # Horizon = watermark - 1 h overlap, well after the file's mtime.
        store.set_value(WATERMARK, repr(T1 + 7200))
    result = invoke("state", "forget", "old.csv", "--state", str(path))
    assert result.exit_code == 0
    assert "warning: old.csv is older than the pipeline's watermark" in result.stderr
    assert "--full-refresh" in result.stderr


def test_reset_asks_or_refuses(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = ("state", "reset", "--state", str(state), "--name", "alpha")
    refused = invoke(*base)
    assert refused.exit_code == 2
    assert refused.stderr == (
        "error: reset needs confirmation; pass --yes to reset without asking\n"
    )

    monkeypatch.setattr(state_cmd, "_interactive", lambda: True)
    declined = invoke(*base, answer="n\n")
    assert declined.exit_code == 1
    assert "Forget every file of pipeline alpha" in declined.stdout
    assert declined.stderr == "nothing was reset\n"
    counts = invoke("state", "pipelines", "--state", str(state), "--json")
    assert [p["total"] for p in orjson.loads(counts.stdout)] == [3, 1]

    accepted = invoke(*base, answer="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert "reset pipeline alpha: forgot 3 files" in accepted.stdout
    # alpha is gone (records and watermark), so beta is now the only pipeline.
    left = invoke("state", "list", "--state", str(state), "--json")
    assert [(r["pipeline"], r["key"]) for r in orjson.loads(left.stdout)] == [("beta", "z.parquet")]


def test_reset_with_yes(state: Path) -> None:
    result = invoke("state", "reset", "--state", str(state), "--name", "beta", "--yes")
    assert result.exit_code == 0, result.output
    assert result.stdout == "reset pipeline beta: forgot 1 file\n"
    names = invoke("state", "pipelines", "--state", str(state), "--json")
    assert [p["pipeline"] for p in orjson.loads(names.stdout)] == ["alpha"]


# -- plan -----------------------------------------------------------------------------------


@pytest.fixture
def source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    make_files(local_put(src), 6, 4)
    return src


def record_done(state: Path, pipeline: str, files: list[FileInfo]) -> None:
    with SqliteCheckpointStore(state, pipeline) as store:
        store.record_completed(
            [
                FileRecord(key=f.key, etag=f.etag, size=f.size, mtime=f.mtime, status="completed")
                for f in files
            ]
        )


def test_plan_splits_like_the_snapshot(source: Path, tmp_path: Path) -> None:
    out, state = tmp_path / "out", tmp_path / "state.db"
    files = list_files(open_location(str(source)))
    keys = [f.key for f in files]
    pipeline = default_pipeline_name(str(source), str(out))
    done, stale, failed = files[:3], files[3], files[4]
    record_done(state, pipeline, done)
    with SqliteCheckpointStore(state, pipeline) as store:
        # Recorded at another version (size), and failed: both are to do again.
        store.record_completed(
            [FileRecord(stale.key, None, stale.size + 1, stale.mtime, "completed")]
        )
        store.record_failed(FileRecord(failed.key, None, failed.size, failed.mtime, "failed"))

    result = invoke("plan", str(source), str(out), "--state", str(state), "--json")
    assert result.exit_code == 0, result.output
    todo = [files[3], files[5]]
    empty = {"files": 0, "bytes": 0, "keys": [], "keys_omitted": 0}
    assert orjson.loads(result.stdout) == {
        "pipeline": pipeline,
        "state": str(state),
        "state_exists": True,
        "source": str(source),
        "dest": str(out),
        "full_refresh": False,
        "to_replicate": {
            "files": 2,
            "bytes": sum(f.size for f in todo),
            "keys": [f.key for f in todo],
            "keys_omitted": 0,
        },
        "already_done": {
            "files": 3,
            "bytes": sum(f.size for f in done),
            "keys": keys[:3],
            "keys_omitted": 0,
        },
        # A failed file is never done: a snapshot skips it unless --retry-failed, so does plan.
        "failed_before": {
            "files": 1,
            "bytes": failed.size,
            "keys": [failed.key],
            "keys_omitted": 0,
        },
        "skipped_unknown_format": empty,
        "skipped_too_new": empty,
        "settings_changed": [],
        "stale_output_formats": [],
        "warnings": [],
    }
    table = invoke("plan", str(source), str(out), "--state", str(state))
    assert table.exit_code == 0, table.output
    assert f"plan for pipeline {pipeline}" in table.stdout
    assert re.search(rf"to replicate +2 files, {sum(f.size for f in todo)} bytes", table.stdout)
    assert re.search(rf"already done +3 files, {sum(f.size for f in done)} bytes", table.stdout)
    assert re.search(rf"failed before +1 file, {failed.size} bytes \(skipped", table.stdout)
    assert all(key in table.stdout for key in keys)
    assert not out.exists()

    # The snapshot does what the plan said, with and without --retry-failed.
    settings = Settings(source=str(source), dest=str(out), state=str(state))
    summary = run_snapshot(settings)
    assert (summary.files_completed, summary.files_skipped, summary.files_failed) == (2, 3, 0)
    assert summary.files_failed_before == 1
    retry = invoke("plan", str(source), str(out), "--state", str(state), "--retry-failed", "--json")
    assert orjson.loads(retry.stdout)["to_replicate"]["keys"] == [failed.key]
    summary = run_snapshot(settings.replace(retry_failed=True))
    assert (summary.files_completed, summary.files_skipped, summary.files_failed) == (1, 5, 0)
    after = invoke("plan", str(source), str(out), "--state", str(state), "--json")
    assert orjson.loads(after.stdout)["already_done"]["keys"] == keys


def test_plan_writes_nothing_without_state(source: Path, tmp_path: Path) -> None:
    out, state = tmp_path / "out", tmp_path / "no" / "state.db"
    result = invoke(
        "plan", str(source), str(out), "--state", str(state), "--include", "*.csv", "--json"
    )
    assert result.exit_code == 0, result.output
    got = orjson.loads(result.stdout)
    csv_keys = [f"part {i:04d}/data-ü.csv" for i in (0, 2, 4)]
    assert got["state_exists"] is False
    assert got["to_replicate"]["keys"] == csv_keys
    assert got["already_done"] == {"files": 0, "bytes": 0, "keys": [], "keys_omitted": 0}
    assert not state.parent.exists()
    assert not out.exists()

    table = invoke("plan", str(source), str(out), "--state", str(state))
    assert re.search(rf"state +{re.escape(str(state))} \(absent: nothing done yet\)", table.stdout)
    assert not default_state_path().exists()


def test_plan_caps_the_keys_unless_all(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan_cmd, "DEFAULT_SHOWN", 2)
    out, state = tmp_path / "out", tmp_path / "state.db"
    keys = [f.key for f in list_files(open_location(str(source)))]
    capped = orjson.loads(invoke("plan", str(source), str(out), "--json").stdout)
    assert capped["to_replicate"] == {
        "files": 6,
        "bytes": sum(f.stat().st_size for f in source.rglob("*") if f.is_file()),
        "keys": keys[:2],
        "keys_omitted": 4,
    }
    table = invoke("plan", str(source), str(out))
    assert "to replicate (first 2 of 6; --all shows every key)" in table.stdout
    assert keys[2] not in table.stdout

    every = orjson.loads(invoke("plan", str(source), str(out), "--all", "--json").stdout)
    assert every["to_replicate"]["keys"] == keys
    assert every["to_replicate"]["keys_omitted"] == 0
    assert not state.exists()


def test_plan_full_refresh_and_config(source: Path, tmp_path: Path) -> None:
    out, state = tmp_path / "out", tmp_path / "state.db"
    files = list_files(open_location(str(source)))
    record_done(state, "lake", files)
    config = tmp_path / "p.toml"
    config.write_text(f'source = "{source}"\ndest = "{out}"\nname = "lake"\nstate = "{state}"\n')
    done = orjson.loads(invoke("plan", "--config", str(config), "--json").stdout)
    assert (done["to_replicate"]["files"], done["already_done"]["files"]) == (0, 6)
    fresh = invoke("plan", "--config", str(config), "--full-refresh", "--json")
    got = orjson.loads(fresh.stdout)
    assert got["full_refresh"] is True
    assert got["to_replicate"]["keys"] == [f.key for f in files]
    assert got["already_done"]["files"] == 0


def test_plan_errors_are_one_line(tmp_path: Path) -> None:
    config = tmp_path / "p.toml"
    config.write_text('source = "a"\ndest = "b"\nconcurency = 3\n')
    result = invoke("plan", "--config", str(config))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {config}: unknown key 'concurency'; did you mean 'concurrency'?\n"
    )
    inside = invoke("plan", str(tmp_path), str(tmp_path / "out"))
    assert inside.exit_code == 2
    assert inside.stderr.startswith("error: the destination")


def test_plan_never_prints_credentials() -> None:
    settings = Settings(
        source="memory://user:hunter2@bucket/src?X-Amz-Signature=s3cr3t", dest="memory://out"
    )
    source = open_location(settings.source)
    source.fs.pipe(source.path("a.csv"), b"a\n1\n")
    got = plan_json(make_plan(settings))
    text = orjson.dumps(got).decode()
    assert "hunter2" not in text
    assert "s3cr3t" not in text
    assert got["source"] == "memory://bucket/src"


def test_plan_counts_files_behind_the_watermark_as_done(source: Path, tmp_path: Path) -> None:
    out, state = tmp_path / "out", tmp_path / "state.db"
    files = list_files(open_location(str(source)))
    newest = max(f.mtime or 0.0 for f in files)
    failed = files[1]
    with SqliteCheckpointStore(state, "lake") as store:
        store.set_value(WATERMARK, repr(newest + 10))
        store.record_failed(FileRecord(failed.key, None, failed.size, failed.mtime, "failed"))
    config = tmp_path / "p.toml"
    config.write_text(f'name = "lake"\nstate = "{state}"\npoll-overlap = "1s"\n')
    base = ("plan", str(source), str(out), "--config", str(config), "--json")

    # All files are older than the horizon (watermark - 1 s): done without records, but a
    # failed file is never done: skipped, or retried with --retry-failed.
    got = orjson.loads(invoke(*base).stdout)
    assert got["to_replicate"]["keys"] == []
    assert got["failed_before"]["keys"] == [failed.key]
    assert got["already_done"]["keys"] == [f.key for f in files if f is not failed]
    retry = orjson.loads(invoke(*base, "--retry-failed").stdout)
    assert retry["to_replicate"]["keys"] == [failed.key]

    # With the default hour of overlap they fall inside the window, and none has a record
    # (the failed one aside).
    config.write_text(f'name = "lake"\nstate = "{state}"\n')
    got = orjson.loads(invoke(*base).stdout)
    assert got["to_replicate"]["keys"] == [f.key for f in files if f is not failed]
