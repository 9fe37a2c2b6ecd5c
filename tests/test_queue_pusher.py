"""The queue pusher and its per-file progress: ack and done rules, order, throttling, failure, cancel."""

from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from functools import partial

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replicator.errors import PusherError
from replicator.model import Chunk, FileInfo, Offset
from replicator.pusher.base import Pusher
from replicator.pusher.progress import FileProgress, FileState, ProgressTracker
from replicator.pusher.queue import (
    DEFAULT_INFLIGHT_LIMIT,
    Cancelled,
    FileFailed,
    QueuePusher,
    worker_for,
)
from replicator.sinks.base import Committed
from tests.test_inflight import JOIN, start, wait_until

ROWS = 3  # rows per non-empty fake chunk


def info(key: str) -> FileInfo:
    return FileInfo(path=f"bucket/{key}", key=key, size=1000, etag=f"etag-{key}")


def chunks_of(file: FileInfo, sizes: list[int], *, empty_last: bool = False) -> list[Chunk]:
    """Chunks with ``ROWS`` rows each and the given sizes; the last is completed.

    With ``empty_last`` a further empty completed chunk ends where the chunk before it ended.
    """
    chunks: list[Chunk] = []
    rows = 0
    for i, size in enumerate(sizes):
        batch = pa.RecordBatch.from_pydict(
            {"_file": [file.key] * ROWS, "_row": list(range(rows, rows + ROWS))}
        )
        rows += ROWS
        last = i == len(sizes) - 1 and not empty_last
        chunks.append(Chunk(file, Offset(rows, rows * 7), batch, completed=last, size=size))
    if empty_last:
        empty = pa.RecordBatch.from_pydict(
            {"_file": pa.array([], pa.string()), "_row": pa.array([], pa.int64())}
        )
        chunks.append(Chunk(file, Offset(rows, rows * 7), empty, completed=True, size=0))
    return chunks


def rows_of(chunks: list[Chunk]) -> list[int]:
    return [row for chunk in chunks for row in chunk.items.column("_row").to_pylist()]


class BrokenSink(Exception):
    pass


class RecordingSink:
    """Keeps the rows it was given per key, in arrival order; writes can be held or made to fail."""

    def __init__(self, fail_on: Callable[[Chunk], bool] = lambda chunk: False) -> None:
        self.lock = threading.Lock()
        self.rows: dict[str, list[int]] = defaultdict(list)
        self.gates: dict[str, threading.Event] = {}
        self.entered: dict[str, threading.Event] = defaultdict(threading.Event)
        self.fail_on = fail_on
        self.on_write: Callable[[Chunk], None] = lambda chunk: None

    def hold(self, key: str) -> threading.Event:
        """Writes of ``key`` wait until the returned event is set."""
        self.gates[key] = threading.Event()
        return self.gates[key]

    def write(self, chunk: Chunk) -> None:
        key = chunk.file.key
        self.entered[key].set()
        gate = self.gates.get(key)
        if gate is not None:
            assert gate.wait(JOIN)
        self.on_write(chunk)
        if self.fail_on(chunk):
            raise BrokenSink(f"cannot write {key} at {chunk.offset}")
        with self.lock:
            self.rows[key].extend(chunk.items.column("_row").to_pylist())

    def commit(self, file: FileInfo) -> Committed:
        return Committed(outputs=(), rows=len(self.rows[file.key]))

    def abort(self, file: FileInfo) -> None:
        pass

    def close(self) -> None:
        pass


class Acks:
    """Collects on_ack and on_error calls from the sink workers."""

    def __init__(self, sink: RecordingSink, expected: dict[str, list[int]]) -> None:
        self.lock = threading.Lock()
        self.acks: list[tuple[str, Offset, bool, bool]] = []
        self.done: Counter[str] = Counter()
        self.done_events: dict[str, threading.Event] = defaultdict(threading.Event)
        self.errors: list[tuple[FileInfo, BaseException]] = []
        self.error_event = threading.Event()
        self.problems: list[str] = []
        self._sink = sink
        self._expected = expected

    def on_ack(self, chunk: Chunk, done: bool) -> None:
        key = chunk.file.key
        with self.lock:
            self.acks.append((key, chunk.offset, chunk.completed, done))
            if done:
                self.done[key] += 1
                # Done only once the sink holds every row of the file.
                if self._sink.rows[key] != self._expected.get(key):
                    self.problems.append(f"{key} done before all its rows were written")
        if done:
            self.done_events[key].set()

    def on_error(self, file: FileInfo, error: BaseException) -> None:
        with self.lock:
            self.errors.append((file, error))
        self.error_event.set()


