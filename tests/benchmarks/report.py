"""The results as a Markdown table (printed, and written with a JSON copy) and the machine."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow as pa

from tests.benchmarks.cases import MB
from tests.benchmarks.measure import Measurement
from tests.benchmarks.suite import (
    REPO,
    CaseResult,
    ToolResult,
    median_view_cpu,
    significantly_over,
)

_HEADER = (
    "| case | tool | files | input MB | rows | wall s (median) | rows/s | MB/s | CPU s "
    "| peak RSS MB | ratio | CPU ratio | target | result |"
)


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "pyarrow": pa.__version__,
        "commit": _commit(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except OSError:
        return "unknown"
    if done.returncode != 0:
        return "unknown"
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    ).stdout.strip()
    return done.stdout.strip() + (" (with uncommitted changes)" if dirty else "")


def markdown(
    results: Sequence[CaseResult], settings: dict[str, Any], host: dict[str, Any], notes: list[str]
) -> str:
    cores = host["cores"] or 1
    lines = [
        "## Benchmark results",
        "",
        f"Machine: {host['cpu']}, {host['cores']} cores, {host['memory_gib']} GiB RAM, "
        f"{host['os']}; Python {host['python']}, pyarrow {host['pyarrow']}; "
        f"commit {host['commit']}; {host['date']}.",
        f"Scale {settings['scale']:g}, seed {settings['seed']}, median of {settings['runs']} "
        f"run(s) per tool, interleaved (order turned each round, page cache synced before "
        f"each run); replicator concurrency {settings['concurrency']}, "
        f"baseline threads {settings['concurrency']}.",
        "",
        _HEADER,
        _rule(),
    ]
    for result in results:
        lines += _rows(result)
    lines += [
        "",
        "ratio: the first tool's median wall time over the second's (lower is faster); the "
        "targets apply to it. CPU ratio: the same for CPU time. "
        "MB = 10^6 bytes; MB/s counts stored (compressed) input bytes; CPU s is the median "
        "user + system time of all threads; peak RSS is the highest of the runs. Wall time "
        "includes interpreter start-up.",
    ]
    busy = [
        f"{r.case.name} ({r.other_cpu / (r.elapsed * cores):.0%})"
        for r in results
        if r.other_cpu is not None and r.elapsed and r.other_cpu > 0.05 * r.elapsed * cores
    ]
    if busy:
        lines.append(
            "Other processes used more than 5% of the machine's CPU during: "
            + ", ".join(busy)
            + "; those times are skewed."
        )
    logged = [note for r in results if (note := _reread_note(r))]
    lines += [f"- {note}" for note in [*map(_view_note, _view_cases(results)), *logged, *notes]]
    return "\n".join(lines) + "\n"


def _view_cases(results: Sequence[CaseResult]) -> list[CaseResult]:
    return [r for r in results if r.view_cost is not None]


def _view_note(result: CaseResult) -> str:
    """What the live view cost, measured directly, and the A/B round by round."""
    quiet, timed = result.tools[1], result.tools[2]
    reports = [m.report for m in timed.runs if m.report is not None]
    frames = statistics.median(r["calls"].get("frames", 0) for r in reports)
    events = statistics.median(r["calls"].get("events", 0) for r in reports)
    note = (
        f"{result.case.name}: the view's own CPU time (`viewcost.py`: {frames:,.0f} frames "
        f"drawn, {events:,.0f} events taken and counted, its imports, start, stop and summary "
        f"table) was {median_view_cpu(timed) or 0:.3f} s, median of {len(reports)} run(s): "
        f"{result.view_cost or 0:.1%} of the {quiet.wall:.2f} s the run takes without the view."
    )
    if result.view_load is not None and result.view_added is not None:
        loud = result.tools[3]
        note += (
            f" The {loud.label} (own CPU {median_view_cpu(loud) or 0:.2f} s) added "
            f"{result.view_added:.2f} s to the wall time (round by round, median): "
            f"{result.view_load:.2f} s per second of the view's own time."
        )
    note += f" Estimated cost of the view: {result.view_estimate or 0:.1%} of the run."
    paired = result.paired
    limit = 1 + (result.case.target.limit if result.case.target else 0.03)
    spread = f"{min(paired):.2f} to {max(paired):.2f}" if len(paired) > 1 else "one round"
    over = "" if significantly_over(paired, limit) else "not "
    return note + (
        f" The A/B round by round (view on / --quiet): median {statistics.median(paired):.2f}, "
        f"{spread}, {over}significantly over {limit:.2f} (sign test, 5%); these ratios also "
        "carry the drift of the machine between two runs."
    )


def _reread_note(result: CaseResult) -> str:
    """For tools that logged (the drift case): the files read again because the schema changed,
    the schema's changes, and how long inference took, over the runs."""
    parts = []
    for index, tool in enumerate(result.tools):
        logs = result.logs(index)
        if not logs:
            continue
        files = len(result.corpus_of(index).files)
        rereads = [log["files_reread"] for log in logs]
        distinct = max(log["files_restarted"] for log in logs)
        changes = max(log["schema_changes"] for log in logs)
        inference = [log["inference_s"] for log in logs if log["inference_s"] is not None]
        part = (
            f"{tool.label}: files read again {_spread(rereads)} of {files:,} "
            f"({max(rereads) / max(1, files):.1%} at most; {distinct:,} distinct files at most), "
            f"{changes:,} schema change(s)"
        )
        versions = max((log["versions"] for log in logs), key=len)
        if versions:
            part += " (" + "; ".join(versions) + ")"
        if inference:
            part += f", inference {statistics.median(inference):.2f} s (median)"
        parts.append(part)
    if not parts:
        return ""
    target = result.case.target
    limit = (
        f" Target: at most {target.reread:.0%} of the files read again in every run of the first "
        f"tool ({'met' if (result.reread_share or 0) <= target.reread else 'MISSED'})."
        if target is not None and target.reread is not None and result.reread_share is not None
        else ""
    )
    return (
        f"{result.case.name}: from each run's JSON-lines log (`--log-format json`, its "
        "run_finished summary; inference: from the listing to the first schema); "
        + "; ".join(parts)
        + "."
        + limit
    )


