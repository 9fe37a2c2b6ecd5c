"""The watermark rule that keeps polling state bounded."""

from __future__ import annotations

from pathlib import Path

from replicator.checkpoint.base import FileRecord
from replicator.checkpoint.ledger import Ledger
from replicator.checkpoint.sqlite import SqliteCheckpointStore
from replicator.model import FileInfo


def _file(key: str, mtime: float, etag: str = "e1") -> FileInfo:
    return FileInfo(path=key, key=key, size=10, etag=etag, mtime=mtime)


def _completed(file: FileInfo) -> FileRecord:
    return FileRecord(file.key, file.etag, file.size, file.mtime, "completed", rows=1)


def test_watermark_compaction_and_late_files(tmp_path: Path) -> None:
    store = SqliteCheckpointStore(tmp_path / "s.db", "p")
    ledger = Ledger(store, overlap=100.0)
    old = [_file(f"old{i}", 1000.0 + i) for i in range(5)]
    todo, done = ledger.split(old)
    assert (todo, done) == (old, [])
    store.record_completed([_completed(f) for f in old])
    assert ledger.advance(old, not_done=[]) == 1004.0

    # Much later: new files; the old ones fall behind the watermark and are compacted away.
    new = [_file(f"new{i}", 2000.0 + i) for i in range(3)]
    store.record_completed([_completed(f) for f in new])
    ledger.advance([*old, *new], not_done=[])
    assert ledger.watermark == 2002.0
    assert ledger.compact() == 5
    assert {r.key for r in store.list()} == {"new0", "new1", "new2"}
    todo, done = ledger.split([*old, *new])
    assert todo == []
    assert sorted(f.key for f in done) == sorted(f.key for f in [*old, *new])

    # A file that shows up late, with an mtime inside the overlap window, is still picked up.
    late = _file("late", 1950.0)
    todo, _ = ledger.split([*old, *new, late])
    assert todo == [late]
    # One older than the window is taken as done: the documented limit of the rule.
    too_late = _file("too-late", 1800.0)
    assert ledger.split([too_late])[0] == []
    # An overwritten file (new etag, new mtime) is replicated again.
    rewritten = _file("new1", 2100.0, etag="e2")
    assert ledger.split([rewritten])[0] == [rewritten]

    # A reopened ledger keeps the watermark; it never moves back.
    again = Ledger(store, overlap=100.0)
    assert again.watermark == 2002.0
    assert again.advance([_file("x", 1500.0)], not_done=[_file("x", 1500.0)]) == 2002.0
    store.close()


def test_files_not_done_hold_the_watermark_and_failures_stay(tmp_path: Path) -> None:
    store = SqliteCheckpointStore(tmp_path / "s.db", "p")
    ledger = Ledger(store, overlap=10.0)
    a, b, c = _file("a", 100.0), _file("b", 200.0), _file("c", 300.0)
    store.record_completed([_completed(a), _completed(c)])
    assert ledger.advance([a, b, c], not_done=[b]) == 200.0
    store.record_failed(FileRecord("b", "e1", 10, 200.0, "failed", error="boom"))
    ledger.advance([a, b, c], not_done=[])
    assert ledger.watermark == 300.0
    ledger.compact()
    # The failure is kept and the file is still to do, though it is behind the watermark.
    assert [r.key for r in store.list()] == ["b", "c"]
    assert ledger.split([a, b, c])[0] == [b]
    store.close()