def push_all(pusher: QueuePusher, chunks: list[Chunk]) -> None:
    for chunk in chunks:
        pusher.push(chunk)


# --- per-file progress, without threads -------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.lists(st.integers(0, 100), min_size=1, max_size=6), min_size=1, max_size=4),
    empty_last=st.lists(st.booleans(), min_size=4, max_size=4),
    data=st.data(),
)
def test_ack_and_done_rules_under_random_interleavings(
    sizes: list[list[int]], empty_last: list[bool], data: st.DataObject
) -> None:
    files = {
        f"f{i}.csv": chunks_of(info(f"f{i}.csv"), s, empty_last=e)
        for i, (s, e) in enumerate(zip(sizes, empty_last, strict=False))
    }
    tracker = ProgressTracker()
    next_push = dict.fromkeys(files, 0)
    acked: dict[str, set[int]] = {key: set() for key in files}
    in_flight: list[tuple[str, int]] = []
    done: Counter[str] = Counter()
    while any(next_push[key] < len(chunks) for key, chunks in files.items()) or in_flight:
        moves = [("push", key, 0) for key in files if next_push[key] < len(files[key])]
        moves += [("ack", key, index) for key, index in in_flight]
        move, key, index = data.draw(st.sampled_from(moves))
        chunks = files[key]
        if move == "push":
            tracker.push(chunks[next_push[key]])
            in_flight.append((key, next_push[key]))
            next_push[key] += 1
        else:
            in_flight.remove((key, index))
            acked[key].add(index)
            expect_done = len(acked[key]) == len(chunks)
            assert tracker.ack(chunks[index]) is expect_done
            done[key] += expect_done
        assert tracker.bytes_in_flight == sum(files[k][i].size for k, i in in_flight)
        assert tracker.chunks_in_flight == len(in_flight)
        for progress in tracker:
            name = progress.file.key
            prefix = 0
            while prefix in acked[name]:
                prefix += 1
            expected_safe = files[name][prefix - 1].offset if prefix else None
            assert progress.safe_offset == expected_safe
            assert progress.rows_acked == ROWS * sum(files[name][i].rows > 0 for i in acked[name])
            assert progress.state is FileState.IN_WORK
    assert done == dict.fromkeys(files, 1)
    assert len(tracker) == 0  # done files are forgotten
    for chunks in files.values():
        with pytest.raises(PusherError, match=repr(chunks[-1].file.key)):
            tracker.ack(chunks[-1])


def test_double_ack_names_the_file_and_offset() -> None:
    file = info("dir/a.csv")
    first, second, last = chunks_of(file, [10, 20, 30])
    progress = FileProgress(file)
    for chunk in (first, second, last):
        progress.push(chunk)
    assert progress.ack(second) is False  # out of order: kept until the prefix catches up
    with pytest.raises(PusherError, match=r"'dir/a.csv' at offset rows=6 byte=42.*acked already"):
        progress.ack(second)
    assert progress.ack(first) is False
    assert progress.safe_offset == second.offset
    with pytest.raises(
        PusherError, match=r"'dir/a.csv' at offset rows=3 byte=21.*not in flight"
    ) as e:
        progress.ack(first)
    assert (e.value.key, e.value.offset) == ("dir/a.csv", first.offset)
    assert (progress.chunks_in_flight, progress.bytes_in_flight) == (1, 30)
    assert progress.ack(last) is True
    assert progress.state is FileState.DONE
    assert (progress.rows_acked, progress.bytes_acked) == (9, 60)


