"""The benchmark corpora: generated once per seed and scale, reused while the manifest matches.

At ``scale=1.0`` (the issue's sizes):

- ``jsonl``: 2,000 gzip'd JSON-lines files of 2,000 event rows each, 100 files per folder;
- ``drift``: the same files with the same rows, but whose types drift (see ``drift_plan``);
- ``csv``: 8 CSV files of 1,000,000 rows, 8 columns of mixed types;
- ``parquet``: 16 Parquet files of 500,000 rows with the CSV schema (snappy, pyarrow defaults);
- ``bigcsv``: one CSV file of about 2 GiB.

A scale shrinks the number of small files (``jsonl``, ``drift``), the rows per file (``csv``, ``parquet``)
or the bytes (``bigcsv``). Each corpus lives in ``<data>/<name>/`` and its manifest in
``<data>/<name>.manifest.json``, outside the folder that is replicated. The manifest is written
last, so an interrupted generation is redone.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tests.benchmarks import synth

# Bump when the generated content changes, so old corpora are regenerated.
GENERATOR_VERSION = 1
CORPORA = ("jsonl", "drift", "csv", "parquet", "bigcsv")

_JSONL_FILES = 2_000
_JSONL_ROWS = 2_000
_JSONL_PER_FOLDER = 100
# drift: one file in this many gets new fields, one in this many after the first half turns float.
_NEW_FIELDS_EVERY = 10
_FLOATS_EVERY = 10
_CSV_FILES = 8
_CSV_ROWS = 1_000_000
_PARQUET_FILES = 16
_PARQUET_ROWS = 500_000
_BIGCSV_BYTES = 2 * 1024**3
_BIGCSV_BATCH_ROWS = 500_000


@dataclass(frozen=True)
class SourceFile:
    key: str  # path relative to the corpus folder, with '/'
    size: int
    rows: int


@dataclass(frozen=True)
class Corpus:
    """A generated corpus: its folder and what is in it."""

    name: str
    root: Path
    seed: int
    scale: float
    files: tuple[SourceFile, ...]

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def paths(self) -> list[Path]:
        return [self.root / f.key for f in self.files]


def ensure_corpus(data: Path, name: str, seed: int, scale: float) -> Corpus:
    """The corpus ``name`` under ``data``, generated unless a matching one is already there."""
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}; known: {', '.join(CORPORA)}")
    if scale <= 0:
        raise ValueError(f"scale must be positive (got {scale})")
    existing = load_manifest(data, name)
    if existing is not None and existing.seed == seed and existing.scale == scale:
        return existing
    root = data / name
    shutil.rmtree(root, ignore_errors=True)
    manifest_path(data, name).unlink(missing_ok=True)
    root.mkdir(parents=True)
    files = _GENERATORS[name](root, seed, scale)
    corpus = Corpus(name, root, seed, scale, tuple(files))
    _write_manifest(data, corpus)
    return corpus


def manifest_path(data: Path, name: str) -> Path:
    return data / f"{name}.manifest.json"


def load_manifest(data: Path, name: str) -> Corpus | None:
    """The corpus the manifest describes, if it is current and its files are all there."""
    path = manifest_path(data, name)
    try:
        raw = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if raw.get("generator") != GENERATOR_VERSION or raw.get("pyarrow") != pa.__version__:
        return None
    files = tuple(SourceFile(**f) for f in raw["files"])
    root = data / name
    for f in files:
        try:
            if (root / f.key).stat().st_size != f.size:
                return None
        except FileNotFoundError:
            return None
    return Corpus(name, root, int(raw["seed"]), float(raw["scale"]), files)


def _write_manifest(data: Path, corpus: Corpus) -> None:
    body = {
        "name": corpus.name,
        "seed": corpus.seed,
        "scale": corpus.scale,
        "generator": GENERATOR_VERSION,
        # pyarrow's random generator may change between versions, and with it the rows.
        "pyarrow": pa.__version__,
        "rows": corpus.rows,
        "bytes": corpus.size,
        "files": [asdict(f) for f in corpus.files],
    }
    path = manifest_path(data, corpus.name)
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps(body, indent=1))
    os.replace(temp, path)


def _scaled(count: int, scale: float) -> int:
    return max(1, round(count * scale))


@dataclass(frozen=True)
class DriftPlan:
    floats_from: int | None  # the first row whose latency_ms is a float (None: none is)
    new_fields: tuple[str, ...]  # fields the file has that plain events lack


def drift_plan(index: int, files: int) -> DriftPlan:
    """How file ``index`` of a ``drift`` corpus of ``files`` files drifts from ``jsonl``'s.

    The first half of the files (1,000 at scale 1: replicator's default schema sample,
    ``--schema-sample-files``, takes the first block of the first 1,000 files by key) has no
    float: latency_ms reads as an integer there. After it, one file in ``_FLOATS_EVERY``
    turns float half-way (its first rows whole numbers, the later ones with .5), past the
    64 KiB an inference would read of it. One file in ``_NEW_FIELDS_EVERY`` (10%) has new fields
    in all its rows: ``coupon`` in both halves (the sample sees it), ``referrer`` too in the
    second half only (no sample sees it).
    """
    half = files // 2
    after = index >= half
    floats = after and (index - half) % _FLOATS_EVERY == 0
    new: tuple[str, ...] = ()
    if index % _NEW_FIELDS_EVERY == _NEW_FIELDS_EVERY // 2:
        new = ("coupon", "referrer") if after else ("coupon",)
    return DriftPlan(_JSONL_ROWS // 2 if floats else None, new)


def table_for(name: str, seed: int, scale: float, index: int) -> pa.Table:
    """The rows of file ``index`` of corpus ``name`` (not ``bigcsv``, built batch by batch).

    A ``drift`` file has the rows of the same ``jsonl`` file, drifted (``drift_plan``)."""
    if name in ("jsonl", "drift"):
        seeded = synth.derive_seed(seed, "jsonl", index)
        table = synth.events(seeded, _JSONL_ROWS, index * _JSONL_ROWS)
        if name == "jsonl":
            return table
        plan = drift_plan(index, _scaled(_JSONL_FILES, scale))
        drift_seed = synth.derive_seed(seed, name, index)
        return synth.drifted(
            table, drift_seed, floats_from=plan.floats_from, new_fields=plan.new_fields
        )
    rows = _scaled(_CSV_ROWS if name == "csv" else _PARQUET_ROWS, scale)
    return synth.mixed(synth.derive_seed(seed, name, index), rows, index * rows)


def _jsonl(root: Path, seed: int, scale: float, name: str = "jsonl") -> list[SourceFile]:
    files = []
    for i in range(_scaled(_JSONL_FILES, scale)):
        key = f"day={i // _JSONL_PER_FOLDER:03d}/events-{i:05d}.jsonl.gz"
        table = table_for(name, seed, scale, i)
        # mtime=0: the same seed gives the same bytes.
        data = gzip.compress(synth.jsonl_text(table), compresslevel=6, mtime=0)
        files.append(_put(root, key, data, table.num_rows))
    return files


def _drift(root: Path, seed: int, scale: float) -> list[SourceFile]:
    return _jsonl(root, seed, scale, "drift")


def _csv(root: Path, seed: int, scale: float) -> list[SourceFile]:
    return _tables(root, seed, scale, "csv", _CSV_FILES, pacsv.write_csv)


def _parquet(root: Path, seed: int, scale: float) -> list[SourceFile]:
    return _tables(root, seed, scale, "parquet", _PARQUET_FILES, pq.write_table)


def _tables(
    root: Path,
    seed: int,
    scale: float,
    name: str,
    count: int,
    write: Callable[[pa.Table, str], None],
) -> list[SourceFile]:
    files = []
    for i in range(count):
        key = f"part-{i:03d}.{name}"
        table = table_for(name, seed, scale, i)
        write(table, str(root / key))
        files.append(SourceFile(key, (root / key).stat().st_size, table.num_rows))
    return files


def _bigcsv(root: Path, seed: int, scale: float) -> list[SourceFile]:
    """One CSV written batch by batch until it reaches the target size."""
    target = _scaled(_BIGCSV_BYTES, scale)
    key = "big.csv"
    rows = 0
    with pa.OSFile(str(root / key), "wb") as out:
        writer: pacsv.CSVWriter | None = None
        batch = 0
        while out.tell() < target:
            # Rows take about 110 bytes: the last batch is cut so the file ends near its target.
            count = max(1, min(_BIGCSV_BATCH_ROWS, (target - out.tell()) // 110 + 1))
            table = synth.mixed(synth.derive_seed(seed, "bigcsv", batch), count, rows)
            if writer is None:
                writer = pacsv.CSVWriter(out, table.schema)
            writer.write_table(table)
            rows += count
            batch += 1
        if writer is not None:
            writer.close()
    return [SourceFile(key, (root / key).stat().st_size, rows)]


def _put(root: Path, key: str, data: bytes, rows: int) -> SourceFile:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return SourceFile(key, len(data), rows)


_GENERATORS: dict[str, Callable[[Path, int, float], list[SourceFile]]] = {
    "jsonl": _jsonl,
    "drift": _drift,
    "csv": _csv,
    "parquet": _parquet,
    "bigcsv": _bigcsv,
}


def ensure_corpora(data: Path, names: Sequence[str], seed: int, scale: float) -> dict[str, Corpus]:
    return {name: ensure_corpus(data, name, seed, scale) for name in names}
