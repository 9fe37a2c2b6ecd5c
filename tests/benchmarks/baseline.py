"""The plain pyarrow baseline: read each file whole, write one Parquet file per input.

``python -m tests.benchmarks.baseline SRC DEST [--threads N]``

No checkpoints, no progress, no system columns, no fsync: what a data engineer would write in
ten minutes. Files are converted by a thread pool as large as replicator's default concurrency
(pyarrow releases the GIL while parsing and writing), so many small files get the same
parallelism on both sides; each read also uses Arrow's own threads, as replicator's do.
Outputs go to ``DEST/<key>.parquet`` with zstd, like replicator's files sink. SRC is a local
folder or an fsspec URL (``s3://bucket/prefix/``, with ``AWS_ENDPOINT_URL`` for moto).
"""

from __future__ import annotations

import argparse
import os
import posixpath
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from replicator.config import default_concurrency

# Same as replicator's files sink default (replicator/config.py: parquet_compression).
COMPRESSION = "zstd"
_CODECS = {".gz": "gzip", ".zst": "zstd", ".bz2": "bz2"}


def convert(fs: AbstractFileSystem, path: str, root: str, dest: str) -> int:
    """Convert one file; returns its row count."""
    key = posixpath.relpath(path, root)
    stem, ext = posixpath.splitext(key)
    codec = _CODECS.get(ext.lower())
    fmt = posixpath.splitext(stem if codec else key)[1].lower()
    table = _read(fs, path, fmt, codec)
    out = os.path.join(dest, key + ".parquet")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    pq.write_table(table, out, compression=COMPRESSION)
    return int(table.num_rows)


def _read(fs: AbstractFileSystem, path: str, fmt: str, codec: str | None) -> pa.Table:
    if fmt == ".parquet":
        return pq.read_table(_stored(fs, path))
    stream = pa.input_stream(_stored(fs, path), compression=codec)
    if fmt in (".csv", ".tsv"):
        delimiter = "\t" if fmt == ".tsv" else ","
        return pacsv.read_csv(stream, parse_options=pacsv.ParseOptions(delimiter=delimiter))
    if fmt in (".jsonl", ".json", ".ndjson"):
        return pajson.read_json(stream)
    raise ValueError(f"{path}: no reader for {fmt!r}")


def _stored(fs: AbstractFileSystem, path: str) -> pa.NativeFile:
    # Local files through Arrow's own I/O (as replicator does), others through fsspec.
    if isinstance(fs, LocalFileSystem):
        return pa.OSFile(path, "r")
    return pa.PythonFile(fs.open(path, "rb"), mode="r")


def run(source: str, dest: str, threads: int) -> int:
    """Convert every file under ``source``; returns the total row count."""
    fs, root = url_to_fs(source)
    root = root.rstrip("/")
    paths = sorted(p for p in fs.find(root) if not posixpath.basename(p).startswith("."))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return sum(pool.map(lambda p: convert(fs, p, root, dest), paths))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.baseline")
    parser.add_argument("source", help="local folder or fsspec URL")
    parser.add_argument("dest", help="local folder for the Parquet outputs")
    parser.add_argument("--threads", type=int, default=default_concurrency())
    args = parser.parse_args(argv)
    rows = run(args.source, args.dest, args.threads)
    print(f"{rows} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
