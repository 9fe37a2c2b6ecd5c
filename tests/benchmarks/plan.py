"""Which cases a suite run measures, from the names chosen with ``--only``."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from replicator.config import Settings
from tests.benchmarks.cases import (
    MB,
    MIB,
    PYTHON,
    Case,
    Target,
    compare,
    logged_replicator,
    replicator,
    timed_view,
)
from tests.benchmarks.corpus import CORPORA, Corpus
from tests.benchmarks.suite import REPO, local_env

# Cases beyond one comparison per corpus; they run on the auxiliary corpus (bigcsv for memory).
EXTRAS = ("startup", "memory", "s3", "watch", "progress")
NAMES = (*CORPORA, *EXTRAS)

# The targets (2-core machine, ratios from the same run).
_RATIO_TARGETS = {"csv": 1.2, "parquet": 1.2, "jsonl": 1.0}
# Issue 15: replicator on the drift corpus within 10% of itself on jsonl (the same rows without
# drift), and at most 10% of the files read again because the schema changed.
_DRIFT_RATIO = 1.1
_DRIFT_REREAD = 0.1
_SMALL_LIMIT = 64 * MIB
_SMALL_LIMIT_RSS = 400 * MB
_OVER_LIMIT_RSS = 300 * MB
_VIEW_DIFFERENCE = 0.03
# The view's rate in the run that checks what its frames cost the wall time (see viewcost.py).
_LOUD_FRAMES = 40.0


@dataclass(frozen=True)
class Options:
    names: tuple[str, ...]
    aux: str  # corpus of the s3, watch and progress cases
    concurrency: int
    s3_source: str | None  # s3:// URL of the uploaded aux corpus, when "s3" is chosen
    s3_env: dict[str, str]
    empty: Corpus | None  # an empty source folder, for "startup"


def corpora_needed(names: Sequence[str], aux: str) -> list[str]:
    needed = [n for n in CORPORA if n in names]
    if "drift" in names and "jsonl" not in needed:
        needed.append("jsonl")  # the drift case's reference
    if "memory" in names and "bigcsv" not in needed:
        needed.append("bigcsv")
    if {"s3", "watch", "progress"} & set(names) and aux not in needed:
        needed.append(aux)
    return needed


def watch_available() -> bool:
    """Whether this replicator has ``replicate watch`` (it came after the snapshot command)."""
    try:
        done = subprocess.run(
            [PYTHON, "-m", "replicator", "watch", "--help"],
            cwd=REPO,
            env=local_env(),
            capture_output=True,
            timeout=120,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def build(options: Options, corpora: dict[str, Corpus]) -> tuple[list[Case], list[str]]:
    """The cases to run, in order, and notes for the report (cases left out, and why)."""
    cases: list[Case] = []
    notes: list[str] = []
    if "startup" in options.names and options.empty is not None:
        cases.append(compare("startup (empty source)", options.empty, options.concurrency, None))
    cases += _corpus_cases(options, corpora)
    if "memory" in options.names:
        cases.append(_small_limit_case(corpora["bigcsv"]))
    aux = corpora.get(options.aux)
    if aux is not None:
        cases += _aux_cases(options, aux, notes)
    return cases, notes


def _corpus_cases(options: Options, corpora: dict[str, Corpus]) -> list[Case]:
    """Replicator against the baseline on each chosen corpus, with the issue's target."""
    cases = []
    for name in CORPORA:
        if name not in options.names:
            continue
        if name == "bigcsv":
            limit = Settings().inflight_limit
            target = Target("rss<=", limit + _OVER_LIMIT_RSS)
            label = f"bigcsv (default --inflight-limit {limit // MIB} MiB)"
            cases.append(compare(label, corpora["bigcsv"], options.concurrency, target))
        elif name == "drift":
            cases.append(_drift_case(corpora["drift"], corpora["jsonl"]))
        else:
            target = Target("ratio<=", _RATIO_TARGETS[name])
            cases.append(compare(name, corpora[name], options.concurrency, target))
    return cases


def _drift_case(drift: Corpus, plain: Corpus) -> Case:
    """Replicator on files whose types drift against replicator on the same rows without drift,
    both logging JSON lines (stdout, kept) so that each run says how many files it read again;
    their log costs both the same."""
    tools = (
        logged_replicator("replicator (drift)", drift),
        logged_replicator("replicator (jsonl, no drift)", plain),
    )
    target = Target("ratio<=", _DRIFT_RATIO, reread=_DRIFT_REREAD)
    return Case("drift: jsonl whose types drift vs jsonl", drift, tools, target)


def _small_limit_case(big: Corpus) -> Case:
    limit = f"{_SMALL_LIMIT // MIB}MiB"
    tool = replicator("replicator", str(big.root), "--quiet", "--inflight-limit", limit)
    return Case(f"bigcsv --inflight-limit {limit}", big, (tool,), Target("rss<=", _SMALL_LIMIT_RSS))


def _aux_cases(options: Options, aux: Corpus, notes: list[str]) -> list[Case]:
    """S3 as the source, ``watch --once``, and the progress view on against ``--quiet``."""
    cases = []
    threads = options.concurrency
    if "s3" in options.names and options.s3_source:
        name = f"{aux.name} from S3 (moto)"
        cases.append(
            compare(name, aux, threads, None, source=options.s3_source, env=options.s3_env)
        )
    if "watch" in options.names:
        if watch_available():
            once = ("--once", "--quiet", "--min-age", "0")
            name = f"{aux.name}: watch --once"
            cases.append(compare(name, aux, threads, None, extra=once, command="watch"))
        else:
            notes.append(
                "watch --once: not measured, `replicate watch --help` failed "
                "(the watch command does not exist yet)."
            )
    if "progress" in options.names:
        # The A/B runs replicator as it is; viewcost.py times the view in runs of its own.
        src = str(aux.root)
        view = replicator("replicator (view on)", src, terminal=True)
        quiet = replicator("replicator --quiet", src, "--quiet", terminal=True)
        timed = timed_view("view on, timed", src)
        fast = f"view at {_LOUD_FRAMES:g} frames/s, timed"
        loud = timed_view(fast, src, frames_per_second=_LOUD_FRAMES)
        name = f"{aux.name}: progress view vs --quiet"
        target = Target("view<=", _VIEW_DIFFERENCE)
        cases.append(Case(name, aux, (view, quiet, timed, loud), target))
    return cases
