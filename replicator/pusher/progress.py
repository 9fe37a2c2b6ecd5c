"""Per-file progress of pushed chunks: what is in flight, what is acked, and when a file is done.

A file is done when its last chunk was pushed and every chunk of it is acked. Offsets of one file
grow, so the acked part is summed up by ``safe_offset``: the end of the contiguous acked prefix,
below which nothing is in flight (where a resume may start).

Neither class here is thread-safe: the pusher serialises calls under its own lock.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

from replicator.errors import PusherError
from replicator.model import Chunk, FileInfo, Offset

# A chunk is named by its offset and its completed flag: an empty last chunk ends where the
# chunk before it ended, so the offset alone is not unique.
_Key = tuple[Offset, bool]


class FileState(enum.Enum):
    IN_WORK = "in work"
    DONE = "done"
    FAILED = "failed"
    DROPPED = "dropped"  # cancelled with chunks in flight; never done


@dataclass(frozen=True, slots=True)
class FileStatistics:
    """A snapshot of one file's progress, for progress displays."""

    file: FileInfo
    state: FileState
    chunks_in_flight: int
    bytes_in_flight: int
    rows_acked: int
    bytes_acked: int
    last_pushed: bool
    safe_offset: Offset | None


@dataclass(slots=True)
class _Entry:
    size: int
    rows: int
    acked: bool = False


def describe(chunk: Chunk) -> str:
    """How errors name a chunk: its file key and offset."""
    offset = chunk.offset
    last = ", the last chunk" if chunk.completed else ""
    return f"the chunk of {chunk.file.key!r} at offset rows={offset.rows} byte={offset.byte}{last}"


def _position(chunk: Chunk) -> tuple[int, int, bool]:
    # Offsets of one file all carry a byte position or none do; None sorts first so that a mix
    # is still comparable instead of raising TypeError.
    byte = -1 if chunk.offset.byte is None else chunk.offset.byte
    return (chunk.offset.rows, byte, chunk.completed)


def _error(chunk: Chunk, problem: str) -> PusherError:
    return PusherError(
        f"cannot {problem}; this is a bug in the caller of the pusher, please report it",
        key=chunk.file.key,
        offset=chunk.offset,
    )


class FileProgress:
    """The chunks of one file pushed and not yet acked, in push order, and what was acked."""

    def __init__(self, file: FileInfo) -> None:
        self.file = file
        self.state = FileState.IN_WORK
        self.error: BaseException | None = None
        self.last_pushed = False
        self.safe_offset: Offset | None = None
        self.rows_acked = 0
        self.bytes_acked = 0
        self._entries: OrderedDict[_Key, _Entry] = (
            OrderedDict()
        )  # pushed, not yet in the acked prefix
        self._previous: tuple[int, int, bool] | None = None
        self._chunks_in_flight = 0
        self._bytes_in_flight = 0

    @property
    def chunks_in_flight(self) -> int:
        return self._chunks_in_flight

    @property
    def bytes_in_flight(self) -> int:
        return self._bytes_in_flight

    def push(self, chunk: Chunk) -> None:
        """Register ``chunk`` as in flight: in offset order, once each, none after the last."""
        self._check_file(chunk)
        if self.state is not FileState.IN_WORK:
            raise _error(chunk, f"push {describe(chunk)}: the file is {self.state.value}")
        if self.last_pushed:
            raise _error(chunk, f"push {describe(chunk)}: the file's last chunk was pushed already")
        position = _position(chunk)
        if self._previous is not None and position <= self._previous:
            raise _error(
                chunk, f"push {describe(chunk)}: it does not come after the previous chunk"
            )
        self._previous = position
        self._entries[(chunk.offset, chunk.completed)] = _Entry(chunk.size, chunk.rows)
        self._chunks_in_flight += 1
        self._bytes_in_flight += chunk.size
        self.last_pushed = chunk.completed

    def holds(self, chunk: Chunk) -> bool:
        """Whether ``chunk`` is in flight here (pushed, not acked, not dropped)."""
        entry = self._entries.get((chunk.offset, chunk.completed))
        return entry is not None and not entry.acked and entry.size == chunk.size

    def ack(self, chunk: Chunk) -> bool:
        """Mark ``chunk`` acked, in any order. True exactly when this ack makes the file done."""
        self._check_file(chunk)
        entry = self._entries.get((chunk.offset, chunk.completed))
        if entry is not None and entry.acked:
            raise _error(chunk, f"ack {describe(chunk)}: it was acked already")
        if entry is None:
            state = "" if self.state is FileState.IN_WORK else f" (the file is {self.state.value})"
            raise _error(chunk, f"ack {describe(chunk)}: it is not in flight{state}")
        if entry.size != chunk.size:
            raise _error(chunk, f"ack {describe(chunk)}: it was pushed with size {entry.size}")
        entry.acked = True
        self._chunks_in_flight -= 1
        self._bytes_in_flight -= entry.size
        self.rows_acked += entry.rows
        self.bytes_acked += entry.size
        while self._entries:
            key, head = next(iter(self._entries.items()))
            if not head.acked:
                break
            del self._entries[key]
            self.safe_offset = key[0]
        if self.last_pushed and not self._entries:
            self.state = FileState.DONE
            return True
        return False

    def drop(self, state: FileState, error: BaseException | None = None) -> int:
        """Forget the chunks in flight; the file can no longer be done. Returns their bytes."""
        if self.state is not FileState.IN_WORK:
            return 0
        released = self._bytes_in_flight
        self._entries.clear()
        self._chunks_in_flight = 0
        self._bytes_in_flight = 0
        self.state = state
        self.error = error
        return released

    def statistics(self) -> FileStatistics:
        return FileStatistics(
            file=self.file,
            state=self.state,
            chunks_in_flight=self._chunks_in_flight,
            bytes_in_flight=self._bytes_in_flight,
            rows_acked=self.rows_acked,
            bytes_acked=self.bytes_acked,
            last_pushed=self.last_pushed,
            safe_offset=self.safe_offset,
        )

    def _check_file(self, chunk: Chunk) -> None:
        if chunk.file != self.file:
            raise _error(chunk, f"use {describe(chunk)} with the progress of {self.file.key!r}")