def test_ack_of_a_chunk_never_pushed_is_an_error() -> None:
    tracker = ProgressTracker()
    a = chunks_of(info("a.csv"), [5, 5])
    b = chunks_of(info("b.csv"), [5])
    tracker.push(a[0])
    with pytest.raises(PusherError, match=r"'a.csv' at offset rows=6.*not in flight"):
        tracker.ack(a[1])
    with pytest.raises(PusherError, match=r"'b.csv'.*no chunk of that file is in flight") as e:
        tracker.ack(b[0])
    assert e.value.key == "b.csv"
    resized = Chunk(a[0].file, a[0].offset, a[0].items, size=6)
    with pytest.raises(PusherError, match="pushed with size 5"):
        tracker.ack(resized)
    assert tracker.bytes_in_flight == 5


def test_pushes_must_be_in_order_and_stop_at_the_last_chunk() -> None:
    file = info("a.csv")
    first, second, last = chunks_of(file, [1, 1, 1])
    progress = FileProgress(file)
    progress.push(second)
    with pytest.raises(PusherError, match="does not come after the previous chunk"):
        progress.push(first)
    with pytest.raises(PusherError, match="does not come after the previous chunk"):
        progress.push(second)
    progress.push(last)
    with pytest.raises(PusherError, match="last chunk was pushed already"):
        progress.push(Chunk(file, Offset(99), first.items, completed=True, size=1))
    with pytest.raises(PusherError, match=r"with the progress of 'a\.csv'"):
        progress.push(chunks_of(info("b.csv"), [1])[0])
    assert (progress.chunks_in_flight, progress.bytes_in_flight) == (2, 2)


def test_empty_last_chunk_at_the_same_offset_is_a_distinct_chunk() -> None:
    file = info("a.csv")
    full, empty = chunks_of(file, [40], empty_last=True)
    assert full.offset == empty.offset
    progress = FileProgress(file)
    progress.push(full)
    progress.push(empty)
    assert progress.ack(empty) is False
    assert progress.ack(full) is True
    assert progress.safe_offset == full.offset


def test_dropped_and_failed_files_are_never_done() -> None:
    tracker = ProgressTracker()
    a = chunks_of(info("a.csv"), [10, 20])
    b = chunks_of(info("b.csv"), [7])
    for chunk in (*a, *b):
        tracker.push(chunk)
    assert tracker.ack(a[0]) is False
    error = BrokenSink("boom")
    assert tracker.fail(b[0].file, error) == 7
    assert tracker.drop_all() == 20
    with pytest.raises(PusherError, match=r"not in flight \(the file is dropped\)"):
        tracker.ack(a[1])
    progress_a, progress_b = tracker.get(a[0].file), tracker.get(b[0].file)
    assert progress_a is not None
    assert progress_b is not None
    assert (progress_a.state, progress_a.safe_offset) == (FileState.DROPPED, a[0].offset)
    assert (progress_b.state, progress_b.error) == (FileState.FAILED, error)
    assert tracker.bytes_in_flight == 0
    tracker.forget(b[0].file)
    assert tracker.get(b[0].file) is None
    tracker.push(chunks_of(info("c.csv"), [1, 1])[0])
    with pytest.raises(PusherError, match="still in work"):
        tracker.forget(info("c.csv"))


# --- the pusher, with sink workers -------------------------------------------------------------


def test_queue_pusher_is_a_pusher() -> None:
    pusher: Pusher = QueuePusher(RecordingSink())
    assert pusher.push(chunks_of(info("a.csv"), [1])[0]) is False  # done comes through on_ack
    assert DEFAULT_INFLIGHT_LIMIT == 256 * 1024**2
    assert isinstance(pusher, QueuePusher)
    assert pusher.close(JOIN)


