"""Running the cases: interleaved runs, output checks, and the results of each case."""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from tests.benchmarks.cases import MB, Case, Tool
from tests.benchmarks.corpus import Corpus
from tests.benchmarks.measure import Measurement, measure

REPO = Path(__file__).resolve().parents[2]


@dataclass
class ToolResult:
    label: str
    command: str
    runs: list[Measurement] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def wall(self) -> float:
        """Median wall time of the runs, in seconds."""
        return statistics.median(m.wall for m in self.runs)

    @property
    def cpu(self) -> float:
        """Median CPU time (user + system, all threads) of the runs, in seconds."""
        return statistics.median(m.cpu for m in self.runs)

    @property
    def peak_rss(self) -> int:
        """The highest peak RSS of the runs, in bytes."""
        return max(m.peak_rss for m in self.runs)


@dataclass
class CaseResult:
    case: Case
    tools: list[ToolResult]
    # CPU seconds other processes used while the case ran: they skew the times.
    other_cpu: float | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return not any(t.errors for t in self.tools)

    @property
    def ratio(self) -> float | None:
        """The first tool's median wall time over the second's."""
        if len(self.tools) < 2 or not self.ok:
            return None
        return self.tools[0].wall / self.tools[1].wall

    def corpus_of(self, index: int) -> Corpus:
        """What the ``index``-th tool reads."""
        return self.case.tools[index].corpus or self.case.corpus

    def logs(self, index: int) -> list[dict[str, Any]]:
        """What each run of the ``index``-th tool logged (``log_report``), when it logs (and
        every run's log was read)."""
        if not self.case.tools[index].log:
            return []
        reports = [m.report for m in self.tools[index].runs if m.report is not None]
        return reports if reports and len(reports) == len(self.tools[index].runs) else []

    @property
    def reread_share(self) -> float | None:
        """The most files the first tool read again (schema changes) in one run, as a share of
        its corpus's files; None without logs."""
        logs = self.logs(0) if self.tools else []
        files = len(self.corpus_of(0).files)
        if not logs or not files:
            return None
        return max(int(log["files_reread"]) for log in logs) / files

    @property
    def cpu_ratio(self) -> float | None:
        """The same ratio for CPU time: steadier than wall time on a shared machine."""
        if len(self.tools) < 2 or not self.ok or not self.tools[1].cpu:
            return None
        return self.tools[0].cpu / self.tools[1].cpu

    @property
    def paired(self) -> list[float]:
        """The first tool's wall time over the second's, round by round: the two runs of a
        round ran one after the other, so slow drift of the machine cancels out of each."""
        if len(self.tools) < 2 or not self.ok:
            return []
        a, b = self.tools[:2]
        return [x.wall / y.wall for x, y in zip(a.runs, b.runs, strict=False)]

    # The progress case: (view on, --quiet, view on timed, view at a high rate timed).

    @property
    def view_cost(self) -> float | None:
        """The live view's own CPU time (median of the third tool's runs, as ``viewcost.py``
        reports it) over the median wall time of the second tool, which runs without it."""
        if len(self.tools) < 3 or not self.ok:
            return None
        cpu = median_view_cpu(self.tools[2])
        return None if cpu is None else cpu / self.tools[1].wall

    @property
    def view_added(self) -> float | None:
        """The wall time the view at a high frame rate (the fourth tool) added to the second
        tool's runs, round by round (median), in seconds."""
        if len(self.tools) < 4 or not self.ok:
            return None
        quiet, loud = self.tools[1], self.tools[3]
        return statistics.median(
            x.wall - y.wall for x, y in zip(loud.runs, quiet.runs, strict=False)
        )

    @property
    def view_load(self) -> float | None:
        """Wall time added by the view at a high frame rate per second of its own CPU time."""
        added = self.view_added
        cpu = median_view_cpu(self.tools[3]) if added is not None else None
        return None if added is None or not cpu else added / cpu

    @property
    def view_estimate(self) -> float | None:
        """What the view costs the wall time, as a share: its own CPU time, times the load
        factor when that was measured and is over 1 (never taken as less than its own time)."""
        cost = self.view_cost
        if cost is None:
            return None
        return cost * max(1.0, self.view_load or 1.0)

    @property
    def verdict(self) -> str:
        if not self.ok:
            return "ERROR"
        target = self.case.target
        if target is None:
            return ""
        if target.kind == "rss<=":
            met = target.met(self.tools[0].peak_rss)
        elif target.kind == "view<=":
            met = target.met(self.view_estimate)
            if met and significantly_over(self.paired, 1 + target.limit):
                met = False  # the A/B itself says the view costs more: it wins
        else:
            met = target.met(self.ratio)
            if met is not None and target.reread is not None:
                share = self.reread_share
                if share is None:
                    return "ERROR"  # no log said how many files were read again
                met = met and share <= target.reread
        return "" if met is None else ("pass" if met else "FAIL")


