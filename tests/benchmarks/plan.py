"""Which cases a suite run measures, from the names chosen with ``--only``."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from replicator.config import Settings
from tests.benchmarks.cases import MB, MIB, PYTHON, Case, Target, compare, replicator
from tests.benchmarks.corpus import CORPORA, Corpus
from tests.benchmarks.suite import REPO, local_env

# Cases beyond one comparison per corpus; they run on the auxiliary corpus (bigcsv for memory).
EXTRAS = ("startup", "memory", "s3", "watch", "progress")
NAMES = (*CORPORA, *EXTRAS)

# The targets (2-core machine, ratios from the same run).
_RATIO_TARGETS = {"csv": 1.2, "parquet": 1.2, "jsonl": 1.0}
_SMALL_LIMIT = 64 * MIB
_SMALL_LIMIT_RSS = 400 * MB
_OVER_LIMIT_RSS = 300 * MB
_VIEW_DIFFERENCE = 0.03


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
    names, threads = options.names, options.concurrency
    cases: list[Case] = []
    notes: list[str] = []
    default_limit = Settings().inflight_limit
    if "startup" in names and options.empty is not None:
        cases.append(compare("startup (empty source)", options.empty, threads, None))
    for name in CORPORA:
        if name not in names:
            continue
        if name == "bigcsv":
            target = Target("rss<=", default_limit + _OVER_LIMIT_RSS)
            label = f"bigcsv (default --inflight-limit {default_limit // MIB} MiB)"
            cases.append(compare(label, corpora[name], threads, target))
        else:
            target = Target("ratio<=", _RATIO_TARGETS[name])
            cases.append(compare(name, corpora[name], threads, target))
    if "memory" in names:
        big = corpora["bigcsv"]
        limited = replicator(
            "replicator", str(big.root), "--quiet", "--inflight-limit", f"{_SMALL_LIMIT // MIB}MiB"
        )
        label = f"bigcsv --inflight-limit {_SMALL_LIMIT // MIB}MiB"
        cases.append(Case(label, big, (limited,), Target("rss<=", _SMALL_LIMIT_RSS)))
    aux = corpora.get(options.aux)
    if "s3" in names and aux is not None and options.s3_source:
        cases.append(
            compare(
                f"{aux.name} from S3 (moto)",
                aux,
                threads,
                None,
                source=options.s3_source,
                env=options.s3_env,
            )
        )
    if "watch" in names and aux is not None:
        if watch_available():
            cases.append(
                compare(
                    f"{aux.name}: watch --once",
                    aux,
                    threads,
                    None,
                    extra=("--once", "--quiet"),
                    command="watch",
                )
            )
        else:
            notes.append(
                "watch --once: not measured, `replicate watch --help` failed "
                "(the watch command does not exist yet)."
            )
    if "progress" in names and aux is not None:
        src = str(aux.root)
        view = replicator("replicator (view on)", src, terminal=True)
        quiet = replicator("replicator --quiet", src, "--quiet", terminal=True)
        cases.append(
            Case(
                f"{aux.name}: progress view vs --quiet",
                aux,
                (view, quiet),
                Target("ratio~", _VIEW_DIFFERENCE),
            )
        )
    return cases, notes
