"""``python -m tests.benchmarks``: generate the corpora, run the cases, print and save the table."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from replicator.config import default_concurrency
from tests.benchmarks import plan, report, s3
from tests.benchmarks.corpus import Corpus, ensure_corpora
from tests.benchmarks.suite import REPO, run_case


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in plan.NAMES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown name(s) {', '.join(unknown)}; choose from {', '.join(plan.NAMES)}"
        )
    return names


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks",
        description="Replicator against a plain pyarrow baseline, on generated corpora.",
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="1.0 (default): the issue's full corpus"
    )
    parser.add_argument(
        "--seed", type=int, default=20260101, help="corpus seed (default: %(default)s)"
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=REPO / "bench-data",
        help="corpus folder (default: bench-data/)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "bench-results",
        help="results folder (default: bench-results/)",
    )
    parser.add_argument(
        "--work", type=Path, default=None, help="folder for run outputs (default: a temp folder)"
    )
    parser.add_argument(
        "--only",
        type=_names,
        nargs="+",
        action="extend",
        default=None,
        help="cases, separated by commas or spaces, from: "
        + ",".join(plan.NAMES)
        + " (default: all)",
    )
    parser.add_argument(
        "--aux-corpus",
        default="jsonl",
        choices=("jsonl", "csv", "parquet"),
        help="corpus of the s3, watch and progress cases (default: jsonl)",
    )
    parser.add_argument(
        "--runs", type=int, default=3, help="runs per tool, median reported (default: 3)"
    )
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds per run (default: 3600)"
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a target is missed, not only on errors"
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    chosen = [name for names in args.only or [plan.NAMES] for name in names]
    args.only = tuple(dict.fromkeys(chosen))  # each once, in the order given
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    names: tuple[str, ...] = args.only
    started = time.monotonic()
    _log(f"corpora in {args.data} (scale {args.scale:g}, seed {args.seed})")
    corpora = ensure_corpora(
        args.data, plan.corpora_needed(names, args.aux_corpus), args.seed, args.scale
    )
    _log(f"corpora ready after {time.monotonic() - started:.0f} s")
    with ExitStack() as stack:
        work = args.work or Path(tempfile.mkdtemp(prefix="replicator-bench-"))
        if args.work is None:
            stack.callback(shutil.rmtree, work, True)
        work.mkdir(parents=True, exist_ok=True)
        empty_root = work / "empty"
        empty_root.mkdir(exist_ok=True)
        s3_source, s3_env = None, {}
        if "s3" in names and args.aux_corpus in corpora:
            endpoint = stack.enter_context(s3.moto_server())
            s3_source = s3.upload(endpoint, corpora[args.aux_corpus])
            s3_env = s3.s3_env(endpoint)
            _log(f"uploaded {args.aux_corpus} to {s3_source} on {endpoint}")
        options = plan.Options(
            names=names,
            aux=args.aux_corpus,
            concurrency=default_concurrency(),
            s3_source=s3_source,
            s3_env=s3_env,
            empty=Corpus("empty", empty_root, args.seed, args.scale, ()),
        )
        cases, notes = plan.build(options, corpora)
        results = [run_case(c, args.runs, work, args.timeout, _log) for c in cases]
    notes = [*_standing_notes(args.runs, args.scale, s3_source is not None), *notes]
    settings = {
        "scale": args.scale,
        "seed": args.seed,
        "runs": args.runs,
        "concurrency": options.concurrency,
        "only": list(names),
        "aux_corpus": args.aux_corpus,
    }
    host = report.machine()
    text = report.markdown(results, settings, host, notes)
    print(text)
    report.write(args.out, text, report.as_json(results, settings, host, notes))
    _log(f"done in {time.monotonic() - started:.0f} s; results in {args.out}")
    if any(r.verdict == "ERROR" for r in results):
        return 1
    return 1 if args.strict and any(r.verdict == "FAIL" for r in results) else 0


def _standing_notes(runs: int, scale: float, s3: bool) -> list[str]:
    notes = [
        "Baseline: `python -m tests.benchmarks.baseline`: pyarrow read_csv / read_json / "
        "read_table of each whole file, write_table with zstd, files converted by a thread pool "
        "of replicator's default concurrency. Replicator also adds the _file and _row columns, "
        "makes each output durable (in batches) and records each file in its SQLite state.",
        "Each run is a fresh subprocess with a fresh destination and state; the corpus is read "
        "once before its case so no run pays for a cold page cache.",
    ]
    if runs < 3:
        notes.append(f"Only {runs} run(s) per tool: the medians are noisy.")
    if s3:
        notes.append(
            "S3 row: the moto server runs in the suite's process; its CPU time is not in "
            "either tool's CPU s, only in their wall time."
        )
    if scale < 1:
        notes.append(
            f"Scale {scale:g}: the targets are set for the full corpus (scale 1); at this scale "
            "interpreter start-up weighs more in every ratio."
        )
    return notes


if __name__ == "__main__":
    raise SystemExit(main())