def median_view_cpu(tool: ToolResult) -> float | None:
    reports = [m.report for m in tool.runs if m.report is not None]
    if not reports or len(reports) != len(tool.runs):
        return None
    return float(statistics.median(r["cpu"] for r in reports))


def significantly_over(ratios: list[float], limit: float) -> bool:
    """Whether the rounds show the ratio over ``limit`` beyond chance: a one-sided sign test at
    5% (were the true median at ``limit``, each round would be over it with odds of one half;
    five rounds out of five, or eight of nine, would then happen less than one time in 20)."""
    n, over = len(ratios), sum(r > limit for r in ratios)
    chance = sum(math.comb(n, k) for k in range(over, n + 1)) / 2**n
    return n > 0 and chance < 0.05


def run_case(
    case: Case, runs: int, work: Path, timeout: float, log: Callable[[str], None]
) -> CaseResult:
    """Run each tool ``runs`` times, interleaved with the order turned each round (A B, B A,
    A B ...), so neither tool always runs right after the other. A case's first two tools are
    the ones compared: they run first in each round, next to each other; any others follow
    (A B C D, B A D C ...). Blocks until all are done.

    Before each run the dirty page cache is written out (``os.sync``, not timed): a tool that
    does not fsync its outputs would otherwise leave their write-back to slow down the next run.
    """
    for corpus in {id(c): c for c in (case.corpus, *(t.corpus for t in case.tools)) if c}.values():
        warm_cache(corpus)
    env = case.env or local_env()
    busy, own, started = _busy_cpu(), _own_cpu(), time.monotonic()
    results = [ToolResult(t.label, _shown(t)) for t in case.tools]
    for i in range(runs):
        pairs = list(zip(case.tools, results, strict=True))
        if i % 2:  # the compared two first, in turned order; any others after, reversed
            pairs = [*reversed(pairs[:2]), *reversed(pairs[2:])]
        for tool, result in pairs:
            run = Path(tempfile.mkdtemp(prefix="run-", dir=work))
            try:
                _settle()
                m = measure(
                    tool.argv(run),
                    env=env,
                    cwd=str(REPO),
                    timeout=timeout,
                    terminal=tool.terminal,
                    stdout=str(run / tool.log) if tool.log else None,
                )
                error = _failure(m) or check_outputs(run / "out", tool.corpus or case.corpus)
                if tool.report:
                    m = replace(m, report=_report(run / tool.report))
                    error = error or ("no report" if m.report is None else None)
                elif tool.log:
                    m = replace(m, report=log_report(run / tool.log))
                    error = error or ("no run_finished record" if m.report is None else None)
            finally:
                shutil.rmtree(run, ignore_errors=True)
            result.runs.append(m)
            if error:
                result.errors.append(error)
            reread = (
                f", {m.report['files_reread']:,} read again"
                if tool.log and m.report is not None
                else ""
            )
            log(
                f"{case.name}: {tool.label} run {i + 1}/{runs}: {m.wall:.2f} s, "
                f"CPU {m.cpu:.2f} s, peak RSS {m.peak_rss / MB:,.0f} MB{reread}"
                + (f"; {error}" if error else "")
            )
    elapsed = time.monotonic() - started
    other = None
    if busy is not None and (busy_after := _busy_cpu()) is not None:
        ours = sum(m.cpu for r in results for m in r.runs) + _own_cpu() - own
        other = max(0.0, busy_after - busy - ours)
    return CaseResult(case, results, other, elapsed)