def _spread(values: Sequence[int]) -> str:
    """``n`` for one value or all equal, else ``median (min to max)``."""
    if min(values) == max(values):
        return f"{values[0]:,}"
    return f"{statistics.median(values):,.0f} ({min(values):,} to {max(values):,})"


def _rule() -> str:
    return "|" + "---|" * (_HEADER.count("|") - 1)


def _rows(result: CaseResult) -> list[str]:
    case = result.case
    rows = []
    for i, tool in enumerate(result.tools):
        corpus = result.corpus_of(i)
        first = i == 0
        cells = [
            case.name if first else "",
            tool.label,
            f"{len(corpus.files):,}",
            f"{corpus.size / MB:,.1f}",
            f"{corpus.rows:,}",
            *_speed(tool, corpus.rows, corpus.size),
            _ratio(result.ratio) if first else "",
            _ratio(result.cpu_ratio) if first else "",
            case.target.describe() if first and case.target else "",
            result.verdict if first else "",
        ]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return rows


def _speed(tool: ToolResult, rows: int, size: int) -> list[str]:
    if tool.errors or not tool.runs:
        return ["error: " + (tool.errors[0] if tool.errors else "no run"), "", "", "", ""]
    wall = tool.wall
    return [
        f"{wall:.2f}",
        f"{rows / wall:,.0f}",
        f"{size / MB / wall:,.1f}",
        f"{tool.cpu:.2f}",
        f"{tool.peak_rss / MB:,.0f}",
    ]


def _ratio(ratio: float | None) -> str:
    return "" if ratio is None else f"{ratio:.2f}"


def as_json(
    results: Sequence[CaseResult], settings: dict[str, Any], host: dict[str, Any], notes: list[str]
) -> dict[str, Any]:
    return {
        "machine": host,
        "settings": settings,
        "notes": notes,
        "cases": [
            {
                "name": r.case.name,
                "corpus": r.case.corpus.name,
                "source": r.case.src,
                "files": len(r.case.corpus.files),
                "bytes": r.case.corpus.size,
                "rows": r.case.corpus.rows,
                "target": r.case.target.describe() if r.case.target else None,
                "ratio": r.ratio,
                "cpu_ratio": r.cpu_ratio,
                "paired_ratios": r.paired,
                "reread_share": r.reread_share,
                "view_cost": r.view_cost,
                "view_added": r.view_added,
                "view_load": r.view_load,
                "view_estimate": r.view_estimate,
                "other_cpu": r.other_cpu,
                "elapsed": r.elapsed,
                "verdict": r.verdict,
                "tools": [
                    {
                        "label": t.label,
                        "command": t.command,
                        "corpus": r.corpus_of(i).name,
                        "median_wall": t.wall if t.runs else None,
                        "median_cpu": t.cpu if t.runs else None,
                        "peak_rss": t.peak_rss if t.runs else None,
                        "errors": t.errors,
                        "runs": [_run(m) for m in t.runs],
                    }
                    for i, t in enumerate(r.tools)
                ],
            }
            for r in results
        ],
    }


def _run(m: Measurement) -> dict[str, Any]:
    run = asdict(m)
    if m.exit_code == 0 and not m.timed_out:
        del run["tail"]  # only kept to explain a failure
    return run


def write(out: Path, text: str, data: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(text, encoding="utf-8")
    (out / "results.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
