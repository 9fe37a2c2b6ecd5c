"""Conforming batches to the pipeline schema, and the stage that keeps its versions."""

from __future__ import annotations

import threading
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from replicator.checkpoint import SqliteCheckpointStore
from replicator.errors import ReadError
from replicator.schema.conform import Change, Conformer, Evolve, Misfit, Mode, Target
from replicator.schema.hints import Hint
from replicator.schema.stage import SchemaStage, StageOptions

SCHEMA = pa.schema([("id", pa.int64()), ("qty", pa.int64()), ("name", pa.string())])


def target(mode: Mode = Mode.ADD_COLUMNS, schema: pa.Schema = SCHEMA, **kw: object) -> Target:
    return Target(version=1, schema=schema, mode=mode, **kw)  # type: ignore[arg-type]


def rescued(batch: pa.RecordBatch) -> list[object]:
    return [
        None if t is None else orjson.loads(t) for t in batch.column("_rescued_data").to_pylist()
    ]


def test_a_batch_of_the_schemas_types_gets_an_empty_rescue_column() -> None:
    batch = pa.record_batch({"name": ["a", "b"], "id": [1, 2], "qty": [3, 4]})
    out = Conformer(target(), "k").conform(batch)
    assert out.schema.names == ["id", "qty", "name", "_rescued_data"]
    assert out.column("qty").to_pylist() == [3, 4]
    assert rescued(out) == [None, None]


def test_values_a_column_holds_are_cast_and_missing_columns_are_null() -> None:
    batch = pa.record_batch({"id": pa.array([1, 2], pa.int32()), "name": pa.array([7, 8])})
    out = Conformer(target(), "k").conform(batch)
    assert out.schema.field("id").type == pa.int64()
    assert out.column("qty").to_pylist() == [None, None]
    assert out.column("name").to_pylist() == ["7", "8"]  # text holds any value as its text


def test_add_columns_asks_for_a_wider_type_naming_the_row() -> None:
    conformer = Conformer(target(), "k")
    conformer.conform(pa.record_batch({"id": [1], "qty": [1], "name": ["a"]}))
    batch = pa.record_batch({"id": [2, 3], "qty": [None, 1.5], "name": ["b", "c"]})
    with pytest.raises(Evolve) as caught:
        conformer.conform(batch)
    assert caught.value.changes == (Change(("qty",), pa.int64(), pa.float64(), 3),)


def test_rescue_keeps_what_fits_and_rescues_the_rest_as_written() -> None:
    batch = pa.record_batch(
        {
            "id": [1, 2, 3],
            "qty": [2.0, 1.5, None],
            "name": ["a", "b", "c"],
            "new": [None, "x", None],
        }
    )
    out = Conformer(target(Mode.RESCUE), "f.jsonl").conform(batch)
    assert out.column("qty").to_pylist() == [2, None, None]
    assert rescued(out) == [None, {"qty": 1.5, "new": "x", "_file": "f.jsonl"}, None]


def test_none_ignores_new_fields_and_rescues_misfits() -> None:
    batch = pa.record_batch({"id": [1], "qty": [True], "name": ["a"], "new": [5]})
    out = Conformer(target(Mode.NONE), "k").conform(batch)
    assert out.schema.names == ["id", "qty", "name", "_rescued_data"]
    assert rescued(out) == [{"qty": True, "_file": "k"}]


def test_fail_stops_at_the_first_change_saying_what_to_do() -> None:
    conformer = Conformer(target(Mode.FAIL), "data/f.csv")
    with pytest.raises(ReadError) as caught:
        conformer.conform(pa.record_batch({"id": [1, 2], "qty": [None, 2.5], "name": ["a", "b"]}))
    message = str(caught.value)
    assert message.startswith("data/f.csv: row 2: column qty needs double instead of int64")
    assert "--schema-hints" in message
    assert "--schema-evolution add-columns" in message
    with pytest.raises(ReadError, match="a new column extra"):
        Conformer(target(Mode.FAIL), "k").conform(
            pa.record_batch({"id": [1], "qty": [1], "name": ["a"], "extra": [1]})
        )


def test_kinds_that_do_not_mix_are_rescued_in_every_mode() -> None:
    for mode in Mode:
        batch = pa.record_batch({"id": [1, 2], "qty": ["many", None], "name": ["a", "b"]})
        out = Conformer(target(mode), "k").conform(batch)
        assert out.column("qty").to_pylist() == [None, None]
        assert rescued(out) == [{"qty": "many", "_file": "k"}, None]


def test_a_hinted_column_is_never_widened() -> None:
    hinted = target(hinted=frozenset({("qty",)}))
    out = Conformer(hinted, "k").conform(pa.record_batch({"id": [1], "qty": [2.5], "name": ["a"]}))
    assert out.column("qty").to_pylist() == [None]
    assert rescued(out) == [{"qty": 2.5, "_file": "k"}]