class ProgressTracker:
    """The progress of every file with chunks in work, keyed by ``FileInfo`` (one version of a key).

    A done file is forgotten at once, so memory stays bounded by the files in work; pushing it
    again starts it afresh. Failed and dropped files stay until ``forget``.
    """

    def __init__(self) -> None:
        self._files: dict[FileInfo, FileProgress] = {}

    def __iter__(self) -> Iterator[FileProgress]:
        return iter(self._files.values())

    def __len__(self) -> int:
        return len(self._files)

    def get(self, file: FileInfo) -> FileProgress | None:
        return self._files.get(file)

    @property
    def chunks_in_flight(self) -> int:
        return sum(progress.chunks_in_flight for progress in self._files.values())

    @property
    def bytes_in_flight(self) -> int:
        return sum(progress.bytes_in_flight for progress in self._files.values())

    def push(self, chunk: Chunk) -> FileProgress:
        """Register ``chunk`` in its file's progress (made on its first chunk) and return it."""
        progress = self._files.get(chunk.file) or FileProgress(chunk.file)
        progress.push(chunk)
        self._files[chunk.file] = progress
        return progress

    def ack(self, chunk: Chunk) -> bool:
        """Mark ``chunk`` acked. True exactly when its file is now done (and then forgotten)."""
        progress = self._files.get(chunk.file)
        if progress is None:
            raise _error(chunk, f"ack {describe(chunk)}: no chunk of that file is in flight")
        done = progress.ack(chunk)
        if done:
            del self._files[chunk.file]
        return done

    def fail(self, file: FileInfo, error: BaseException) -> int:
        """Mark ``file`` failed and drop its chunks in flight. Returns their bytes."""
        progress = self._files.get(file)
        return 0 if progress is None else progress.drop(FileState.FAILED, error)

    def drop_all(self) -> int:
        """Drop the chunks in flight of every file (cancellation). Returns their bytes."""
        return sum(progress.drop(FileState.DROPPED) for progress in self._files.values())

    def forget(self, file: FileInfo) -> None:
        """Drop the record of a failed or dropped file, so it may be pushed again."""
        progress = self._files.get(file)
        if progress is not None and progress.state is FileState.IN_WORK:
            raise PusherError(
                f"cannot forget {file.key!r}: it is still in work; wait until it is done or failed",
                key=file.key,
            )
        self._files.pop(file, None)
