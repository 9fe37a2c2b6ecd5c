"""Routing a run's bad rows by policy, and publishing each file's dead letter with the file.

Per file: ``open`` (before reading) gives the callback the reader reports to; ``flush``
(between chunks, on the reading thread) writes what was reported so far; ``commit`` (after the
last chunk, just before the file's own output is committed) publishes the dead-letter object;
``abort`` drops it. Memory holds only the bad rows reported since the last flush.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from replicator.deadletter.policy import BadRowPolicy
from replicator.deadletter.records import dead_letter_key, to_batch
from replicator.model import Chunk, FileInfo, Offset
from replicator.readers.badrows import BadRow, OnBadRow
from replicator.sinks.base import Sink


@dataclass(frozen=True, slots=True)
class Lettered:
    """The bad rows of one file: how many, and the dead-letter object written (if any)."""

    count: int = 0
    outputs: tuple[str, ...] = ()


@dataclass
class _FileLetters:
    """Bad rows of one file in work. ``lock`` orders the reader's reports against the commit."""

    file: FileInfo
    letter: FileInfo
    pending: list[BadRow] = field(default_factory=list)
    count: int = 0
    written: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def report(self, row: BadRow) -> None:
        with self.lock:
            self.pending.append(row)
            self.count += 1


class DeadLetter:
    """Bad rows of every file of a run. Thread-safe across files.

    ``sink`` writes the dead letters (a files sink writing jsonl under the dead-letter URL); it
    is used only with the ``dead-letter`` policy.
    """

    def __init__(self, policy: BadRowPolicy, sink: Sink | None = None) -> None:
        if policy == "dead-letter" and sink is None:
            raise ValueError("the dead-letter policy needs a sink to write to")
        self.policy = policy
        self.sink = sink if policy == "dead-letter" else None
        self._files: dict[str, _FileLetters] = {}
        self._lock = threading.Lock()

    def open(self, file: FileInfo) -> OnBadRow | None:
        """The callback for ``file``'s reader, or ``None`` when a bad row fails the file."""
        if self.policy == "fail":
            return None
        letters = _FileLetters(file, _letter_file(file))
        with self._lock:
            stale = self._files.get(file.key)
            self._files[file.key] = letters
        if stale is not None:
            self._discard(stale)
        return letters.report

    def flush(self, file: FileInfo) -> None:
        """Write the bad rows reported so far. Blocks until the sink holds them."""
        letters = self._get(file)
        if letters is None or self.sink is None:
            return
        with letters.lock:
            self._write(letters, completed=False)

    def commit(self, file: FileInfo) -> Lettered:
        """Publish ``file``'s dead letter (when it has bad rows) and forget the file. Blocks."""
        with self._lock:
            letters = self._files.pop(file.key, None)
        if letters is None:
            return Lettered()
        with letters.lock:
            if self.sink is None or letters.count == 0:
                return Lettered(letters.count)
            self._write(letters, completed=True)
            committed = self.sink.commit(letters.letter)
            return Lettered(letters.count, committed.outputs)

    def abort(self, file: FileInfo) -> None:
        """Drop ``file``'s unpublished dead letter. Never raises for a file not open."""
        with self._lock:
            letters = self._files.pop(file.key, None)
        if letters is not None:
            self._discard(letters)

    def close(self) -> None:
        """Drop every unpublished dead letter and release the sink."""
        with self._lock:
            open_files = list(self._files.values())
            self._files.clear()
        for letters in open_files:
            letters.pending = []
        if self.sink is not None:
            self.sink.close()

    def _get(self, file: FileInfo) -> _FileLetters | None:
        with self._lock:
            return self._files.get(file.key)

    def _write(self, letters: _FileLetters, *, completed: bool) -> None:
        assert self.sink is not None
        if not letters.pending and not completed:
            return
        # Arrow reports a block's bad rows by kind, not in file order; within what is pending,
        # put them back in order.
        rows = sorted(letters.pending, key=lambda r: (r.line or 0, r.byte or 0))
        letters.pending = []
        letters.written += len(rows)
        chunk = Chunk(
            file=letters.letter,
            offset=Offset(letters.written),
            items=to_batch(letters.file, rows),
            completed=completed,
        )
        self.sink.write(chunk)

    def _discard(self, letters: _FileLetters) -> None:
        with letters.lock:
            letters.pending = []
            if self.sink is not None:
                self.sink.abort(letters.letter)


def _letter_file(file: FileInfo) -> FileInfo:
    return FileInfo(
        path=file.path,
        key=dead_letter_key(file.key),
        size=file.size,
        etag=file.etag,
        mtime=file.mtime,
    )
