"""What is measured: the cases of the suite, each one or two commands and a target.

Every command runs in a fresh folder (``out/`` for the destination, ``state.db`` for the
checkpoint store), so no run skips work an earlier run did.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.benchmarks.corpus import Corpus

PYTHON = sys.executable
MB = 1_000_000
MIB = 1024 * 1024

VIEW_REPORT = "view.json"
EVENT_LOG = "events.jsonl"

# argv for a run, given its fresh folder.
Argv = Callable[[Path], list[str]]


@dataclass(frozen=True)
class Tool:
    label: str
    argv: Argv
    terminal: bool = False  # run on a pseudo-terminal (the live progress view needs one)
    report: str = ""  # a JSON file the command writes in its run folder, kept with each run
    # A file of its run folder that takes the command's stdout: replicator's JSON-lines log,
    # whose run_finished record (and schema events) is kept with each run (``suite.log_report``).
    log: str = ""
    corpus: Corpus | None = None  # what it reads, when not the case's corpus


@dataclass(frozen=True)
class Target:
    """What a case must meet. ``kind``: ``ratio<=`` (wall time over the second tool's),
    ``rss<=`` (peak RSS, bytes) or ``view<=`` (what the live view costs, as a share of the wall
    time of the run without it; see ``viewcost.py``). ``reread``: also, at most this share of
    the files read again because the schema changed, in every run of the first tool (which
    must log, ``Tool.log``)."""

    kind: str
    limit: float
    reread: float | None = None

    def describe(self) -> str:
        if self.kind == "ratio<=":
            rereads = "" if self.reread is None else f", read again <= {self.reread:.0%} of files"
            return f"ratio <= {self.limit:g}{rereads}"
        if self.kind == "view<=":
            return f"view's cost <= {self.limit:.0%} of the run"
        return f"peak RSS <= {self.limit / MB:,.0f} MB"

    def met(self, value: float | None) -> bool | None:
        """Whether ``value`` (the ratio, peak RSS or view's share the kind names) meets it."""
        return None if value is None else value <= self.limit


@dataclass(frozen=True)
class Case:
    """One row group of the report. ``ratio`` is the first tool over the second."""

    name: str
    corpus: Corpus
    tools: tuple[Tool, ...]
    target: Target | None = None
    env: dict[str, str] = field(default_factory=dict)
    source: str = ""  # defaults to the corpus folder
    note: str = ""

    @property
    def src(self) -> str:
        return self.source or str(self.corpus.root)


def out(run: Path) -> str:
    return str(run / "out")


def state(run: Path) -> str:
    return str(run / "state.db")


def replicator(
    label: str, src: str, *extra: str, command: str = "snapshot", terminal: bool = False
) -> Tool:
    def argv(run: Path) -> list[str]:
        return [PYTHON, "-m", "replicator", command, src, out(run), "--state", state(run), *extra]

    return Tool(label, argv, terminal)


def logged_replicator(label: str, corpus: Corpus) -> Tool:
    """``replicate snapshot`` of ``corpus`` with its JSON-lines log (stdout) kept: its summary
    counts the files read again and the schema's changes."""
    tool = replicator(label, str(corpus.root), "--log-format", "json")
    return Tool(label, tool.argv, log=EVENT_LOG, corpus=corpus)


def timed_view(label: str, src: str, frames_per_second: float | None = None) -> Tool:
    """``replicate snapshot`` on a terminal, with the live view's own CPU time measured."""
    rate = [] if frames_per_second is None else ["--frames-per-second", f"{frames_per_second:g}"]

    def argv(run: Path) -> list[str]:
        return [
            PYTHON,
            "-m",
            "tests.benchmarks.viewcost",
            str(run / VIEW_REPORT),
            *rate,
            "--",
            "snapshot",
            src,
            out(run),
            "--state",
            state(run),
        ]

    return Tool(label, argv, terminal=True, report=VIEW_REPORT)


def baseline(src: str, threads: int) -> Tool:
    def argv(run: Path) -> list[str]:
        return [PYTHON, "-m", "tests.benchmarks.baseline", src, out(run), "--threads", str(threads)]

    return Tool("baseline", argv)


def compare(
    name: str,
    corpus: Corpus,
    threads: int,
    target: Target | None,
    *,
    extra: Sequence[str] = ("--quiet",),
    command: str = "snapshot",
    source: str = "",
    env: dict[str, str] | None = None,
    note: str = "",
) -> Case:
    """Replicator against the baseline on the same source."""
    src = source or str(corpus.root)
    tools = (replicator("replicator", src, *extra, command=command), baseline(src, threads))
    return Case(name, corpus, tools, target, env or {}, source, note)