def test_many_readers_keep_order_per_file_and_the_byte_limit() -> None:
    limit = 300
    rng = random.Random(7)
    files = {
        f"part-{i}.csv": chunks_of(info(f"part-{i}.csv"), [rng.randint(1, 100) for _ in range(20)])
        for i in range(8)
    }
    expected = {key: rows_of(chunks) for key, chunks in files.items()}
    sink = RecordingSink()
    acks = Acks(sink, expected)
    pusher = QueuePusher(
        sink,
        inflight_limit=limit,
        queue_size=4,
        workers=3,
        on_ack=acks.on_ack,
        on_error=acks.on_error,
    )
    seen_in_flight: list[int] = []
    sink.on_write = lambda chunk: seen_in_flight.append(pusher.statistics().bytes_in_flight)
    pusher.start()
    readers = [start(partial(push_all, pusher, chunks)) for chunks in files.values()]
    for thread, outcome in readers:
        thread.join(JOIN)
        assert outcome == [None]
    assert pusher.drain(JOIN)
    assert pusher.close(JOIN)
    assert dict(sink.rows) == expected
    assert acks.problems == []
    assert acks.done == dict.fromkeys(files, 1)
    for key, chunks in files.items():
        mine = [(offset, completed, done) for k, offset, completed, done in acks.acks if k == key]
        assert mine == [(c.offset, c.completed, c.completed) for c in chunks]
    assert max(seen_in_flight) <= limit
    stats = pusher.statistics()
    assert 0 < stats.peak_bytes_in_flight <= limit
    assert (stats.bytes_in_flight, stats.chunks_in_flight, stats.files_in_work) == (0, 0, 0)


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.lists(st.integers(0, 80), min_size=1, max_size=5), min_size=1, max_size=4),
    workers=st.integers(1, 3),
    queue_size=st.integers(1, 3),
)
def test_every_file_is_done_exactly_once_after_all_its_rows(
    sizes: list[list[int]], workers: int, queue_size: int
) -> None:
    files = {f"k{i}": chunks_of(info(f"k{i}"), s) for i, s in enumerate(sizes)}
    expected = {key: rows_of(chunks) for key, chunks in files.items()}
    sink = RecordingSink()
    acks = Acks(sink, expected)
    with QueuePusher(
        sink,
        inflight_limit=50,  # some chunks are larger than the whole limit
        queue_size=queue_size,
        workers=workers,
        on_ack=acks.on_ack,
        on_error=acks.on_error,
    ) as pusher:
        readers = [start(partial(push_all, pusher, chunks)) for chunks in files.values()]
        for thread, outcome in readers:
            thread.join(JOIN)
            assert outcome == [None]
        assert pusher.drain(JOIN)
    assert acks.problems == []
    assert acks.done == dict.fromkeys(files, 1)
    assert dict(sink.rows) == expected
    assert pusher.statistics().bytes_in_flight == 0


def keys_on_two_workers() -> tuple[str, str]:
    keys = [f"file-{i}.csv" for i in range(20)]
    slow = next(k for k in keys if worker_for(k, 2) == 0)
    fast = next(k for k in keys if worker_for(k, 2) == 1)
    return slow, fast


def test_a_slow_file_does_not_hold_up_files_on_other_workers() -> None:
    slow_key, fast_key = keys_on_two_workers()
    slow, fast = chunks_of(info(slow_key), [5, 5]), chunks_of(info(fast_key), [5, 5, 5])
    expected = {slow_key: rows_of(slow), fast_key: rows_of(fast)}
    sink = RecordingSink()
    gate = sink.hold(slow_key)
    acks = Acks(sink, expected)
    with QueuePusher(sink, workers=2, on_ack=acks.on_ack, on_error=acks.on_error) as pusher:
        push_all(pusher, slow)
        assert sink.entered[slow_key].wait(JOIN)
        push_all(pusher, fast)
        assert acks.done_events[fast_key].wait(JOIN)
        assert slow_key not in sink.rows
        assert acks.done[slow_key] == 0
        gate.set()
        assert pusher.drain(JOIN)
    assert dict(sink.rows) == expected
    assert acks.done == {slow_key: 1, fast_key: 1}