def test_new_fields_and_nested_fields_evolve_by_path() -> None:
    schema = pa.schema([("p", pa.struct([("a", pa.int64())]))])
    batch = pa.record_batch(
        {"p": pa.array([{"a": 1, "b": "x"}], pa.struct([("a", pa.int64()), ("b", pa.string())]))}
    )
    with pytest.raises(Evolve) as caught:
        Conformer(target(schema=schema), "k").conform(batch)
    assert caught.value.changes == (Change(("p", "b"), None, pa.string(), 1),)
    out = Conformer(target(Mode.RESCUE, schema=schema), "k").conform(batch)
    assert out.column("p").to_pylist() == [{"a": 1}]
    assert rescued(out) == [{"p.b": "x", "_file": "k"}]


def test_a_column_with_no_value_yet_takes_the_first_values_type() -> None:
    schema = pa.schema([("id", pa.int64()), ("later", pa.null())])
    conformer = Conformer(target(schema=schema), "k")
    out = conformer.conform(pa.record_batch({"id": [1], "later": pa.nulls(1)}))
    assert out.schema.names == ["id", "_rescued_data"]  # not written while its type is unknown
    with pytest.raises(Evolve) as caught:
        conformer.conform(pa.record_batch({"id": [2], "later": [1.5]}))
    assert caught.value.changes == (Change(("later",), pa.null(), pa.float64(), 2),)


def test_a_readers_misfits_are_rescued_as_written() -> None:
    batch = pa.record_batch({"id": [1, 2], "qty": [None, 3], "name": ["a", "b"]})
    out = Conformer(target(), "x.csv").conform(batch, [Misfit(0, ("qty",), b"12,5")])
    assert rescued(out) == [{"qty": "12,5", "_file": "x.csv"}, None]
    latin = Conformer(target(), "x.csv").conform(batch, [Misfit(1, ("name",), b"\xa9")])
    assert rescued(latin)[1] == {"name": {"base64": "qQ=="}, "_file": "x.csv"}


def test_an_integer_a_float_cannot_hold_exactly_is_rescued_not_rounded() -> None:
    schema = pa.schema([("v", pa.float64())])
    batch = pa.record_batch({"v": pa.array([3, 2**53 + 1], pa.int64())})
    out = Conformer(target(schema=schema), "k").conform(batch)
    assert out.column("v").to_pylist() == [3.0, None]
    assert rescued(out) == [None, {"v": 2**53 + 1, "_file": "k"}]


def test_without_a_rescue_column_a_misfit_fails_the_file() -> None:
    batch = pa.record_batch({"id": [1], "qty": ["x"], "name": ["a"]})
    with pytest.raises(ReadError, match="rescued-data column is off"):
        Conformer(target(rescue_column=None), "k").conform(batch)


# -- the stage ------------------------------------------------------------------------------


def test_the_stage_infers_once_stores_versions_and_merges_concurrent_changes(
    tmp_path: Path,
) -> None:
    store = SqliteCheckpointStore(tmp_path / "s.db", "p")
    heard: list[int] = []
    try:
        stage = SchemaStage(store, StageOptions(hints=(Hint(("name",), pa.string()),)))
        first = stage.start(lambda: (pa.schema([("id", pa.int32()), ("qty", pa.int64())]), 2))
        assert first.version == 1
        assert first.schema.names == ["id", "qty", "name"]
        stage.listen(lambda t: heard.append(t.version))
        base = stage.target()
        changes = [
            [Change(("qty",), pa.int64(), pa.float64(), 5)],
            [Change(("extra",), None, pa.string(), 9)],
            [Change(("qty",), pa.int64(), pa.float64(), 7)],  # covered by the first: no version
        ]
        threads = [
            threading.Thread(target=stage.evolve, args=(c, f"f{i}")) for i, c in enumerate(changes)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        now = stage.target()
        assert base.version == 1
        assert now.version == 3
        assert now.schema == pa.schema(
            [
                ("id", pa.int32()),
                ("qty", pa.float64()),
                ("name", pa.string()),
                ("extra", pa.string()),
            ]
        )
        assert heard == [1, 2, 3]
        history = store.schema_versions()
        assert [v.version for v in history] == [1, 2, 3]
        assert history[0].changes == ("inferred from the first blocks of 2 files",)
        assert sorted(c for v in history[1:] for c in v.changes) == [
            "column qty: int64 -> double",
            "new column extra (string)",
        ]
        # A later run starts from the stored version, without inferring.
        again = SchemaStage(store, StageOptions())
        assert again.start(lambda: pytest.fail("inferred again")).schema == now.schema
    finally:
        store.close()
