"""A big JSON array: how fast it is split into lines, and the peak RSS of streaming it.

``python -m tests.benchmarks.jsonarray [--mb 200] [--indent 2] [--chunk-size 1MiB ...]``
writes an array of realistic objects (``tests.jsondocs``) to a temporary folder, times the
splitter alone (in this process), then reads the file with ``read_file`` in a child process per
chunk size and reports its peak RSS next to the same child's on a one-object file (what the
imports take), and the peak RSS of ``replicate snapshot`` of it. ``--read PATH`` is the child.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

from fsspec.implementations.local import LocalFileSystem

from replicator.model import FileInfo
from replicator.readers import ReaderOptions, read_file
from replicator.readers.jsonsniff import sniff
from replicator.readers.jsonsplit import split_values
from replicator.units import parse_size
from tests.benchmarks.measure import Measurement, measure
from tests.jsondocs import write_array

_ROOT = str(Path(__file__).resolve().parents[2])
MIB = 1 << 20


def split_rate(path: Path, chunk_size: int = 8 * MIB) -> tuple[float, int]:
    """Seconds to split the array in ``path`` into lines (reading included), and its values."""
    with path.open("rb") as f:
        started = time.perf_counter()
        blocks = iter(lambda: f.read(chunk_size), b"")
        kind, head, at = sniff(blocks)
        assert kind == "array", kind
        values = 0
        for lines in split_values(itertools.chain([head[at:]], blocks), array=True, offset=at):
            values += len(lines.starts)
        return time.perf_counter() - started, values


def read_peak(path: Path, chunk_size: int, timeout: float = 600) -> tuple[Measurement, int]:
    """The child reading ``path`` with ``read_file`` (bad rows tolerated), and its row count."""
    command = [sys.executable, "-m", "tests.benchmarks.jsonarray", "--read", str(path)]
    command += ["--chunk-size", str(chunk_size)]
    result = measure(command, env=dict(os.environ), cwd=_ROOT, timeout=timeout)
    assert result.exit_code == 0, result.tail
    return result, int(result.tail.split()[-1])


def snapshot_peak(folder: Path, out: Path, timeout: float = 600) -> Measurement:
    """``replicate snapshot`` of ``folder``, default settings."""
    command = [sys.executable, "-m", "replicator", "snapshot", str(folder), str(out)]
    command += ["--state", str(out.parent / "state.db"), "--quiet"]
    result = measure(command, env=dict(os.environ), cwd=_ROOT, timeout=timeout)
    assert result.exit_code == 0, result.tail
    return result


def _read(path: str, chunk_size: int) -> None:
    file = FileInfo(path=path, key=os.path.basename(path), size=os.path.getsize(path))
    options = ReaderOptions(chunk_size=chunk_size)
    bad: list[object] = []
    rows = sum(chunk.rows for chunk in read_file(LocalFileSystem(), file, options, bad.append))
    sys.stderr.write(f"bad rows {len(bad)}, rows {rows}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=200, help="size of the array, MB")
    parser.add_argument("--indent", type=int, default=2, help="0: no line breaks")
    parser.add_argument(
        "--chunk-size", type=parse_size, action="append", help="e.g. 8MiB (repeatable)"
    )
    parser.add_argument("--read", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read:
        _read(args.read, args.chunk_size[0])
        return
    with tempfile.TemporaryDirectory(prefix="jsonarray-") as folder:
        root = Path(folder)
        (root / "big").mkdir()
        big, tiny = root / "big" / "array.json", root / "tiny.json"
        started = time.perf_counter()
        count = write_array(big, int(args.mb * 1e6), indent=args.indent or None)
        write_array(tiny, 1)
        size = big.stat().st_size
        print(
            f"array: {size / 1e6:.1f} MB, {count} objects, indent {args.indent}, "
            f"written in {time.perf_counter() - started:.1f} s"
        )
        seconds, values = split_rate(big)
        assert values == count, (values, count)
        print(
            f"splitter (8 MiB blocks): {seconds:.2f} s, {size / 1e6 / seconds:.0f} MB/s, "
            f"{seconds / count * 1e6:.1f} us per object"
        )
        for chunk_size in args.chunk_size or [MIB, 8 * MIB]:
            base, _ = read_peak(tiny, chunk_size)
            run, rows = read_peak(big, chunk_size)
            assert rows == count, (rows, count)
            print(
                f"read_file, chunk {chunk_size / MIB:g} MiB: {run.wall:.1f} s, peak RSS "
                f"{run.peak_rss / 1e6:.0f} MB ({base.peak_rss / 1e6:.0f} MB on a one-object file)"
            )
        run = snapshot_peak(root / "big", root / "out")
        print(f"replicate snapshot: {run.wall:.1f} s, peak RSS {run.peak_rss / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
