"""The benchmark suite keeps working: its corpus, baseline and measurements, and a tiny full run."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest

from tests.benchmarks import baseline
from tests.benchmarks.cases import Case, Target, replicator, timed_view
from tests.benchmarks.corpus import (
    Corpus,
    SourceFile,
    drift_plan,
    ensure_corpus,
    load_manifest,
    table_for,
)
from tests.benchmarks.measure import Measurement, measure
from tests.benchmarks.suite import (
    REPO,
    CaseResult,
    ToolResult,
    local_env,
    log_report,
    significantly_over,
)
from tests.benchmarks.viewcost import Meter

TINY = 0.002  # jsonl: 4 files of 2,000 rows; csv: 2,000 rows a file; parquet: 1,000


def _bytes_of(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_the_same_seed_gives_the_same_files(tmp_path: Path) -> None:
    for name in ("jsonl", "csv", "parquet", "bigcsv"):
        a = ensure_corpus(tmp_path / "a", name, 7, TINY)
        b = ensure_corpus(tmp_path / "b", name, 7, TINY)
        c = ensure_corpus(tmp_path / "c", name, 8, TINY)
        assert a.files == b.files
        assert _bytes_of(a.root) == _bytes_of(b.root)
        assert _bytes_of(a.root) != _bytes_of(c.root)


def test_a_corpus_is_reused_only_while_its_manifest_matches(tmp_path: Path) -> None:
    first = ensure_corpus(tmp_path, "csv", 7, TINY)
    stamps = {p: p.stat().st_mtime_ns for p in first.paths()}
    again = ensure_corpus(tmp_path, "csv", 7, TINY)
    assert again == first
    assert {p: p.stat().st_mtime_ns for p in again.paths()} == stamps

    bigger = ensure_corpus(tmp_path, "csv", 7, 2 * TINY)
    assert [f.rows for f in bigger.files] == [4000] * 8
    assert load_manifest(tmp_path, "csv") == bigger

    bigger.paths()[3].unlink()  # a file gone: the manifest no longer describes the folder
    assert load_manifest(tmp_path, "csv") is None
    redone = ensure_corpus(tmp_path, "csv", 7, 2 * TINY)
    assert _bytes_of(redone.root).keys() == {f.key for f in bigger.files}


def test_the_drift_corpus_is_jsonl_with_types_that_drift(tmp_path: Path) -> None:
    # At scale 1: floats only beyond the first 1,000 files (replicator's sample), new fields in
    # 10% of the files, one of them in the sample's half, one only beyond it.
    plans = [drift_plan(i, 2000) for i in range(2000)]
    floats = [i for i, p in enumerate(plans) if p.floats_from is not None]
    assert min(floats) >= 1000
    assert len(floats) == 100
    assert {p.floats_from for p in plans} == {None, 1000}
    fields = {i: p.new_fields for i, p in enumerate(plans) if p.new_fields}
    assert len(fields) == 200
    assert {f for i, new in fields.items() if i < 1000 for f in new} == {"coupon"}
    assert {f for i, new in fields.items() if i >= 1000 for f in new} == {"coupon", "referrer"}

    plain = ensure_corpus(tmp_path, "jsonl", 7, 0.005)  # 10 files: the 6th drifts
    drift = ensure_corpus(tmp_path, "drift", 7, 0.005)
    assert [f.key for f in drift.files] == [f.key for f in plain.files]
    assert [f.rows for f in drift.files] == [f.rows for f in plain.files]
    assert 1 < drift.size / plain.size < 1.05
    for index in range(10):
        table, same = (
            pajson.read_json(pa.input_stream(str(c.paths()[index]), compression="gzip"))
            for c in (drift, plain)
        )
        assert table.equals(table_for("drift", 7, 0.005, index))
        new = [n for n in table.column_names if n not in same.column_names]
        assert new == (["coupon", "referrer"] if index == 5 else [])
        latency = table.column("latency_ms").to_pylist()
        if index == 5:
            assert latency[:1000] == same.column("latency_ms").to_pylist()[:1000]
            assert all(v % 1 == 0.5 for v in latency[1000:])
        else:
            assert table.column("latency_ms").equals(same.column("latency_ms"))
        # All but the drifted values are those of the file without drift.
        assert table.drop_columns(["latency_ms", *new]).equals(same.drop_columns("latency_ms"))


def test_the_corpora_hold_what_the_issue_asks_for(tmp_path: Path) -> None:
    jsonl = ensure_corpus(tmp_path, "jsonl", 7, TINY)
    assert [f.rows for f in jsonl.files] == [2000] * 4
    events = pajson.read_json(pa.input_stream(str(jsonl.paths()[0]), compression="gzip"))
    assert events.equals(table_for("jsonl", 7, TINY, 0))
    types = dict(zip(events.column_names, events.schema.types, strict=True))
    assert pa.types.is_timestamp(types["ts"])
    assert pa.types.is_struct(types["device"])
    assert pa.types.is_floating(types["amount"])
    assert pa.types.is_integer(types["user_id"])
    for column in ("user_id", "amount", "message", "device"):
        assert 0 < events.column(column).null_count < events.num_rows

    csv = ensure_corpus(tmp_path, "csv", 7, TINY)
    parquet = ensure_corpus(tmp_path, "parquet", 7, TINY)
    assert (len(csv.files), len(parquet.files)) == (8, 16)
    from_csv = pacsv.read_csv(csv.paths()[1])
    from_parquet = pq.read_table(parquet.paths()[1])
    assert from_csv.num_columns == 8
    # Parquet has no timestamp in seconds: pyarrow stores them in milliseconds.
    assert from_csv.schema == from_parquet.schema.set(1, pa.field("ts", pa.timestamp("s")))
    assert len(set(from_csv.schema.types)) >= 5  # mixed types
    assert from_parquet.cast(from_csv.schema).equals(table_for("parquet", 7, TINY, 1))

    big = ensure_corpus(tmp_path, "bigcsv", 7, TINY)
    target = TINY * 2 * 1024**3
    assert 0.9 * target < big.size < 1.1 * target
    assert pacsv.read_csv(big.paths()[0]).num_rows == big.rows


def test_the_baseline_writes_every_row_of_each_file(tmp_path: Path) -> None:
    for name in ("jsonl", "csv", "parquet"):
        corpus = ensure_corpus(tmp_path / "data", name, 7, TINY)
        dest = tmp_path / "out" / name
        assert baseline.run(str(corpus.root), str(dest), threads=2) == corpus.rows
        for index, source in enumerate(corpus.files):
            output = pq.ParquetFile(dest / f"{source.key}.parquet")
            assert output.metadata.row_group(0).column(0).compression == "ZSTD"
            expected = table_for(name, 7, TINY, index)
            if name == "csv":  # CSV has no null string: an empty note reads back as ""
                notes = pc.fill_null(expected.column("note"), "")
                expected = expected.set_column(6, "note", notes)
            written = output.read()
            assert written.schema.names == expected.schema.names
            # Only the unit of ts differs: Parquet stores seconds as milliseconds.
            assert written.cast(expected.schema).equals(expected), source.key


def test_measure_reports_each_run_on_its_own() -> None:
    env, cwd = local_env(), str(REPO)
    big = measure(
        [sys.executable, "-c", "b = bytearray(300_000_000); b[::4096] = b'x' * len(b[::4096])"],
        env=env,
        cwd=cwd,
        timeout=60,
    )
    small = measure([sys.executable, "-S", "-c", "pass"], env=env, cwd=cwd, timeout=60)
    assert big.exit_code == small.exit_code == 0
    assert big.peak_rss > 300_000_000
    # Not the memory of this (large) test process, which a plain fork would carry over.
    assert small.peak_rss < 60_000_000

    failed = measure(
        [sys.executable, "-c", "import sys; sys.exit('no luck')"], env=env, cwd=cwd, timeout=60
    )
    assert failed.exit_code == 1
    assert "no luck" in failed.tail

    slow = measure(
        [sys.executable, "-c", "import time; time.sleep(60)"], env=env, cwd=cwd, timeout=1
    )
    assert slow.timed_out
    assert slow.wall < 30

    tty = measure(
        [
            sys.executable,
            "-c",
            "import sys; print('tty', sys.stdout.isatty(), sys.stderr.isatty())",
        ],
        env=env,
        cwd=cwd,
        timeout=60,
        terminal=True,
    )
    assert "tty True True" in tty.tail


def test_targets_judge_the_ratio_the_peak_memory_or_the_view_cost() -> None:
    at_most = Target("ratio<=", 1.2)
    assert (at_most.met(1.19), at_most.met(1.21), at_most.met(None)) == (True, False, None)
    memory = Target("rss<=", 400e6)
    assert (memory.met(399_000_000), memory.met(401_000_000)) == (True, False)
    view = Target("view<=", 0.03)
    assert (view.met(0.029), view.met(0.031)) == (True, False)
    for target in (at_most, memory, view):
        assert "|" not in target.describe()  # it goes into a Markdown table cell


def _view_case(
    view_cpu: float, walls: list[tuple[float, float]], loud: list[tuple[float, float]] = ()
) -> CaseResult:
    """A progress case as the suite records it: (view on, --quiet) wall times per round, the
    view's own CPU time in the timed runs, and for the view at 40 frames/s, (wall time, its own
    CPU time) per round."""
    corpus = Corpus("jsonl", Path("."), 1, 1.0, ())
    tools = (
        replicator("view", "src", terminal=True),
        replicator("quiet", "src", "--quiet", terminal=True),
        timed_view("timed", "src"),
    )
    if loud:
        tools += (timed_view("loud", "src", frames_per_second=40),)
    case = Case("progress", corpus, tools, Target("view<=", 0.03))
    view, quiet, timed = ToolResult("view", ""), ToolResult("quiet", ""), ToolResult("timed", "")
    for a, b in walls:
        view.runs.append(Measurement(a, 1.0, 1, 0, 0, ""))
        quiet.runs.append(Measurement(b, 1.0, 1, 0, 0, ""))
        report = {"cpu": view_cpu, "parts": {}, "calls": {"frames": 10}}
        timed.runs.append(Measurement(a, 1.0, 1, 0, 0, "", report=report))
    results = [view, quiet, timed]
    if loud:
        fast = ToolResult("loud", "")
        for wall, cpu in loud:
            fast.runs.append(Measurement(wall, 1.0, 1, 0, 0, "", report={"cpu": cpu}))
        results.append(fast)
    return CaseResult(case, results)


def test_the_view_is_judged_by_its_cost_unless_the_a_b_says_otherwise() -> None:
    noisy = _view_case(0.1, [(10.0, 9.0), (9.0, 10.0), (10.5, 10.0)])
    assert noisy.view_cost == pytest.approx(0.01)  # 0.1 s over the median --quiet run, 10 s
    assert noisy.view_load is None
    assert noisy.view_estimate == noisy.view_cost
    assert noisy.paired == pytest.approx([10 / 9, 0.9, 1.05])
    assert noisy.verdict == "pass"
    assert _view_case(0.4, [(10.0, 10.0)] * 3).verdict == "FAIL"  # 4%
    # Every round of five with the view on over 3% slower: the A/B wins over the estimate.
    slower = _view_case(0.1, [(10.5, 10.0), (10.4, 10.0), (10.6, 10.0), (10.9, 10.0), (11, 10)])
    assert slower.view_cost == pytest.approx(0.01)
    assert slower.verdict == "FAIL"
    # Four of five is what chance gives one time in five: not enough.
    assert _view_case(0.1, [(10.5, 10.0)] * 4 + [(9.0, 10.0)]).verdict == "pass"


def test_the_view_at_a_high_rate_scales_its_cost_when_frames_cost_more_than_their_cpu() -> None:
    walls = [(10.0, 10.0), (9.0, 9.0), (11.0, 11.0)]
    # At 40 frames/s the view took 1 s of CPU and the runs 2 s longer: each second counts twice.
    dear = _view_case(0.1, walls, loud=[(12.0, 1.0), (11.0, 1.0), (13.0, 1.0)])
    assert dear.view_added == pytest.approx(2.0)
    assert dear.view_load == pytest.approx(2.0)
    assert dear.view_estimate == pytest.approx(0.02)
    assert dear.verdict == "pass"
    assert _view_case(0.2, walls, loud=[(12.0, 1.0)] * 3).verdict == "FAIL"  # 2 x 2%
    # Runs no longer than their view's own CPU time: the estimate stays at that time.
    cheap = _view_case(0.1, walls, loud=[(10.2, 1.0), (9.2, 1.0), (11.2, 1.0)])
    assert cheap.view_load == pytest.approx(0.2)
    assert cheap.view_estimate == pytest.approx(0.01)


def test_the_drift_case_reads_the_log_and_judges_the_files_read_again(tmp_path: Path) -> None:
    def record(ts: float, event: str, **fields: object) -> str:
        return json.dumps({"ts": ts, "event": event, **fields}) + "\n"

    log = tmp_path / "events.jsonl"
    restarted = {"key": "a.jsonl", "size": 1, "etag": None, "mtime": 0}
    log.write_text(
        record(10.0, "run_started")
        + record(10.5, "files_discovered", pending=20)
        + record(12.0, "schema_changed", version=1, changes=["inferred"])
        + record(13.0, "file_restarted", file=restarted, reason="schema version 2")
        + record(13.0, "schema_changed", version=2, changes=["column x: int64 -> double"])
        + record(14.0, "file_restarted", file=restarted, reason="schema version 3")
        + "not JSON\n"
        + record(15.0, "run_finished", summary={"files_reread": 2, "schema_changes": 2})
    )
    report = log_report(log)
    assert report == {
        "files_reread": 2,
        "schema_changes": 2,
        "files_restarted": 1,
        "files_completed": 0,
        "versions": ["column x: int64 -> double"],
        "inference_s": 1.5,
    }
    log.write_text(record(10.0, "run_started"))  # killed before its end
    assert log_report(log) is None

    twenty = Corpus("drift", Path("."), 1, 1.0, (SourceFile("a", 1, 1),) * 20)
    target = Target("ratio<=", 1.1, reread=0.1)
    case = Case("drift", twenty, (replicator("a", "src"), replicator("b", "src")), target)
    logged = dataclasses.replace(
        case, tools=tuple(dataclasses.replace(t, log="events.jsonl") for t in case.tools)
    )

    def judged(case: Case, rereads: int, walls: tuple[float, float] = (1.0, 1.0)) -> CaseResult:
        tools = [ToolResult("a", ""), ToolResult("b", "")]
        for tool, wall in zip(tools, walls, strict=True):
            done = {**report, "files_reread": rereads}
            tool.runs.append(Measurement(wall, 1.0, 1, 0, 0, "", report=done))
        return CaseResult(case, tools)

    assert judged(logged, 2).reread_share == pytest.approx(0.1)
    assert judged(logged, 2).verdict == "pass"
    assert judged(logged, 3).verdict == "FAIL"  # 15% of the files read again
    assert judged(logged, 0, (1.2, 1.0)).verdict == "FAIL"
    assert judged(case, 0).verdict == "ERROR"  # no log: the rereads are not known
    assert "|" not in target.describe()


def test_the_sign_test_needs_nearly_every_round_over_the_limit() -> None:
    assert significantly_over([1.1] * 5, 1.03)
    assert not significantly_over([1.1] * 4 + [1.0], 1.03)
    assert significantly_over([1.1] * 8 + [1.0], 1.03)
    assert not significantly_over([1.1] * 7 + [1.0] * 2, 1.03)
    assert not significantly_over([], 1.03)


def _watch_exists() -> bool:
    done = subprocess.run(
        [sys.executable, "-m", "replicator", "watch", "--help"],
        cwd=REPO,
        capture_output=True,
        timeout=60,
        check=False,
    )
    return done.returncode == 0


@pytest.mark.slow
def test_the_suite_runs_end_to_end_at_a_tiny_scale(tmp_path: Path) -> None:
    out = tmp_path / "results"
    folders = ["--data", str(tmp_path / "data"), "--out", str(out), "--work", str(tmp_path / "w")]
    done = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks", "--scale", "0.005", "--runs", "1", *folders],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    cases = {c["name"]: c for c in results["cases"]}
    expected = {
        "startup (empty source)",
        "jsonl",
        "drift: jsonl whose types drift vs jsonl",
        "csv",
        "parquet",
        "bigcsv (default --inflight-limit 256 MiB)",
        "bigcsv --inflight-limit 64MiB",
        "jsonl from S3 (moto)",
        "jsonl: progress view vs --quiet",
    }
    if _watch_exists():
        expected.add("jsonl: watch --once")
    assert set(cases) == expected
    for name, case in cases.items():
        assert case["verdict"] != "ERROR", name
        for tool in case["tools"]:
            assert tool["errors"] == [], (name, tool)
            assert [r["exit_code"] for r in tool["runs"]] == [0]
            assert tool["median_wall"] > 0
            assert tool["peak_rss"] > 10_000_000
    assert cases["jsonl"]["rows"] == 10 * 2000
    assert [t["label"] for t in cases["csv"]["tools"]] == ["replicator", "baseline"]
    replicator, base = cases["csv"]["tools"]
    assert cases["csv"]["ratio"] == pytest.approx(replicator["median_wall"] / base["median_wall"])
    assert cases["csv"]["cpu_ratio"] == pytest.approx(replicator["median_cpu"] / base["median_cpu"])
    progress = cases["jsonl: progress view vs --quiet"]
    view, quiet, timed, loud = progress["tools"]
    assert view["runs"][0]["output_bytes"] > 500  # the live view drew on the pty
    assert quiet["runs"][0]["output_bytes"] == 0
    assert view["runs"][0]["report"] is None  # the A/B runs replicator as it is
    drawn = timed["runs"][0]["report"]
    assert drawn["calls"]["frames"] >= 1
    assert drawn["calls"]["events"] > 10  # each file sends several
    assert drawn["cpu"] == pytest.approx(sum(drawn["parts"].values()))
    assert drawn["cpu"] > 0
    assert progress["view_cost"] == pytest.approx(drawn["cpu"] / quiet["median_wall"])
    assert progress["target"] == "view's cost <= 3% of the run"

    assert loud["label"] == "view at 40 frames/s, timed"
    assert loud["runs"][0]["report"]["cpu"] > 0
    assert progress["view_added"] == pytest.approx(loud["median_wall"] - quiet["median_wall"])
    assert progress["verdict"] in ("pass", "FAIL")

    drift = cases["drift: jsonl whose types drift vs jsonl"]
    assert drift["target"] == "ratio <= 1.1, read again <= 10% of files"
    assert [(t["label"], t["corpus"]) for t in drift["tools"]] == [
        ("replicator (drift)", "drift"),
        ("replicator (jsonl, no drift)", "jsonl"),
    ]
    drifted, plain = (t["runs"][0]["report"] for t in drift["tools"])
    # File 5 of 10 turns float half-way, past what the sample reads: read again once.
    assert drifted["files_reread"] >= drifted["files_restarted"] >= 1
    assert "column latency_ms: int64 -> double" in drifted["versions"]
    assert drifted["inference_s"] is not None
    assert (plain["files_reread"], plain["schema_changes"], plain["versions"]) == (0, 0, [])
    assert drift["reread_share"] == drifted["files_reread"] / 10
    assert drift["verdict"] in ("pass", "FAIL")

    table = (out / "results.md").read_text()
    assert table == done.stdout.strip() + "\n"
    assert "replicator (drift): files read again" in table
    for name in expected:
        assert f"| {name} | replicator" in table
    assert "| csv | replicator | 8 | " in table


def test_the_view_meter_counts_each_call_and_its_time_once() -> None:
    meter = Meter()
    inner = meter.wrap("frames", lambda n: sum(range(n)))
    outer = meter.wrap("start and stop", inner)
    assert outer(300_000) == inner(300_000) == sum(range(300_000))
    worker = threading.Thread(target=inner, args=(300_000,))
    worker.start()
    worker.join()
    result = meter.result()
    assert result["calls"] == {"start and stop": 1, "frames": 3}  # one call inside another
    # The nested call's time is in the outer part only: about as long as one direct call.
    assert 0 < result["parts"]["start and stop"] < 3 * result["parts"]["frames"]
    assert result["cpu"] == pytest.approx(sum(result["parts"].values()))
