"""No silent success: every run does what the user meant, or says clearly why not.

Each test is a slip a new user made (a typo'd path, a changed setting, an odd file in the
source) that used to end in exit 0 with nothing done.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from replicator.checkpoint import SqliteCheckpointStore, pipelines
from replicator.cli import app as cli_app
from replicator.config import Settings
from replicator.errors import ConfigError
from replicator.model import FileInfo
from replicator.runner.events import ChunkWritten, Event, FileStarted
from replicator.runner.snapshot import run_snapshot
from replicator.runner.stop import StopToken
from replicator.runner.tally import RunTally
from replicator.runner.watch import run_watch
from tests.cli import run_cli
from tests.conftest import S3Bucket
from tests.datasets import csv_bytes, csv_rows, local_put

REPO = Path(__file__).resolve().parent.parent


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["XDG_STATE_HOME"] = str(tmp_path / "xdg")
    env.pop("REPLICATOR_STATE", None)
    return env


def _state_pipelines(tmp_path: Path) -> list[str]:
    return pipelines(tmp_path / "xdg" / "replicator" / "state.db")


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


# -- 1. a source that does not exist ---------------------------------------------------------


@pytest.mark.parametrize("command", [["snapshot"], ["plan"], ["watch", "--once"]])
def test_a_missing_local_source_is_exit_2_and_creates_no_pipeline(
    tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "src").mkdir()
    env = _env(tmp_path)
    result = run_cli([*command, str(tmp_path / "sr"), str(tmp_path / "out"), "--quiet"], env=env)
    assert result.returncode == 2, result.stderr
    line = _one_line(result.stderr)
    assert line.startswith("error: the source ")
    assert str(tmp_path / "sr") in line
    assert _state_pipelines(tmp_path) == []
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_typo_in_an_s3_prefix_is_exit_2(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    s3_bucket.put("events/a.csv", csv_bytes(csv_rows(1, 3)))
    env = {**s3_bucket.env(), "XDG_STATE_HOME": str(tmp_path / "xdg")}
    for command in (["snapshot"], ["plan"], ["watch", "--once"]):
        result = run_cli(
            [*command, s3_bucket.url("evnts/"), str(tmp_path / "out"), "--quiet"], env=env
        )
        assert result.returncode == 2, result.stderr
        line = _one_line(result.stderr)
        assert f"the source {s3_bucket.url('evnts/')} does not exist" in line
    assert _state_pipelines(tmp_path) == []
    # A missing bucket too, and for a continuous watch as well.
    gone = run_cli(["watch", "s3://no-such-bucket/x/", str(tmp_path / "out"), "--quiet"], env=env)
    assert gone.returncode == 2, gone.stderr
    assert "no-such-bucket" in _one_line(gone.stderr)


def test_filters_that_take_nothing_are_named_in_a_warning(tmp_path: Path) -> None:
    local_put(tmp_path / "src")("a.jsonl", b'{"a": 1}\n')
    env = _env(tmp_path)
    args = ["snapshot", str(tmp_path / "src"), str(tmp_path / "out"), "--quiet"]
    result = run_cli([*args, "--include", "*.csv", "--exclude", "old/**"], env=env)
    assert result.returncode == 0, result.stderr
    assert "warning: no file under " in result.stderr
    assert (
        "matches the filters (--include '*.csv' --exclude 'old/**'): 1 listed, none taken"
        in result.stderr
    )
    (tmp_path / "empty").mkdir()
    empty = run_cli(["snapshot", str(tmp_path / "empty"), str(tmp_path / "o2"), "-q"], env=env)
    assert empty.returncode == 0
    assert f"warning: no files under {tmp_path / 'empty'}; check the path" in empty.stderr


# -- 2. config paths -------------------------------------------------------------------------


def test_relative_paths_in_a_config_file_are_relative_to_the_file(tmp_path: Path) -> None:
    project = tmp_path / "project"
    local_put(project / "data")("a.csv", csv_bytes(csv_rows(1, 4)))
    config = project / "configs" / "p.toml"
    config.parent.mkdir()
    config.write_text('source = "../data"\ndest = "../out"\nstate = "../state.db"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _env(tmp_path)
    result = run_cli(["snapshot", "--config", str(config), "--quiet"], env=env, cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    table = pq.read_table(project / "out" / "a.csv.parquet")
    assert table.column("id").to_pylist() == [r["id"] for r in csv_rows(1, 4)]
    assert (project / "state.db").is_file()
    assert list(elsewhere.iterdir()) == []
    # A path given on the command line stays relative to the working directory.
    cli_dest = run_cli(
        ["snapshot", "../project/data", "here", "--config", str(config), "--quiet"],
        env=env,
        cwd=elsewhere,
    )
    assert cli_dest.returncode == 0, cli_dest.stderr
    assert (elsewhere / "here" / "a.csv.parquet").is_file()


# -- 3. changed settings ---------------------------------------------------------------------


def test_a_changed_output_setting_stops_until_full_refresh_which_removes_stale_outputs(
    tmp_path: Path,
) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    put = local_put(src)
    put("a.csv", csv_bytes(csv_rows(1, 3)))
    put("b.csv", csv_bytes(csv_rows(2, 3)))
    env = _env(tmp_path)
    base = ["snapshot", str(src), str(out), "--quiet"]
    assert run_cli(base, env=env).returncode == 0
    parquet = ["_common_metadata", "a.csv.parquet", "b.csv.parquet"]
    assert sorted(p.name for p in out.iterdir()) == parquet

    jsonl = run_cli([*base, "--output-format", "jsonl"], env=env)
    assert jsonl.returncode == 2
    line = _one_line(jsonl.stderr)
    assert "output-format: parquet -> jsonl" in line
    assert "--full-refresh" in line
    typed = run_cli([*base, "--csv-column-types", "score:string"], env=env)
    assert typed.returncode == 2
    assert "schema-hints: (default) -> score:string" in _one_line(typed.stderr)
    assert sorted(p.name for p in out.iterdir()) == parquet

    refresh = run_cli([*base, "--output-format", "jsonl", "--full-refresh"], env=env)
    assert refresh.returncode == 0, refresh.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.csv.jsonl", "b.csv.jsonl"]
    rows = [json.loads(line) for line in (out / "a.csv.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [r["id"] for r in csv_rows(1, 3)]
    # Now the new settings are the pipeline's: a plain rerun skips everything.
    plan = run_cli(["plan", str(src), str(out), "--output-format", "jsonl", "--json"], env=env)
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout)["already_done"]["keys"] == ["a.csv", "b.csv"]


def test_an_interrupted_refresh_is_carried_on_by_the_next_run(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    put = local_put(src)
    for i in range(4):
        put(f"f{i}.csv", csv_bytes(csv_rows(i, 3)))
    settings = Settings(source=str(src), dest=str(out), state=str(tmp_path / "s.db"), name="p")
    assert run_snapshot(settings).files_completed == 4
    stop = StopToken()

    def stop_after_first(event: Event) -> None:
        if isinstance(event, FileStarted):
            stop.request()  # the run takes its first file, then stops

    changed = settings.replace(output_format="csv", full_refresh=True, concurrency=1)
    first = run_snapshot(changed, stop_after_first, stop)
    assert first.interrupted
    # Not a full refresh now, with the new settings: the files not yet redone are redone.
    rest = run_snapshot(settings.replace(output_format="csv"))
    assert rest.files_completed + first.files_completed == 4
    assert sorted(p.name for p in out.iterdir()) == [f"f{i}.csv.csv" for i in range(4)]


# -- 5. and 6. resources at start-up ---------------------------------------------------------


def test_a_state_url_is_exit_2_and_creates_no_folder(tmp_path: Path) -> None:
    local_put(tmp_path / "src")("a.csv", b"a\n1\n")
    result = run_cli(
        ["snapshot", "src", "out", "--state", "s3://tables/state.db", "--quiet"],
        env=_env(tmp_path),
        cwd=tmp_path,
    )
    assert result.returncode == 2
    line = _one_line(result.stderr)
    assert "--state s3://tables/state.db" in line
    assert "local path" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_a_metrics_port_in_use_is_exit_2_in_one_line(tmp_path: Path) -> None:
    local_put(tmp_path / "src")("a.csv", b"a\n1\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(
            ["snapshot", "src", "out", "--metrics-port", str(port), "--log-format", "text"],
            env=_env(tmp_path),
            cwd=tmp_path,
        )
    assert result.returncode == 2, result.stderr
    assert f"error: --metrics-port: cannot serve metrics on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


# -- 7. a watch reports each file's final state; --min-age -----------------------------------


def test_the_tally_keeps_each_files_last_outcome() -> None:
    tally = RunTally()
    fixed = FileInfo(path="/a", key="a.gz", size=1)
    broken = FileInfo(path="/b", key="b.gz", size=1)
    tally.failed(fixed, "truncated")
    tally.failed(fixed, "truncated again")
    tally.failed(broken, "corrupt")
    tally.completed(fixed, rows=3, bad_rows=0)
    summary = tally.summary("p", 1.0)
    assert summary.files_failed == 1
    assert summary.failures == (("b.gz", "corrupt"),)


def test_watch_forgets_a_failure_that_a_later_poll_fixed(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    whole = gzip.compress(b'{"id": 1}\n{"id": 2}\n' * 50)
    (src / "e.jsonl.gz").write_bytes(whole[: len(whole) // 2])  # caught half-written
    settings = Settings(
        source=str(src),
        dest=str(out),
        state=str(tmp_path / "s.db"),
        name="w",
        poll_interval=0.05,
        max_poll_interval=0.1,
        min_age=0,
    )
    stop = StopToken()
    results: list[Any] = []
    thread = threading.Thread(target=lambda: results.append(run_watch(settings, stop=stop)))
    thread.start()
    try:
        store_path = tmp_path / "s.db"
        _wait_for(lambda: _status(store_path, "e.jsonl.gz", "w") == "failed")
        (src / "e.jsonl.gz").write_bytes(whole)  # the upload finishes: a new version
        _wait_for(lambda: _status(store_path, "e.jsonl.gz", "w") == "completed")
    finally:
        stop.request()
        thread.join(30)
    summary = results[0]
    assert (summary.files_completed, summary.files_failed, summary.failures) == (1, 0, ())
    table = pq.read_table(out / "e.jsonl.gz.parquet")
    assert table.column("id").to_pylist() == [1, 2] * 50


def test_watch_leaves_files_younger_than_min_age(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    put = local_put(src)
    put("old.csv", csv_bytes(csv_rows(1, 2)))
    put("new.csv", csv_bytes(csv_rows(2, 2)))
    hour_ago = time.time() - 3600
    os.utime(src / "old.csv", (hour_ago, hour_ago))
    settings = Settings(source=str(src), dest=str(out), state=str(tmp_path / "s.db"), name="w")
    summary = run_watch(settings, once=True)  # the default for a polling watch: 5 s
    assert (summary.files_completed, summary.files_too_new) == (1, 1)
    assert any("left for the next pass (--min-age)" in w for w in summary.warnings)
    assert sorted(p.name for p in out.iterdir()) == ["_common_metadata", "old.csv.parquet"]
    assert _status(tmp_path / "s.db", "new.csv", "w") is None
    assert run_watch(settings.replace(min_age=0), once=True).files_completed == 1


# -- 8. the first Ctrl-C stops a snapshot promptly -------------------------------------------


def test_the_first_stop_leaves_a_file_in_the_middle_for_the_next_run(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    rows = csv_rows(3, 60_000)
    local_put(src)("big.csv", csv_bytes(rows))
    settings = Settings(
        source=str(src), dest=str(out), state=str(tmp_path / "s.db"), name="p", chunk_size="16KiB"
    )
    stop = StopToken()
    chunks_after_stop: list[int] = []

    def on_event(event: Event) -> None:
        if isinstance(event, ChunkWritten):
            if stop.draining:
                chunks_after_stop.append(event.rows)
            else:
                stop.request()  # Ctrl-C once, during the first chunk

    summary = run_snapshot(settings, on_event, stop)
    assert summary.interrupted
    assert summary.files_completed == 0
    assert len(chunks_after_stop) <= 1  # it stopped at the next chunk, not at the file's end
    assert not (out / "big.csv.parquet").exists()
    assert _status(tmp_path / "s.db", "big.csv", "p") == "in_progress"
    # The next run redoes it whole.
    again = run_snapshot(settings)
    assert (again.files_completed, again.rows) == (1, len(rows))


def test_the_first_ctrl_c_says_what_happens(monkeypatch: pytest.MonkeyPatch) -> None:
    said: list[str] = []
    stop = StopToken()
    with cli_app._signals(stop, said.append):
        os.kill(os.getpid(), signal.SIGINT)
        _wait_for(lambda: bool(said))
        assert stop.draining
        assert not stop.aborting
        os.kill(os.getpid(), signal.SIGINT)
        _wait_for(lambda: stop.aborting)
    assert said == [cli_app.STOPPING]
    assert "Ctrl-C again to stop at once" in said[0]


# -- 10. and 11. files that are not data; symbolic links -------------------------------------


def test_hidden_names_and_unknown_formats_are_skipped_and_said(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    put = local_put(src)
    for key in ("x.csv", ".hidden.csv", "_tmp/part.csv", "sub/_SUCCESS", "README.md", "d.xyz"):
        put(key, b"a,b\n1,2\n")
    env = _env(tmp_path)
    result = run_cli(["snapshot", str(src), str(out), "--quiet"], env=env)
    assert result.returncode == 0, result.stderr
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.parquet")) == ["x.csv.parquet"]
    assert (
        "warning: 2 files of unknown format skipped: README.md, d.xyz; pass --format to read"
        in result.stderr
    )
    # An include pattern that names a hidden folder takes it.
    named = run_cli(
        ["snapshot", str(src), str(tmp_path / "o2"), "-q", "--include", "_tmp/**"], env=env
    )
    assert named.returncode == 0, named.stderr
    assert [p.name for p in (tmp_path / "o2").rglob("*.parquet")] == ["part.csv.parquet"]


def test_symbolic_links_are_followed_once_unless_turned_off(tmp_path: Path) -> None:
    real, src, out = tmp_path / "real", tmp_path / "src", tmp_path / "out"
    local_put(real)("a.csv", csv_bytes(csv_rows(1, 2)))
    local_put(real / "more")("b.csv", csv_bytes(csv_rows(2, 2)))
    src.mkdir()
    (src / "a.csv").symlink_to(real / "a.csv")
    (src / "more").symlink_to(real / "more", target_is_directory=True)
    (real / "more" / "loop").symlink_to(src, target_is_directory=True)  # a cycle
    (src / "dangling.csv").symlink_to(real / "gone.csv")
    settings = Settings(source=str(src), dest=str(out), state=str(tmp_path / "s.db"), name="p")
    summary = run_snapshot(settings)
    assert (summary.files_completed, summary.files_failed) == (2, 0)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.parquet")) == [
        "a.csv.parquet",
        "more/b.csv.parquet",
    ]
    # Without following them, the folder holds no file: nothing is done, and it is said.
    unlinked = run_snapshot(
        settings.replace(follow_symlinks=False, dest=str(tmp_path / "o2"), name="n")
    )
    assert unlinked.files_completed == 0
    assert unlinked.warnings == (f"no files under {src}; check the path",)


# -- 13. state commands ----------------------------------------------------------------------


def test_state_commands_pick_the_pipeline_as_snapshot_does(tmp_path: Path) -> None:
    env = _env(tmp_path)
    key = "folder/" + "a-very-long-key-name-" * 8 + ".csv"
    local_put(tmp_path / "one")(key, b"a\n1\n")
    local_put(tmp_path / "two")("b.csv", b"a\n2\n")
    config = tmp_path / "two.toml"
    config.write_text('source = "two"\ndest = "out2"\n')
    assert run_cli(["snapshot", "one", "out1", "-q"], env=env, cwd=tmp_path).returncode == 0
    assert run_cli(["snapshot", "-c", str(config), "-q"], env=env, cwd=tmp_path).returncode == 0

    several = run_cli(["state", "list"], env=env, cwd=tmp_path)
    assert several.returncode == 2
    line = _one_line(several.stderr)
    assert "holds 2 pipelines" in line
    assert "pick one with --name, SOURCE DEST, or --config" in line

    by_args = run_cli(["state", "list", "one", "out1"], env=env, cwd=tmp_path)
    assert by_args.returncode == 0, by_args.stderr
    # Piped: one tab-separated line per file, the key whole, never wrapped.
    lines = by_args.stdout.splitlines()
    assert lines[0].split("\t")[:2] == ["key", "status"]
    assert lines[1].split("\t")[:3] == [key, "completed", "1"]
    by_config = run_cli(["state", "list", "--config", str(config)], env=env, cwd=tmp_path)
    assert by_config.returncode == 0, by_config.stderr
    assert by_config.stdout.splitlines()[1].split("\t")[:2] == ["b.csv", "completed"]
    shown = run_cli(["state", "show", "b.csv", "-c", str(config), "--json"], env=env)
    assert json.loads(shown.stdout)["rows"] == 1


# -- 14. --version and --help ----------------------------------------------------------------


def test_version_and_a_help_line_per_command() -> None:
    version = run_cli(["--version"])
    assert version.returncode == 0
    assert version.stdout.startswith("replicator ")
    help_text = run_cli(["--help"], env={**os.environ, "COLUMNS": "100"}).stdout
    for command in ("snapshot", "watch", "plan", "state"):
        lines = [line for line in help_text.splitlines() if f"│ {command} " in line]
        assert len(lines) == 1, help_text
        # One line each: the next line starts another command or closes the box.
        following = help_text.splitlines()[help_text.splitlines().index(lines[0]) + 1]
        assert following.startswith(("│ snapshot", "│ watch", "│ plan", "│ state", "╰")), help_text


# -- helpers ---------------------------------------------------------------------------------


def _status(state: Path, key: str, pipeline: str) -> str | None:
    if not state.exists():
        return None
    with SqliteCheckpointStore(state, pipeline) as store:
        record = store.get(key)
    return record.status if record else None


def _wait_for(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def test_settings_refuse_a_typo_before_touching_the_state(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="chunk-size: cannot read '8 apples'"):
        Settings(chunk_size="8 apples")
    assert not (tmp_path / "xdg").exists()


# -- from the review: data safety of a refresh, and slips that still passed ----------------------


def test_a_refresh_into_another_destination_leaves_the_old_one_alone(tmp_path: Path) -> None:
    src = tmp_path / "src"
    local_put(src)("a.csv", csv_bytes(csv_rows(1, 2)))
    local_put(src)("v2/a.csv", csv_bytes(csv_rows(2, 2)))
    base = Settings(
        source=str(src), dest=str(tmp_path / "D"), state=str(tmp_path / "s.db"), name="p"
    )
    assert run_snapshot(base).files_completed == 2
    moved = base.replace(dest=str(tmp_path / "D" / "v2"), full_refresh=True, concurrency=1)
    assert run_snapshot(moved).files_completed == 2
    # The old outputs are where they were; the new ones are complete.
    assert (tmp_path / "D" / "a.csv.parquet").is_file()
    assert (tmp_path / "D" / "v2" / "a.csv.parquet").is_file()
    assert (tmp_path / "D" / "v2" / "v2" / "a.csv.parquet").is_file()


def test_a_run_refreshed_by_another_stops_instead_of_recording(tmp_path: Path) -> None:
    from replicator.errors import StateConflict  # noqa: PLC0415

    src, out = tmp_path / "src", tmp_path / "out"
    local_put(src)("a.csv", csv_bytes(csv_rows(1, 2)))
    settings = Settings(
        source=str(src), dest=str(out), state=str(tmp_path / "s.db"), name="p", min_age=0,
        poll_interval=0.05, max_poll_interval=0.05,
    )  # fmt: skip
    stop = StopToken()
    failures: list[BaseException] = []

    def old_watch() -> None:
        try:
            run_watch(settings, stop=stop)
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=old_watch)
    thread.start()
    try:
        _wait_for(lambda: _status(tmp_path / "s.db", "a.csv", "p") == "completed")
        refresh = settings.replace(output_format="jsonl", full_refresh=True)
        assert run_snapshot(refresh).files_completed == 1
        local_put(src)("n.csv", csv_bytes(csv_rows(3, 2)))  # the old watch finds it
        thread.join(30)
    finally:
        stop.request()
        thread.join(30)
    assert len(failures) == 1
    assert isinstance(failures[0], StateConflict)
    assert "refreshed, or its settings changed, by another run" in str(failures[0])
    assert not (out / "n.csv.parquet").exists()
    assert _status(tmp_path / "s.db", "n.csv", "p") is None


def test_an_old_output_that_cannot_be_removed_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    local_put(src)("a.csv", csv_bytes(csv_rows(1, 2)))
    settings = Settings(source=str(src), dest=str(out), state=str(tmp_path / "s.db"), name="p")
    assert run_snapshot(settings).files_completed == 1
    (out / "a.csv.parquet").unlink()
    (out / "a.csv.parquet").mkdir()  # cannot be removed as a file
    (out / "a.csv.parquet" / "x").write_text("x")
    summary = run_snapshot(settings.replace(output_format="jsonl", full_refresh=True))
    assert (summary.files_completed, summary.files_failed) == (1, 0)
    assert any("could not be removed" in w and "a.csv" in w for w in summary.warnings)
    assert (out / "a.csv.jsonl").is_file()


def test_a_refresh_under_narrower_filters_keeps_removing_old_outputs_later(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    local_put(src)("x/a.csv", csv_bytes(csv_rows(1, 2)))
    local_put(src)("y/b.csv", csv_bytes(csv_rows(2, 2)))
    settings = Settings(source=str(src), dest=str(out), state=str(tmp_path / "s.db"), name="p")
    assert run_snapshot(settings).files_completed == 2
    jsonl = settings.replace(output_format="jsonl")
    assert run_snapshot(jsonl.replace(full_refresh=True, include=("x/*",))).files_completed == 1
    assert (out / "y" / "b.csv.parquet").is_file()
    assert run_snapshot(jsonl).files_completed == 1  # y/b.csv, under the wider filters
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.*")) == [
        "x/a.csv.jsonl",
        "y/b.csv.jsonl",
    ]


def test_a_pipeline_that_completed_nothing_takes_new_settings(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    local_put(src)("a.csv", b"id\n1\n")
    settings = Settings(source=str(src), dest=str(out), state=str(tmp_path / "s.db"), name="p")
    stop = StopToken()
    stop.request()  # stopped before any file: nothing completed
    assert run_snapshot(settings, stop=stop).files_completed == 0
    assert run_snapshot(settings.replace(output_format="csv")).files_completed == 1


def test_watch_warns_when_the_filters_take_nothing(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    local_put(src)("a.csv", b"id\n1\n")
    settings = Settings(
        source=str(src), dest=str(out), state=str(tmp_path / "s.db"), include=("*.CSV",), min_age=0
    )
    summary = run_watch(settings, once=True)
    assert summary.files_completed == 0
    assert summary.warnings == (
        f"no file under {src} matches the filters (--include '*.CSV'): 1 listed, none taken; "
        "check the filters",
    )


def test_a_source_naming_one_hidden_file_or_a_linked_folder_is_taken(tmp_path: Path) -> None:
    local_put(tmp_path / "real")("_data.csv", b"id\n1\n")
    (tmp_path / "src").symlink_to(tmp_path / "real", target_is_directory=True)
    one = Settings(source=str(tmp_path / "real" / "_data.csv"), dest=str(tmp_path / "o1"),
                   state=str(tmp_path / "s.db"))  # fmt: skip
    assert run_snapshot(one).files_completed == 1
    linked = Settings(
        source=str(tmp_path / "src"), dest=str(tmp_path / "o2"), state=str(tmp_path / "s.db"),
        include=("_*",), follow_symlinks=False,
    )  # fmt: skip
    assert run_snapshot(linked).files_completed == 1


def test_links_to_a_listed_folder_give_the_same_keys_whatever_the_order(tmp_path: Path) -> None:
    from replicator.discovery.listing import list_files  # noqa: PLC0415
    from replicator.storage import open_location  # noqa: PLC0415

    src = tmp_path / "src"
    local_put(src / "data-a")("x.csv", b"id\n1\n")
    for name in ("aaa-latest", "zzz-latest"):
        (src / name).symlink_to(src / "data-a", target_is_directory=True)
    assert [f.key for f in list_files(open_location(str(src)))] == ["data-a/x.csv"]


def test_a_state_url_in_the_environment_is_refused(tmp_path: Path) -> None:
    local_put(tmp_path / "src")("a.csv", b"a\n1\n")
    env = {**_env(tmp_path), "REPLICATOR_STATE": "s3://bucket/state.db"}
    result = run_cli(["snapshot", "src", "out", "-q"], env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "REPLICATOR_STATE s3://bucket/state.db" in _one_line(result.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src", "xdg"] or sorted(
        p.name for p in tmp_path.iterdir()
    ) == ["src"]
    local = run_cli(
        ["snapshot", "src", "out", "-q", "--state", f"file://{tmp_path / 's.db'}"],
        env=_env(tmp_path),
        cwd=tmp_path,
    )
    assert local.returncode == 0, local.stderr
    assert (tmp_path / "s.db").is_file()


def test_a_file_dated_in_the_future_is_taken(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    local_put(src)("a.csv", b"id\n1\n")
    later = time.time() + 86_400
    os.utime(src / "a.csv", (later, later))
    settings = Settings(source=str(src), dest=str(out), state=str(tmp_path / "s.db"))
    assert run_watch(settings, once=True).files_completed == 1


def test_the_first_ctrl_c_after_the_programs_own_drain_still_drains(tmp_path: Path) -> None:
    stop = StopToken()
    stop.drain()  # the end of a watch --once pass, say
    assert stop.request() == 1
    assert stop.draining
    assert not stop.aborting
    assert stop.request() == 2
    assert stop.aborting


def test_the_python_api_warns_and_refuses_options_of_the_command_line(tmp_path: Path) -> None:
    import replicator  # noqa: PLC0415

    local_put(tmp_path / "src")("a.csv", b"a\n1\n")
    args = (str(tmp_path / "src"), str(tmp_path / "out"))
    with pytest.warns(replicator.ReplicatorWarning, match="matches the filters"):
        summary = replicator.snapshot(*args, include="*.CSV", state=str(tmp_path / "s.db"))
    assert summary.files_completed == 0
    with pytest.raises(replicator.ConfigError, match="metrics_port is an option of the command"):
        replicator.snapshot(*args, metrics_port=9000)


def test_maps_in_csv_outputs_are_json_objects(tmp_path: Path) -> None:
    import pyarrow as pa  # noqa: PLC0415

    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    table = pa.table({"m": pa.array([[("k", 1)], None], pa.map_(pa.string(), pa.int64()))})
    pq.write_table(table, src / "a.parquet")
    settings = Settings(source=str(src), dest=str(out), state=str(tmp_path / "s.db"),
                        output_format="csv", system_columns=False)  # fmt: skip
    assert run_snapshot(settings).files_completed == 1
    lines = (out / "a.parquet.csv").read_text().splitlines()
    assert lines[1] == '"{""k"":1}",'