def test_readers_wait_on_the_byte_limit_and_nothing_is_dropped() -> None:
    a, b = chunks_of(info("a.csv"), [60, 60]), chunks_of(info("b.csv"), [500])
    expected = {"a.csv": rows_of(a), "b.csv": rows_of(b)}
    sink = RecordingSink()
    gate = sink.hold("a.csv")
    acks = Acks(sink, expected)
    with QueuePusher(
        sink, inflight_limit=100, workers=1, on_ack=acks.on_ack, on_error=acks.on_error
    ) as pusher:
        pusher.push(a[0])
        assert sink.entered["a.csv"].wait(JOIN)
        second, second_outcome = start(lambda: pusher.push(a[1]))
        wait_until(lambda: pusher.statistics().pushers_waiting == 1)
        oversize, oversize_outcome = start(
            lambda: pusher.push(b[0])
        )  # waits until nothing is in flight
        wait_until(lambda: pusher.statistics().pushers_waiting == 2)
        stats = pusher.statistics()
        assert (stats.bytes_in_flight, stats.inflight_limit, stats.chunks_in_flight) == (60, 100, 1)
        assert second_outcome == oversize_outcome == []
        gate.set()
        for thread, outcome in ((second, second_outcome), (oversize, oversize_outcome)):
            thread.join(JOIN)
            assert outcome == [False]
        assert pusher.drain(JOIN)
    assert dict(sink.rows) == expected
    assert acks.done == {"a.csv": 1, "b.csv": 1}
    assert pusher.statistics().peak_bytes_in_flight == 500  # the oversize chunk, alone


def test_a_failing_write_fails_only_its_file() -> None:
    bad, good = chunks_of(info("bad.csv"), [5, 5, 5, 5]), chunks_of(info("good.csv"), [5, 5])
    sink = RecordingSink(fail_on=lambda chunk: chunk is bad[1])
    gate = sink.hold("bad.csv")
    acks = Acks(sink, {"good.csv": rows_of(good), "bad.csv": rows_of(bad)})
    with QueuePusher(sink, workers=1, on_ack=acks.on_ack, on_error=acks.on_error) as pusher:
        push_all(pusher, bad[:3])  # all queued behind the held first write
        push_all(pusher, good)
        gate.set()
        assert acks.error_event.wait(JOIN)
        with pytest.raises(FileFailed, match=r"'bad\.csv' failed in the sink") as failed:
            pusher.push(bad[3])
        assert isinstance(failed.value.error, BrokenSink)
        assert pusher.drain(JOIN)
        stats = pusher.statistics()
        assert (stats.bytes_in_flight, stats.files_failed, stats.files_in_work) == (0, 1, 0)
        assert [(f.file.key, f.state, f.safe_offset) for f in stats.files] == [
            ("bad.csv", FileState.FAILED, bad[0].offset)
        ]
    assert sink.rows["bad.csv"] == rows_of(bad[:1])  # chunks queued after the failure are dropped
    assert sink.rows["good.csv"] == rows_of(good)
    assert [(file.key, str(error)) for file, error in acks.errors] == [
        ("bad.csv", f"cannot write bad.csv at {bad[1].offset}")
    ]
    assert acks.done == {"good.csv": 1}


def test_a_failed_file_can_be_pushed_again_after_forget() -> None:
    chunks = chunks_of(info("a.csv"), [5, 5])
    failing = [True]
    sink = RecordingSink(fail_on=lambda chunk: failing[0])
    acks = Acks(sink, {"a.csv": rows_of(chunks)})
    with QueuePusher(sink, workers=1, on_ack=acks.on_ack, on_error=acks.on_error) as pusher:
        pusher.push(chunks[0])
        assert acks.error_event.wait(JOIN)
        failing[0] = False
        pusher.forget(chunks[0].file)
        push_all(pusher, chunks)
        assert pusher.drain(JOIN)
    assert acks.done == {"a.csv": 1}
    assert sink.rows["a.csv"] == rows_of(chunks)


def test_an_on_ack_error_is_reported_and_the_worker_goes_on() -> None:
    a, b = chunks_of(info("a.csv"), [5]), chunks_of(info("b.csv"), [5])
    sink = RecordingSink()
    acks = Acks(sink, {"a.csv": rows_of(a), "b.csv": rows_of(b)})

    def on_ack(chunk: Chunk, done: bool) -> None:
        if chunk.file.key == "a.csv":
            raise BrokenSink("commit failed")
        acks.on_ack(chunk, done)

    with QueuePusher(sink, workers=1, on_ack=on_ack, on_error=acks.on_error) as pusher:
        push_all(pusher, a + b)
        assert pusher.drain(JOIN)
    assert [(file.key, str(error)) for file, error in acks.errors] == [("a.csv", "commit failed")]
    assert acks.done == {"b.csv": 1}


