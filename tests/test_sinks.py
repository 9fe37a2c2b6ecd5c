"""The files sink: output paths, each output format's content, atomic visibility, concurrency."""

from __future__ import annotations

import base64
import datetime as dt
import io
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest

from replicator.errors import ConfigError, StorageError
from replicator.model import Chunk, FileInfo, Offset
from replicator.sinks import FilesSink, OutputFormat, SinkError, output_key, writers
from replicator.sinks.writers import FormatWriter, open_writer
from replicator.storage import StorageOptions, open_location
from tests.conftest import S3Bucket

MIB = 1024 * 1024
UTC = dt.UTC

NESTED = pa.struct([("city", pa.string()), ("tags", pa.list_(pa.int64()))])
SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("name", pa.string()),
        ("score", pa.float64()),
        ("ok", pa.bool_()),
        ("at", pa.timestamp("us", tz="UTC")),
        ("where", NESTED),
        ("_file", pa.string()),
        ("_row", pa.int64()),
    ]
)
FLAT = pa.schema([f for f in SCHEMA if f.name != "where"])


def rows_table(key: str, n: int = 10, schema: pa.Schema = SCHEMA) -> pa.Table:
    """``n`` rows with awkward values: unicode, quotes, newlines, nulls, nested structs."""
    names = ["plain", 'with "quotes", commas', "multi\nline", "ünïcødé 文字", None]
    data: dict[str, list[Any]] = {
        "id": [i * 1_000_003 - 7 for i in range(n)],
        "name": [names[i % len(names)] for i in range(n)],
        "score": [None if i % 4 == 3 else i / 3 for i in range(n)],
        "ok": [i % 2 == 0 for i in range(n)],
        "at": [
            dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=i, microseconds=i * 7)
            for i in range(n)
        ],
        "where": [
            None if i == 2 else {"city": f"c{i}", "tags": list(range(i % 3))} for i in range(n)
        ],
        "_file": [key] * n,
        "_row": list(range(n)),
    }
    return pa.table({name: data[name] for name in schema.names}, schema=schema)


def info(key: str) -> FileInfo:
    return FileInfo(path=f"/source/{key}", key=key, size=1234, etag="e1")


def chunks(
    key: str, table: pa.Table, per_chunk: int = 4, empty_last: bool = False
) -> Iterator[Chunk]:
    """The table as a file's chunks; the last one completed (an extra empty one if asked)."""
    batches = table.to_batches(max_chunksize=per_chunk) or [
        pa.RecordBatch.from_pylist([], schema=table.schema)
    ]
    if empty_last:
        batches.append(pa.RecordBatch.from_pylist([], schema=table.schema))
    rows = 0
    for i, batch in enumerate(batches):
        rows += batch.num_rows
        yield Chunk(
            file=info(key), offset=Offset(rows=rows), items=batch, completed=i == len(batches) - 1
        )


def write_file(sink: FilesSink, key: str, table: pa.Table, **kwargs: Any) -> None:
    for chunk in chunks(key, table, **kwargs):
        sink.write(chunk)


def local_sink(tmp_path: Path, output_format: OutputFormat = "parquet", **kwargs: Any) -> FilesSink:
    return FilesSink(open_location(str(tmp_path / "out")), output_format, **kwargs)