def _report(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as f:
            report: dict[str, Any] = json.load(f)
    except (OSError, ValueError):
        return None
    return report


def log_report(path: Path) -> dict[str, Any] | None:
    """What replicator's JSON-lines log (``--log-format json``) says of the schema stage, or
    None without a ``run_finished`` record: from its summary, ``files_reread`` (reads of a file
    again because the schema changed; a file read three times counts twice) and
    ``schema_changes``; ``files_restarted``, the distinct files read again; ``versions``, what
    each new version of the schema changed; and ``inference_s``, the seconds from the listing
    (``files_discovered``) to the first schema (inferred, or stored)."""
    summary: dict[str, Any] | None = None
    restarted: set[str] = set()
    versions: list[str] = []
    discovered = inferred = None
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                event = record.get("event")
                if event == "files_discovered" and discovered is None:
                    discovered = record["ts"]
                elif event == "schema_changed":
                    if inferred is None:
                        inferred = record["ts"]
                    else:
                        versions.append("; ".join(record.get("changes") or ()))
                elif event == "file_restarted":
                    restarted.add(record["file"]["key"])
                elif event == "run_finished":
                    summary = record["summary"]
    except OSError:
        return None
    if summary is None:
        return None
    took = None if discovered is None or inferred is None else max(0.0, inferred - discovered)
    return {
        "files_reread": int(summary.get("files_reread", 0)),
        "schema_changes": int(summary.get("schema_changes", 0)),
        "files_restarted": len(restarted),
        "files_completed": int(summary.get("files_completed", 0)),
        "versions": versions,
        "inference_s": took,
    }


def _settle() -> None:
    if hasattr(os, "sync"):
        os.sync()


def _busy_cpu() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (Linux), else None."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    # This process too uses CPU during a case: the moto server answering the S3 runs.
    t = os.times()
    return t.user + t.system


def local_env() -> dict[str, str]:
    """This environment without AWS settings: local runs must not reach any cloud."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


def warm_cache(corpus: Corpus) -> None:
    """Read the corpus once, so that no run pays for a cold page cache."""
    for path in corpus.paths():
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass


def check_outputs(dest: Path, corpus: Corpus) -> str | None:
    """Why the run's outputs are wrong (one Parquet file per source file, every row), or None."""
    # The pipeline's schema at the root (replicator's _common_metadata) is not an output.
    outputs = [p for p in dest.rglob("*") if p.is_file() and p.name != "_common_metadata"]
    parquet = [p for p in outputs if p.suffix == ".parquet" and not p.name.startswith(".")]
    if len(outputs) != len(parquet) or len(parquet) != len(corpus.files):
        return f"{len(outputs)} outputs ({len(parquet)} Parquet) for {len(corpus.files)} files"
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in parquet)
    if rows != corpus.rows:
        return f"{rows:,} rows written of {corpus.rows:,}"
    return None


def _failure(m: Measurement) -> str | None:
    if m.timed_out:
        return f"timed out after {m.wall:.0f} s"
    if m.exit_code != 0:
        last = m.tail.strip().splitlines()[-1:] or [""]
        return f"exit code {m.exit_code}: {last[0][:300]}"
    return None


def _shown(tool: Tool) -> str:
    """The command as a person would type it (paths of the run folder abbreviated)."""
    argv = tool.argv(Path("RUN"))
    argv[0] = "python" if argv[0] == sys.executable else argv[0]
    shown = " ".join(argv) + (" (on a pty)" if tool.terminal else "")
    return shown + (f" > RUN/{tool.log}" if tool.log else "")