def test_cancel_wakes_blocked_readers_and_leaves_state_consistent() -> None:
    a, b = chunks_of(info("a.csv"), [60, 30, 5, 10]), chunks_of(info("b.csv"), [50])
    sink = RecordingSink()
    gate = sink.hold("a.csv")
    acks = Acks(sink, {})
    pusher = QueuePusher(
        sink, inflight_limit=100, workers=1, on_ack=acks.on_ack, on_error=acks.on_error
    )
    pusher.start()
    pusher.push(a[0])
    assert sink.entered["a.csv"].wait(JOIN)
    push_all(pusher, a[1:3])  # 95 bytes in flight, two chunks queued
    readers = [start(lambda: pusher.push(a[3])), start(lambda: pusher.push(b[0]))]
    wait_until(lambda: pusher.statistics().pushers_waiting == 2)
    before = pusher.statistics()
    assert (before.bytes_in_flight, before.chunks_in_flight, before.chunks_queued) == (95, 3, 2)
    assert before.bytes_in_flight == sum(f.bytes_in_flight for f in before.files)

    pusher.cancel()
    for thread, outcome in readers:
        thread.join(JOIN)
        assert len(outcome) == 1
        assert isinstance(outcome[0], Cancelled)
    after = pusher.statistics()
    assert (after.bytes_in_flight, after.chunks_in_flight, after.chunks_queued) == (0, 0, 0)
    assert after.bytes_in_flight == sum(f.bytes_in_flight for f in after.files)
    assert [(f.file.key, f.state) for f in after.files] == [("a.csv", FileState.DROPPED)]
    with pytest.raises(Cancelled, match="cancelled"):
        pusher.push(b[0])
    gate.set()  # the write that was running returns; its chunk is not acked
    assert pusher.close(JOIN)
    assert sink.rows["a.csv"] == rows_of(a[:1])  # queued chunks were never written
    assert acks.acks == []
    assert acks.errors == []


def test_drain_waits_for_the_sink_and_then_refuses_chunks() -> None:
    a = chunks_of(info("a.csv"), [5, 5])
    sink = RecordingSink()
    gate = sink.hold("a.csv")
    acks = Acks(sink, {"a.csv": rows_of(a)})
    pusher = QueuePusher(sink, workers=1, on_ack=acks.on_ack, on_error=acks.on_error)
    push_all(pusher, a)  # queued before start
    assert pusher.statistics().chunks_queued == 2
    pusher.start()
    assert sink.entered["a.csv"].wait(JOIN)
    assert pusher.drain(timeout=0.01) is False
    with pytest.raises(Cancelled, match="draining"):
        pusher.push(chunks_of(info("b.csv"), [5])[0])
    gate.set()
    assert pusher.drain(JOIN)
    assert acks.done == {"a.csv": 1}
    assert pusher.close(JOIN)
    assert sink.rows["a.csv"] == rows_of(a)


def test_ack_without_workers_and_its_errors() -> None:
    pusher = QueuePusher(RecordingSink(), inflight_limit=100, queue_size=8)
    first, last = chunks_of(info("a.csv"), [30, 40])
    pusher.push(last)
    with pytest.raises(PusherError, match="last chunk was pushed already"):
        pusher.push(first)  # refused, and its bytes and queue slot are given back
    stats = pusher.statistics()
    assert (stats.bytes_in_flight, stats.chunks_queued, stats.chunks_in_flight) == (40, 1, 1)
    assert pusher.ack(last) is True
    pusher.forget(info("a.csv"))  # a no-op for a done file
    pusher.push(first)
    pusher.push(last)
    assert pusher.statistics().bytes_in_flight == 70
    assert pusher.ack(first) is False
    assert pusher.ack(last) is True
    with pytest.raises(PusherError, match=r"'a.csv' at offset rows=6 byte=42, the last chunk"):
        pusher.ack(last)
    stats = pusher.statistics()
    assert (stats.bytes_in_flight, stats.files_in_work, stats.files) == (0, 0, ())
    assert pusher.close(JOIN)