def listing(folder: Path) -> list[str]:
    """Every file under ``folder``, hidden ones included, relative to it."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def binary_chunks(key: str, pieces: list[bytes | None]) -> list[Chunk]:
    """One chunk per group of pieces, as a raw reader would give them; nulls carry no bytes."""
    out = []
    groups = [pieces[: len(pieces) // 2], pieces[len(pieces) // 2 :]]
    for i, group in enumerate(groups):
        batch = pa.RecordBatch.from_pydict({"data": pa.array(group, pa.binary())})
        out.append(Chunk(file=info(key), offset=Offset(rows=i), items=batch, completed=i == 1))
    return out


# --- output paths -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output_format", "expected"),
    [
        ("parquet", "data/a b/ü.csv.parquet"),
        ("jsonl", "data/a b/ü.csv.jsonl"),
        ("csv", "data/a b/ü.csv.csv"),
        ("raw", "data/a b/ü.csv"),
    ],
)
def test_output_key_depends_only_on_key_and_format(
    output_format: OutputFormat, expected: str
) -> None:
    assert output_key("data/a b/ü.csv", output_format) == expected
    assert output_key("/data/a b/ü.csv", output_format) == expected


@pytest.mark.parametrize("key", ["", "/", "folder/"])
def test_output_key_refuses_keys_that_name_no_file(key: str) -> None:
    with pytest.raises(ValueError, match="does not name a file"):
        output_key(key, "parquet")


def test_bad_settings_are_config_errors(tmp_path: Path) -> None:
    location = open_location(str(tmp_path))
    with pytest.raises(ConfigError, match="compression 'bogus'"):
        FilesSink(location, "parquet", parquet_compression="bogus")
    with pytest.raises(ConfigError, match="unknown output format 'xml'"):
        FilesSink(location, "xml")  # type: ignore[arg-type]
    assert FilesSink(location, "parquet", parquet_compression="none").parquet_compression == "none"


# --- content of each format ---------------------------------------------------------------------


def test_parquet_round_trips_nested_columns_and_system_columns(tmp_path: Path) -> None:
    table = rows_table("in/a.csv", n=10)
    with local_sink(tmp_path) as sink:
        write_file(sink, "in/a.csv", table, empty_last=True)
        committed = sink.commit(info("in/a.csv"))

    final = tmp_path / "out" / "in" / "a.csv.parquet"
    assert committed.outputs == (str(final),)
    assert committed.rows == 10
    back = pq.read_table(final)
    assert back.equals(table)
    metadata = pq.ParquetFile(final).metadata
    assert metadata.row_group(0).column(0).compression == "ZSTD"
    # Small chunks are gathered into one row group; the empty last chunk adds none.
    assert metadata.num_row_groups == 1


def test_parquet_compression_is_configurable(tmp_path: Path) -> None:
    table = rows_table("a.csv", n=3)
    with local_sink(tmp_path, parquet_compression="snappy") as sink:
        write_file(sink, "a.csv", table)
        sink.commit(info("a.csv"))
    final = tmp_path / "out" / "a.csv.parquet"
    assert pq.ParquetFile(final).metadata.row_group(0).column(0).compression == "SNAPPY"
    assert pq.read_table(final).equals(table)


def test_jsonl_round_trips_nested_columns_and_system_columns(tmp_path: Path) -> None:
    table = rows_table("in/a.csv", n=10)
    with local_sink(tmp_path, "jsonl") as sink:
        write_file(sink, "in/a.csv", table)
        committed = sink.commit(info("in/a.csv"))

    final = tmp_path / "out" / "in" / "a.csv.jsonl"
    assert committed.outputs == (str(final),)
    assert committed.rows == 10
    options = pajson.ParseOptions(explicit_schema=SCHEMA, newlines_in_values=False)
    back = pajson.read_json(final, parse_options=options)
    assert back.select(SCHEMA.names).equals(table)
    lines = final.read_bytes().splitlines()
    assert len(lines) == 10
    assert lines[1].startswith(b'{"id":999996,"name":"with \\"quotes\\", commas"')
    assert b'"at":"2024-01-01T00:00:01.000007Z"' in lines[1]


def test_jsonl_writes_awkward_types_as_text_or_numbers(tmp_path: Path) -> None:
    ns = pa.array([1_700_000_000_123_456_789], pa.timestamp("ns"))
    batch = pa.RecordBatch.from_pydict(
        {
            "ns": ns,
            "zoned": pa.array([0], pa.timestamp("s", tz="Europe/Paris")),
            "money": pa.array(["12.30"], pa.string()).cast(pa.decimal128(6, 2)),
            "blob": pa.array([b"\x00\xffab"], pa.binary()),
            "wait": pa.array([1500], pa.duration("ms")),
            "day": pa.array([dt.date(2024, 2, 29)], pa.date32()),
        }
    )
    with local_sink(tmp_path, "jsonl") as sink:
        sink.write(
            Chunk(file=info("t.parquet"), offset=Offset(rows=1), items=batch, completed=True)
        )
        sink.commit(info("t.parquet"))
    line = (tmp_path / "out" / "t.parquet.jsonl").read_bytes()
    blob = base64.b64encode(b"\x00\xffab").decode()
    assert line == (
        b'{"ns":"2023-11-14T22:13:20.123456789","zoned":"1970-01-01T00:00:00Z",'
        b'"money":"12.30","blob":"' + blob.encode() + b'","wait":1500,"day":"2024-02-29"}\n'
    )


def test_csv_round_trips_flat_columns(tmp_path: Path) -> None:
    table = rows_table("in/a.csv", n=10, schema=FLAT)
    with local_sink(tmp_path, "csv") as sink:
        write_file(sink, "in/a.csv", table)
        committed = sink.commit(info("in/a.csv"))

    final = tmp_path / "out" / "in" / "a.csv.csv"
    assert committed.outputs == (str(final),)
    back = pacsv.read_csv(
        final,
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=FLAT, strings_can_be_null=True, quoted_strings_can_be_null=False
        ),
    )
    assert back.equals(table)
    assert final.read_bytes().splitlines()[0] == b'"id","name","score","ok","at","_file","_row"'


def test_csv_writes_nested_columns_as_json_text(tmp_path: Path) -> None:
    key = "deep/n.jsonl"
    table = rows_table(key)
    with local_sink(tmp_path, "csv") as sink:
        for chunk in chunks(key, table):
            sink.write(chunk)
        sink.commit(info(key))
    back = pacsv.read_csv(
        tmp_path / "out" / "deep" / "n.jsonl.csv",
        convert_options=pacsv.ConvertOptions(
            column_types={"where": pa.string()}, strings_can_be_null=True
        ),
    )
    wheres = back.column("where").to_pylist()
    # Each struct as JSON text, compared as values; a null struct stays empty (null).
    assert [None if w is None else orjson.loads(w) for w in wheres] == table.column(
        "where"
    ).to_pylist()
    assert back.column("id").to_pylist() == table.column("id").to_pylist()


def test_raw_mirrors_bytes_exactly(tmp_path: Path) -> None:
    pieces: list[bytes | None] = [
        b"\x00\x01",
        b"",
        None,
        bytes(range(256)),
        b"line\r\n",
        b"\xff" * 1000,
    ]
    sliced = pa.array([b"skip", b"kept-", b"too", b"skip"], pa.binary()).slice(1, 2)
    with local_sink(tmp_path, "raw") as sink:
        for chunk in binary_chunks("bin/a b.gz", pieces)[:1]:
            sink.write(chunk)
        sink.write(
            Chunk(
                file=info("bin/a b.gz"),
                offset=Offset(rows=9),
                items=pa.RecordBatch.from_pydict({"data": sliced}),
            )
        )
        sink.write(binary_chunks("bin/a b.gz", pieces)[1])
        committed = sink.commit(info("bin/a b.gz"))

    final = tmp_path / "out" / "bin" / "a b.gz"
    assert committed.outputs == (str(final),)
    first, second = pieces[:3], pieces[3:]
    assert final.read_bytes() == b"".join(p or b"" for p in first) + b"kept-too" + b"".join(
        p or b"" for p in second
    )


def test_raw_needs_a_binary_data_column(tmp_path: Path) -> None:
    sink = local_sink(tmp_path, "raw")
    with pytest.raises(SinkError, match="raw output needs a binary 'data' column"):
        write_file(sink, "a.csv", rows_table("a.csv", n=2))
    sink.close()
    assert listing(tmp_path / "out") == []


@pytest.mark.parametrize("output_format", ["parquet", "jsonl", "csv", "raw"])
def test_empty_file_gives_an_empty_valid_output(
    tmp_path: Path, output_format: OutputFormat
) -> None:
    schema = pa.schema([("data", pa.binary())]) if output_format == "raw" else FLAT
    empty = pa.RecordBatch.from_pylist([], schema=schema)
    with local_sink(tmp_path, output_format) as sink:
        sink.write(Chunk(file=info("e/empty.txt"), offset=Offset(), items=empty, completed=True))
        committed = sink.commit(info("e/empty.txt"))

    final = Path(committed.outputs[0])
    assert final == tmp_path / "out" / output_key("e/empty.txt", output_format)
    assert committed.rows == 0
    content = final.read_bytes()
    if output_format == "parquet":
        back = pq.read_table(final)
        assert back.schema.equals(FLAT)
        assert back.num_rows == 0
    elif output_format == "csv":
        assert content == b'"id","name","score","ok","at","_file","_row"\n'
    else:
        assert content == b""
    assert listing(tmp_path / "out") == [output_key("e/empty.txt", output_format)]


def test_empty_file_with_no_columns_gives_a_valid_parquet(tmp_path: Path) -> None:
    with local_sink(tmp_path) as sink:
        sink.write(
            Chunk(
                file=info("nothing"),
                offset=Offset(),
                items=pa.RecordBatch.from_pydict({}),
                completed=True,
            )
        )
        committed = sink.commit(info("nothing"))
    back = pq.read_table(committed.outputs[0])
    assert back.num_rows == 0
    assert back.num_columns == 0


# --- schema changes within a file ---------------------------------------------------------------


def test_later_chunk_with_castable_schema_is_cast(tmp_path: Path) -> None:
    wide = pa.schema([("n", pa.int64()), ("s", pa.string()), ("x", pa.float64())])
    first = pa.RecordBatch.from_pydict({"n": [1], "s": ["a"], "x": [0.5]}, schema=wide)
    # Narrower ints, a column of nulls and a different column order: all fit the first schema.
    later = pa.RecordBatch.from_pydict(
        {"x": pa.array([None], pa.null()), "s": ["b"], "n": pa.array([2], pa.int32())}
    )
    with local_sink(tmp_path) as sink:
        sink.write(Chunk(file=info("k"), offset=Offset(rows=1), items=first))
        sink.write(Chunk(file=info("k"), offset=Offset(rows=2), items=later, completed=True))
        committed = sink.commit(info("k"))
    assert pq.read_table(committed.outputs[0]).to_pydict() == {
        "n": [1, 2],
        "s": ["a", "b"],
        "x": [0.5, None],
    }


@pytest.mark.parametrize(
    "later",
    [
        pa.RecordBatch.from_pydict({"zip": ["02139"]}),
        pa.RecordBatch.from_pydict({"zap": [1]}),
        pa.RecordBatch.from_pydict({"zip": [2**40]}),
    ],
    ids=["text-into-int", "renamed", "overflow"],
)
def test_later_chunk_with_incompatible_schema_is_a_clear_error(
    tmp_path: Path, later: pa.RecordBatch
) -> None:
    first = pa.RecordBatch.from_pydict({"zip": pa.array([1], pa.int32())})
    sink = local_sink(tmp_path)
    sink.write(Chunk(file=info("z/zips.csv"), offset=Offset(rows=1), items=first))
    with pytest.raises(
        SinkError, match=r"z/zips.csv: the rows changed schema within the file"
    ) as caught:
        sink.write(
            Chunk(file=info("z/zips.csv"), offset=Offset(rows=2), items=later, completed=True)
        )
    assert caught.value.key == "z/zips.csv"
    assert listing(tmp_path / "out") == []
    sink.abort(info("z/zips.csv"))
    sink.close()


# --- lifecycle: commit, abort, overwrite, close -------------------------------------------------


def test_local_output_is_a_hidden_temp_until_commit(tmp_path: Path) -> None:
    out = tmp_path / "out"
    sink = local_sink(tmp_path)
    table = rows_table("dir/f.csv", n=10)
    parts = list(chunks("dir/f.csv", table))
    for chunk in parts[:-1]:
        sink.write(chunk)
    [temp] = listing(out)
    assert temp.startswith("dir/.f.csv.parquet.")
    assert temp.endswith(".tmp")
    sink.write(parts[-1])
    assert not (out / "dir" / "f.csv.parquet").exists()

    sink.commit(info("dir/f.csv"))
    assert listing(out) == ["dir/f.csv.parquet"]
    assert pq.read_table(out / "dir" / "f.csv.parquet").equals(table)


def test_abort_leaves_nothing_and_abort_of_unknown_file_is_fine(tmp_path: Path) -> None:
    sink = local_sink(tmp_path)
    for chunk in list(chunks("a.csv", rows_table("a.csv")))[:2]:
        sink.write(chunk)
    assert len(listing(tmp_path / "out")) == 1
    sink.abort(info("a.csv"))
    sink.abort(info("a.csv"))
    sink.abort(info("never-seen.csv"))
    assert listing(tmp_path / "out") == []
    # The file can be written again from its start after an abort.
    write_file(sink, "a.csv", rows_table("a.csv", n=3))
    assert sink.commit(info("a.csv")).rows == 3
    assert pq.read_table(tmp_path / "out" / "a.csv.parquet").equals(rows_table("a.csv", n=3))


def test_rerun_overwrites_instead_of_duplicating(tmp_path: Path) -> None:
    first, second = rows_table("r.csv", n=10), rows_table("r.csv", n=4)
    for table in (first, second):
        with local_sink(tmp_path) as sink:
            write_file(sink, "r.csv", table)
            sink.commit(info("r.csv"))
    assert listing(tmp_path / "out") == ["r.csv.parquet"]
    assert pq.read_table(tmp_path / "out" / "r.csv.parquet").equals(second)


def test_commit_needs_the_last_chunk(tmp_path: Path) -> None:
    sink = local_sink(tmp_path)
    with pytest.raises(SinkError, match="no chunk written"):
        sink.commit(info("missing.csv"))
    sink.write(next(chunks("half.csv", rows_table("half.csv"))))
    with pytest.raises(SinkError, match="before the file's last chunk"):
        sink.commit(info("half.csv"))
    assert not (tmp_path / "out" / "half.csv.parquet").exists()
    sink.close()
    assert listing(tmp_path / "out") == []


def test_close_aborts_uncommitted_outputs_and_refuses_writes(tmp_path: Path) -> None:
    sink = local_sink(tmp_path)
    write_file(sink, "done.csv", rows_table("done.csv", n=2))
    sink.commit(info("done.csv"))
    sink.write(next(chunks("open.csv", rows_table("open.csv"))))
    sink.close()
    assert listing(tmp_path / "out") == ["done.csv.parquet"]
    with pytest.raises(SinkError, match="closed"):
        sink.write(next(chunks("open.csv", rows_table("open.csv"))))


def test_keys_with_spaces_and_non_ascii(tmp_path: Path) -> None:
    key = "dir with space/ünïcødé 文件 (1).csv"
    table = rows_table(key, n=5)
    with local_sink(tmp_path) as sink:
        write_file(sink, key, table)
        committed = sink.commit(info(key))
    final = tmp_path / "out" / "dir with space" / "ünïcødé 文件 (1).csv.parquet"
    assert committed.outputs == (str(final),)
    assert pq.read_table(final).equals(table)


def test_very_long_names_keep_their_temp_name_short_enough(tmp_path: Path) -> None:
    key = "é" * 120 + ".csv"  # 244 bytes: the output name is near the 255-byte limit
    with local_sink(tmp_path, "raw") as sink:
        for chunk in binary_chunks(key, [b"abc", b"def"]):
            sink.write(chunk)
        sink.commit(info(key))
    assert (tmp_path / "out" / key).read_bytes() == b"abcdef"


def test_key_escaping_the_destination_is_refused(tmp_path: Path) -> None:
    sink = local_sink(tmp_path)
    with pytest.raises(SinkError, match="outside the destination"):
        sink.write(next(chunks("../escape.csv", rows_table("../escape.csv"))))
    assert listing(tmp_path) == []


def test_different_files_are_written_in_parallel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each file's first write waits for the other's: a sink-wide lock held while writing
    # would make this time out instead.
    barrier = threading.Barrier(2, timeout=10)

    class Meeting:
        def __init__(self, inner: FormatWriter) -> None:
            self.inner = inner

        def write(self, batch: pa.RecordBatch) -> None:
            barrier.wait()
            self.inner.write(batch)

        def finish(self) -> None:
            self.inner.finish()

        def abandon(self) -> None:
            self.inner.abandon()

    monkeypatch.setattr(
        "replicator.sinks.files.open_writer", lambda *a, **k: Meeting(open_writer(*a, **k))
    )
    tables = {key: rows_table(key, n=1) for key in ("p/1.csv", "p/2.csv")}
    with local_sink(tmp_path) as sink, ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(write_file, sink, key, table) for key, table in tables.items()]
        for future in futures:
            future.result()
        for key, table in tables.items():
            assert pq.read_table(sink.commit(info(key)).outputs[0]).equals(table)


def test_concurrent_files_from_threads(tmp_path: Path) -> None:
    tables = {f"many/{i:02d}.csv": rows_table(f"many/{i:02d}.csv", n=5 + i) for i in range(12)}

    def run(sink: FilesSink, key: str) -> int:
        write_file(sink, key, tables[key], per_chunk=2)
        return sink.commit(info(key)).rows

    with local_sink(tmp_path) as sink, ThreadPoolExecutor(4) as pool:
        rows = dict(zip(tables, pool.map(lambda key: run(sink, key), tables), strict=True))
    assert rows == {key: table.num_rows for key, table in tables.items()}
    assert listing(tmp_path / "out") == sorted(f"{key}.parquet" for key in tables)
    for key, table in tables.items():
        assert pq.read_table(tmp_path / "out" / f"{key}.parquet").equals(table)


# --- object store (moto S3) ---------------------------------------------------------------------


def s3_sink(bucket: S3Bucket, output_format: OutputFormat) -> FilesSink:
    # The smallest part S3 allows, so a few MiB already make a multipart upload.
    options = StorageOptions(extra={"default_block_size": 5 * MIB})
    return FilesSink(open_location(bucket.url("out"), options), output_format)


def uploads(bucket: S3Bucket) -> list[str]:
    response = bucket.client.list_multipart_uploads(Bucket=bucket.name)
    return [upload["Key"] for upload in response.get("Uploads", [])]


def test_s3_multipart_output_is_invisible_until_commit(s3_bucket: S3Bucket) -> None:
    key = "in/big file ü.bin"
    pieces = [os.urandom(3 * MIB), os.urandom(4 * MIB), b"tail", os.urandom(5 * MIB)]
    sink = s3_sink(s3_bucket, "raw")
    for chunk in binary_chunks(key, list(pieces)):
        sink.write(chunk)
    assert s3_bucket.keys() == []
    assert uploads(s3_bucket) == [f"out/{key}"]

    committed = sink.commit(info(key))
    assert committed.outputs == (f"s3://{s3_bucket.name}/out/{key}",)
    assert s3_bucket.keys() == [f"out/{key}"]
    assert s3_bucket.get(f"out/{key}") == b"".join(pieces)
    assert uploads(s3_bucket) == []
    sink.close()


def test_s3_abort_leaves_no_object_and_no_upload(s3_bucket: S3Bucket) -> None:
    sink = s3_sink(s3_bucket, "raw")
    sink.write(binary_chunks("a.bin", [os.urandom(6 * MIB), b"x"])[0])
    assert uploads(s3_bucket) == ["out/a.bin"]
    sink.abort(info("a.bin"))
    assert uploads(s3_bucket) == []
    assert s3_bucket.keys() == []
    sink.close()


def test_s3_parquet_small_file_round_trips(s3_bucket: S3Bucket) -> None:
    key = "dir with space/ünï.csv"
    table = rows_table(key, n=10)
    with s3_sink(s3_bucket, "parquet") as sink:
        parts = list(chunks(key, table))
        for chunk in parts:
            sink.write(chunk)
        assert s3_bucket.keys() == []
        committed = sink.commit(info(key))
    assert committed.outputs == (f"s3://{s3_bucket.name}/out/{key}.parquet",)
    assert s3_bucket.keys() == [f"out/{key}.parquet"]
    assert pq.read_table(io.BytesIO(s3_bucket.get(f"out/{key}.parquet"))).equals(table)


def test_s3_close_aborts_uploads_in_progress(s3_bucket: S3Bucket) -> None:
    sink = s3_sink(s3_bucket, "raw")
    sink.write(binary_chunks("c.bin", [os.urandom(6 * MIB), b"x"])[0])
    sink.close()
    assert uploads(s3_bucket) == []
    assert s3_bucket.keys() == []


def test_s3_missing_bucket_is_a_storage_error(s3_bucket: S3Bucket) -> None:
    location = open_location(f"s3://{s3_bucket.name}-missing/out")
    sink = FilesSink(location, "jsonl")
    write_file(sink, "a.csv", rows_table("a.csv", n=2))
    with pytest.raises(StorageError, match=f"{s3_bucket.name}-missing/out/a.csv.jsonl") as caught:
        sink.commit(info("a.csv"))
    assert caught.value.url == f"s3://{s3_bucket.name}-missing/out/a.csv.jsonl"
    sink.close()


def test_parquet_row_groups_gather_chunks_up_to_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writers, "ROW_GROUP_BYTES", 2000)
    sink = FilesSink(open_location(str(tmp_path / "out")))
    file = FileInfo(path="x", key="g.csv", size=1)
    rows = 0
    for i in range(10):
        batch = pa.RecordBatch.from_pydict({"n": list(range(rows, rows + 100))})
        rows += 100
        sink.write(Chunk(file, Offset(rows), batch, completed=i == 9))
    sink.commit(file)
    parquet = pq.ParquetFile(tmp_path / "out" / "g.csv.parquet")
    # 800 bytes a chunk, 2000 a row group: groups of three chunks, and the rest.
    assert [
        parquet.metadata.row_group(i).num_rows for i in range(parquet.metadata.num_row_groups)
    ] == [300, 300, 300, 100]
    assert parquet.read().column("n").to_pylist() == list(range(1000))
