"""Bad rows (--on-bad-rows fail|skip|dead-letter) and files that cannot be read at all.

The corpus is built here: each kind of bad row sits between good rows, and the checks compare
the good rows written, the dead-letter records, the state and the run's outcome.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import s3fs

from replicator.checkpoint.sqlite import SqliteCheckpointStore
from replicator.config import Settings
from replicator.errors import ConfigError
from replicator.runner.events import Event, FileCompleted
from replicator.runner.snapshot import run_snapshot
from replicator.runner.watch import run_watch
from tests.conftest import S3Bucket

CSV = (
    b"id,name,score\n"  # line 1
    b"1,ann,10\n"
    b"2,bob,20,extra\n"  # line 3: a field too many
    b"3,cy,30\n"
    b"4,dee\n"  # line 5: a field short
    b'5,"ed ""the"" man",50\n'
    b'6,"open,60\n'  # line 7: an unclosed quote runs to the end of the file
    b"7,gus,70\n"
)
CSV_GOOD = [
    {"id": 1, "name": "ann", "score": 10},
    {"id": 3, "name": "cy", "score": 30},
    {"id": 5, "name": 'ed "the" man', "score": 50},
]

JSONL = (
    b'{"id": 1, "tag": "a"}\n'  # line 1
    b'{"id": 2, "tag": \n'  # line 2: invalid JSON
    b"[1, 2]\n"  # line 3: an array, not an object
    b'{"id": 3, "tag": "c"}\n'
    b"\n"  # a blank line is not a row
    b'{"id": "four", "tag": "d"}\n'  # line 6: a value that does not fit (rescued, kept)
    b"42\n"  # line 7: a number
    b'{"id": 5, "tag": "e"}\n'
)
JSONL_GOOD = [
    {"id": 1, "tag": "a"},
    {"id": 3, "tag": "c"},
    {"id": None, "tag": "d"},
    {"id": 5, "tag": "e"},
]


def _settings(src: Path, out: Path, **kw: Any) -> Settings:
    # ``id`` fixed as an integer: the JSON line with "four" is then a value that does not fit
    # (rescued, its row kept), not text that makes the whole column text.
    kw = {"schema_hints": "id:int64", **kw}
    return Settings(
        source=str(src), dest=str(out), state=str(out.parent / "state.db"), name="t", **kw
    )


def _corpus(src: Path) -> None:
    src.mkdir(parents=True, exist_ok=True)
    (src / "rows.csv").write_bytes(CSV)
    (src / "events.jsonl").write_bytes(JSONL)
    (src / "ok.csv").write_bytes(b"id,name,score\n9,zed,90\n")


def _rows(path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    return rows


def _letters(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _record(state: Path, key: str) -> Any:
    store = SqliteCheckpointStore(state, "t")
    try:
        return store.get(key)
    finally:
        store.close()


def test_dead_letter_holds_every_bad_row_and_good_rows_go_through(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    _corpus(src)
    events: list[Event] = []

    summary = run_snapshot(_settings(src, out), events.append)

    assert summary.ok, summary.failures
    assert (summary.files_completed, summary.bad_rows) == (3, 6)
    # Good rows as usual; _row numbers the rows written (bad rows take none).
    rows = _rows(out / "rows.csv.parquet")
    assert [{k: r[k] for k in ("id", "name", "score")} for r in rows] == CSV_GOOD
    assert [r["_row"] for r in rows] == [0, 1, 2]
    events_rows = _rows(out / "events.jsonl.parquet")
    assert [{"id": r["id"], "tag": r["tag"]} for r in events_rows] == JSONL_GOOD
    rescued = [r["_rescued_data"] for r in events_rows]
    assert [None if r is None else json.loads(r) for r in rescued] == [
        None,
        None,
        {"id": "four", "_file": "events.jsonl"},
        None,
    ]

    csv_letters = _letters(out / "_dead_letter" / "rows.csv.badrows.jsonl")
    assert [(r["key"], r["line"], r["raw"], r["reason"]) for r in csv_letters] == [
        ("rows.csv", 3, "2,bob,20,extra", "expected 3 fields, got 4"),
        ("rows.csv", 5, "4,dee", "expected 3 fields, got 2"),
        # The quote swallows the following lines: they are kept in the raw text, not lost.
        ("rows.csv", 7, '6,"open,60\n7,gus,70', "expected 3 fields, got 2"),
    ]
    json_letters = _letters(out / "_dead_letter" / "events.jsonl.badrows.jsonl")
    offsets = [0]
    for line in JSONL.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))
    assert [(r["line"], r["byte"], r["raw"]) for r in json_letters] == [
        (2, offsets[1], '{"id": 2, "tag": '),
        (3, offsets[2], "[1, 2]"),
        (7, offsets[6], "42"),
    ]
    reasons = [r["reason"] for r in json_letters]
    assert reasons[0].startswith("not valid JSON: ")
    assert reasons[1] == "not a JSON object but an array"
    assert reasons[2] == "not a JSON object but a number"
    assert {r["key"] for r in json_letters} == {"events.jsonl"}
    assert all(r["raw_base64"] is None for r in [*csv_letters, *json_letters])
    assert not (out / "_dead_letter" / "ok.csv.badrows.jsonl").exists()

    # The state lists the dead letter among the file's outputs; events carry the count.
    record = _record(out.parent / "state.db", "rows.csv")
    assert record.status == "completed"
    assert record.rows == 3
    assert record.outputs == (
        str(out / "rows.csv.parquet"),
        str(out / "_dead_letter" / "rows.csv.badrows.jsonl"),
    )
    counts = {e.file.key: e.bad_rows for e in events if isinstance(e, FileCompleted)}
    assert counts == {"rows.csv": 3, "events.jsonl": 3, "ok.csv": 0}

    # Redoing the files rewrites their dead letters instead of appending to them.
    before = (out / "_dead_letter" / "rows.csv.badrows.jsonl").read_bytes()
    again = run_snapshot(_settings(src, out, full_refresh=True))
    assert again.bad_rows == 6
    assert (out / "_dead_letter" / "rows.csv.badrows.jsonl").read_bytes() == before
    assert not [p for p in out.rglob(".*")], "no temp files are left behind"


def test_skip_counts_bad_rows_and_writes_no_dead_letter(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    _corpus(src)
    summary = run_snapshot(_settings(src, out, on_bad_rows="skip"))
    assert summary.ok
    assert summary.bad_rows == 6
    rows = _rows(out / "rows.csv.parquet")
    assert [{k: r[k] for k in ("id", "name", "score")} for r in rows] == CSV_GOOD
    assert not (out / "_dead_letter").exists()
    assert _record(out.parent / "state.db", "rows.csv").outputs == (str(out / "rows.csv.parquet"),)


def test_fail_fails_the_file_and_the_others_complete(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    _corpus(src)
    summary = run_snapshot(_settings(src, out, on_bad_rows="fail"))
    assert not summary.ok
    assert (summary.files_completed, summary.files_failed, summary.bad_rows) == (1, 2, 0)
    reasons = dict(summary.failures)
    assert "Expected 3 columns, got 4" in reasons["rows.csv"]
    assert "line 2: not valid JSON" in reasons["events.jsonl"]
    assert _rows(out / "ok.csv.parquet")[0]["name"] == "zed"
    assert not (out / "rows.csv.parquet").exists()
    assert not (out / "_dead_letter").exists()
    record = _record(out.parent / "state.db", "rows.csv")
    assert (record.status, record.error) == ("failed", reasons["rows.csv"])


def test_bad_lines_among_many_blocks_keep_order_and_numbers(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    lines = [json.dumps({"n": i, "pad": "x" * 20}).encode() for i in range(400)]
    bad = {57: b"{oops", 58: b'"str"', 399: b"}"}
    lines[301] = b'{"n": "text", "pad": "x"}'  # a value of another kind: rescued, row kept
    for index, text in bad.items():
        lines[index] = text
    data = b"\n".join(lines) + b"\n"
    (src / "big.jsonl").write_bytes(data)
    (src / "big.jsonl.gz").write_bytes(gzip.compress(data))

    summary = run_snapshot(_settings(src, out, chunk_size=1024))

    assert summary.ok, summary.failures
    good = [i for i in range(400) if i not in bad]
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    for key in ("big.jsonl", "big.jsonl.gz"):
        rows = _rows(out / f"{key}.parquet")
        assert [r["n"] for r in rows] == [None if i == 301 else i for i in good]
        assert json.loads(rows[good.index(301)]["_rescued_data"]) == {"n": "text", "_file": key}
        assert [r["_row"] for r in rows] == list(range(len(good)))
        letters = _letters(out / "_dead_letter" / f"{key}.badrows.jsonl")
        # Line numbers and byte offsets are those of the decompressed text.
        assert [(r["line"], r["byte"], r["raw"]) for r in letters] == [
            (i + 1, starts[i], text.decode()) for i, text in sorted(bad.items())
        ]


def test_bytes_that_are_not_utf8_are_kept_exactly(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "b.jsonl").write_bytes(b'{"a": 1}\n\xff\xfe{"a": 2}\n{"a": 3}\n')
    summary = run_snapshot(_settings(src, out))
    assert summary.bad_rows == 1
    assert [r["a"] for r in _rows(out / "b.jsonl.parquet")] == [1, 3]
    (letter,) = _letters(out / "_dead_letter" / "b.jsonl.badrows.jsonl")
    assert letter["raw"] is None
    assert letter["raw_base64"] == "//57ImEiOiAyfQ=="  # b'\xff\xfe{"a": 2}'
    assert letter["line"] == 2


def _truncated_parquet() -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"a": list(range(100))}), sink)
    return sink.getvalue()[:-30]


def test_unreadable_files_fail_others_go_on_and_retry_failed(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "ok.csv").write_bytes(b"a\n1\n2\n")
    (src / "corrupt.csv.gz").write_bytes(gzip.compress(b"a\n1\n2\n" * 500)[:40] + b"garbage")
    (src / "cut.parquet").write_bytes(_truncated_parquet())
    (src / "wrong.parquet").write_bytes(b"a,b\n1,2\n")

    first = run_snapshot(_settings(src, out))

    assert (first.files_completed, first.files_failed) == (1, 3)
    assert not first.ok
    reasons = dict(first.failures)
    assert "cannot decompress" in reasons["corrupt.csv.gz"]
    assert "cannot read as parquet" in reasons["cut.parquet"]
    assert "cannot read as parquet" in reasons["wrong.parquet"]
    assert [r["a"] for r in _rows(out / "ok.csv.parquet")] == [1, 2]
    for key, reason in reasons.items():
        record = _record(out.parent / "state.db", key)
        assert (record.status, record.error) == ("failed", reason)
        assert not (out / f"{key}.parquet").exists()

    # By default a rerun leaves the failed files alone, says so, and is still not ok.
    second = run_snapshot(_settings(src, out))
    assert (second.files_completed, second.files_failed, second.files_failed_before) == (0, 0, 3)
    assert not second.ok
    assert {k for k, _ in second.failures} == set(reasons)
    assert all("--retry-failed to retry" in r for _, r in second.failures)

    # A fixed file is a new version: it is retried without the flag; the rest only with it.
    pq.write_table(pa.table({"a": [7, 8]}), src / "cut.parquet")
    third = run_snapshot(_settings(src, out))
    assert (third.files_completed, third.files_failed_before) == (1, 2)
    assert [r["a"] for r in _rows(out / "cut.parquet.parquet")] == [7, 8]
    assert _record(out.parent / "state.db", "cut.parquet").status == "completed"

    fourth = run_snapshot(_settings(src, out, retry_failed=True))
    assert (fourth.files_completed, fourth.files_failed, fourth.files_failed_before) == (0, 2, 0)
    record = _record(out.parent / "state.db", "corrupt.csv.gz")
    assert (record.status, record.attempts) == ("failed", 2)


def test_watch_dead_letters_bad_rows_too(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    _corpus(src)
    summary = run_watch(_settings(src, out, poll_interval=0.05, min_age=0), once=True)
    assert summary.files_completed == 3, summary.failures
    assert summary.bad_rows == 6
    rows = _rows(out / "rows.csv.parquet")
    assert [{k: r[k] for k in ("id", "name", "score")} for r in rows] == CSV_GOOD
    letters = _letters(out / "_dead_letter" / "events.jsonl.badrows.jsonl")
    assert [r["line"] for r in letters] == [2, 3, 7]


def test_dead_letter_to_s3_is_one_object_per_file(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    src = tmp_path / "src"
    _corpus(src)
    settings = Settings(
        source=str(src),
        dest=str(tmp_path / "out"),
        dead_letter=s3_bucket.url("letters/"),
        state=str(tmp_path / "s.db"),
    )
    summary = run_snapshot(settings)
    assert summary.ok, summary.failures
    assert s3_bucket.keys() == [
        "letters/events.jsonl.badrows.jsonl",
        "letters/rows.csv.badrows.jsonl",
    ]
    body = s3_bucket.get("letters/rows.csv.badrows.jsonl").decode()
    assert [json.loads(line)["line"] for line in body.splitlines()] == [3, 5, 7]
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_bucket.endpoint})
    assert fs.exists(f"{s3_bucket.name}/letters/events.jsonl.badrows.jsonl")


def test_settings_check_the_policy_and_the_place(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="on-bad-rows: 'drop' is not one of fail, skip"):
        Settings(source="a", dest="b", on_bad_rows="drop")
    src = tmp_path / "src"
    src.mkdir()
    inside = _settings(src, tmp_path / "out", dead_letter=str(src / "letters"))
    with pytest.raises(ConfigError, match=r"dead-letter location .* lies inside the source"):
        run_snapshot(inside)
