"""``python -m tests.benchmarks.viewcost RESULT [--frames-per-second N] -- ARGS...``: run
``replicate ARGS`` in this process with the live view's own work timed, and write what it cost to
RESULT (JSON).

Why: the A/B row (view on against ``--quiet``) compares two whole runs, and on a shared machine
run-to-run drift is larger than the 3% the issue allows, in both directions. This measures the
view's cost directly: the CPU time (``time.thread_time``: user and system time of the calling
thread) of everything the view adds to a run:

- importing the view's modules, which a ``--quiet`` run never imports;
- each frame: building it, laying it out and writing it to the terminal (rich's
  ``Live.refresh``, on the view's thread);
- taking each event (``LiveView.__call__``, on whichever thread sends it) and counting it
  (``LiveView._count_pending``, on the view's thread);
- starting and stopping the view, and printing the summary table at the end.

Only timers are added (about 1.5 us a timed call, counted in); what runs is replicator's own
code. RESULT gets ``{"cpu": s, "parts": {part: s}, "calls": {part: n}}``.

The view's CPU time is not all it costs the wall time: while its thread holds the GIL the run's
threads cannot run Python. ``--frames-per-second N`` makes the view draw N frames a second
whatever they cost, instead of at its own pace: at 40 its effect on the wall time stands out of
the noise between runs, and the wall time it adds per second of its own CPU time is the factor
the suite scales the view's CPU time by (on the benchmark machine, 1.4 to 2).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

from rich.console import Console

F = TypeVar("F", bound=Callable[..., Any])
_USAGE = "python -m tests.benchmarks.viewcost RESULT [--frames-per-second N] -- ARGS..."


class Meter:
    """CPU seconds and calls per part, from any thread. Each thread adds to its own counts, so
    the timers take no lock. A call made while the same thread is already inside a timed call
    (``Live.stop`` drawing its last frame) counts as a call, but its time counts only in the
    outer part: no time counts twice."""

    def __init__(self) -> None:
        self._threads: list[dict[str, list[float]]] = []  # per thread: part -> [seconds, calls]
        self._lock = threading.Lock()
        self._local = threading.local()

    def add(self, part: str, seconds: float) -> None:
        counts = getattr(self._local, "counts", None)
        if counts is None:
            counts = self._local.counts = {}
            with self._lock:
                self._threads.append(counts)
        total = counts.setdefault(part, [0.0, 0])
        total[0] += seconds
        total[1] += 1

    def wrap(self, part: str, function: F) -> F:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            local = self._local
            if getattr(local, "inside", False):  # counted, its time in the outer part's
                try:
                    return function(*args, **kwargs)
                finally:
                    self.add(part, 0.0)
            local.inside = True
            started = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.add(part, time.thread_time() - started)
                local.inside = False

        return timed  # type: ignore[return-value]

    def result(self) -> dict[str, Any]:
        seconds: dict[str, float] = defaultdict(float)
        calls: dict[str, int] = defaultdict(int)
        with self._lock:
            for counts in self._threads:
                for part, (spent, n) in counts.items():
                    seconds[part] += spent
                    calls[part] += int(n)
        return {"cpu": sum(seconds.values()), "parts": dict(seconds), "calls": dict(calls)}


def instrument(meter: Meter, frames_per_second: float | None) -> None:
    """Import the view's modules (timed) and put timers on the view's work."""
    from replicator.cli import app  # noqa: PLC0415 - imported by both sides of the A/B

    started = time.thread_time()
    import rich.live  # noqa: PLC0415 - the import is part of the view's cost

    from replicator.cli import progress  # noqa: PLC0415

    meter.add("import", time.thread_time() - started)
    live = rich.live.Live
    live.refresh = meter.wrap("frames", live.refresh)  # type: ignore[method-assign]
    live.start = meter.wrap("start and stop", live.start)  # type: ignore[method-assign]
    live.stop = meter.wrap("start and stop", live.stop)  # type: ignore[method-assign]
    view = progress.LiveView
    view.__call__ = meter.wrap("events", view.__call__)  # type: ignore[method-assign]
    view._count_pending = meter.wrap("events", view._count_pending)  # type: ignore[method-assign]
    app._finish = meter.wrap("summary", app._finish)
    if frames_per_second is not None:
        progress._DRAW_SHARE = 1.0  # no spacing by cost: every frame at the rate given
        init = view.__init__

        def at_rate(
            self: progress.LiveView, console: Console, refresh_per_second: float = 0
        ) -> None:
            init(self, console, frames_per_second)

        view.__init__ = at_rate  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    if "--" not in argv:
        sys.stderr.write(f"usage: {_USAGE}\n")
        return 2
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.viewcost", usage=_USAGE)
    parser.add_argument("result")
    parser.add_argument("--frames-per-second", type=float, default=None)
    options = parser.parse_args(argv[:split])
    args = argv[split + 1 :]
    meter = Meter()
    instrument(meter, options.frames_per_second)
    from replicator.cli.app import main as replicate  # noqa: PLC0415

    sys.argv = ["replicate", *args]
    code: int | str | None = 0
    try:
        replicate()
    except SystemExit as exit_:
        code = exit_.code
    finally:
        with open(options.result, "w", encoding="utf-8") as f:
            json.dump(meter.result(), f)
    if code is None or isinstance(code, int):
        return code or 0
    sys.stderr.write(f"{code}\n")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
